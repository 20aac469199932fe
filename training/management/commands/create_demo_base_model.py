"""Build the tiny demo causal LM under .data/models/<name> and optionally register it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from training import conf
from training.demo import build_demo_model
from training.models import BaseModel
from training.services import base_models


class Command(BaseCommand):
    help = "Create a tiny causal LM (a few million parameters) with a locally trained tokenizer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default="demo-tiny-llama")
        parser.add_argument("--path", help="target directory (default: TRAINING_MODELS_ROOT/<name>)")
        parser.add_argument("--overwrite", action="store_true")
        parser.add_argument("--register", action="store_true", help="also register it as a BaseModel")

    def handle(
        self, *args: Any, name: str, path: str | None, overwrite: bool, register: bool, **opts: Any
    ) -> None:
        target = Path(path).resolve() if path else conf.models_root() / name
        if target.exists() and not overwrite:
            self.stdout.write(f"{target} exists (use --overwrite to rebuild)")
        else:
            build_demo_model(target, overwrite=overwrite)
            self.stdout.write(f"built {target}")
        if register:
            existing = BaseModel.objects.filter(name=name).first()
            if existing is not None and Path(existing.path).resolve() == target:
                self.stdout.write(f"base model {existing.pk} '{name}' is already registered")
                return  # `make run` calls this on every start
            if existing is not None:
                raise CommandError(f"a base model named '{name}' is already registered at another path")
            model = base_models.base_model_register(
                actor=None, name=name, path=str(target), licence="demo weights, no restrictions"
            )
            model = base_models.base_model_compute_manifest(base_model_id=model.pk)
            self.stdout.write(
                f"registered base model {model.pk}: {model.architecture}, "
                f"{model.parameter_count} parameters, manifest {model.status}"
            )
