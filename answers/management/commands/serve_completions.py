"""Serve a base model and LoRA adapters over an OpenAI-compatible API (answers/serving.py).

    manage.py serve_completions --base-model .data/models/demo-tiny-llama \
        --lora demo-tiny-llama-lora-job1=.data/training/jobs/1/adapter --port 8001

A deployment with `answer_backend=openai_compatible`, `inference_url=http://127.0.0.1:8001` and
`inference_model` set to the adapter's NAME (empty: the adapter's registered name) then answers through it.
"""

from __future__ import annotations

import argparse
import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from answers import serving


def _lora(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {value!r}")
    return name.strip(), path.strip()


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # leaves serve_forever; the finally below closes the socket


class Command(BaseCommand):
    help = (
        "Serve a base model and LoRA adapters on /v1/chat/completions, /v1/models and /health "
        "(greedy decoding, one generation at a time, no authentication: keep it on 127.0.0.1)."
    )
    # No system checks: they import the URLconf and every view; serving needs only the model files.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-model", required=True, help="the base model's directory")
        parser.add_argument(
            "--lora",
            action="append",
            default=[],
            type=_lora,
            metavar="NAME=PATH",
            help="an adapter directory served under NAME (repeatable), like vLLM's --lora-modules",
        )
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001, help="0 takes a free port (printed)")
        parser.add_argument(
            "--served-name",
            default="",
            help="the base model's name in requests (default: its directory's name)",
        )

    def handle(
        self,
        *args: Any,
        base_model: str,
        lora: list[tuple[str, str]],
        host: str,
        port: int,
        served_name: str,
        **options: Any,
    ) -> None:
        loras = dict(lora)
        if len(loras) != len(lora):
            raise CommandError("two --lora options share a name")
        try:
            models = serving.load_models(base_model, loras, served_name=served_name)
        except (OSError, ValueError) as exc:
            raise CommandError(f"the model could not be loaded: {exc}") from None
        try:
            server = serving.CompletionServer((host, port), models)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        signal.signal(signal.SIGTERM, _stop)
        self.stdout.write(
            f"serving {', '.join(models.names())} on http://{host}:{server.port} "
            f"({models.runtime.device}); Ctrl+C stops"
        )
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
