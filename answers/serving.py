"""A minimal OpenAI-compatible inference server: a base model and its LoRA adapters, served by name.

What the `openai_compatible` backend (answers/backends/openai_compatible.py) talks to, without vLLM:
`manage.py serve_completions --base-model PATH --lora NAME=PATH`. A request names the base model (its
served name) or an adapter (the NAME of `--lora NAME=PATH`, like vLLM's `--lora-modules`) as `model`.

It exists for two reasons: the tests run the remote answer path against a real server that loads the
tiny demo model, and an operator can try a deployment's `openai_compatible` backend on one machine.
It is no production server: one model load at start, one generation at a time (a lock), no
authentication (bind it to 127.0.0.1, the default), greedy decoding only (`temperature` and `top_p`
are accepted and ignored, so an answer can be reconstructed exactly).

The prompt is rendered exactly as the `local` backend renders it: the base model's chat template (or
the fine-tune's plain fallback) through training.trainer.data.render_prompt, tokenised without added
special tokens, decoded with special tokens skipped. The same question therefore gets the same answer
from either backend. Request and answer texts are never logged; the log has the request line only.

Endpoints: POST /v1/chat/completions, GET /v1/models, GET /health.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from training.trainer.data import load_tokenizer, render_prompt
from training.trainer.runtime import Runtime, select_runtime

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_TOKENS = 256  # when a request names none (and the context leaves room for that many)
ROLES = frozenset({"system", "user", "assistant"})


class RequestError(Exception):
    """A request the server refuses; becomes an OpenAI-shaped `{"error": {...}}` with its HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "code": self.code, "param": self.param}}


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


@dataclass
class ServedModels:
    """The base model with its adapters loaded once; generation is serialised by `lock`.

    peft keeps several adapters on one model and switches between them; the served names map to
    internal adapter names (`lora0`, `lora1`...) because peft's names may not contain dots.
    """

    base_name: str
    adapters: dict[str, str]  # served name -> peft adapter name
    model: Any
    tokenizer: Any
    runtime: Runtime
    context: int | None
    created: int = field(default_factory=lambda: int(time.time()))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def names(self) -> list[str]:
        return [self.base_name, *self.adapters]

    def listing(self) -> dict[str, Any]:
        """GET /v1/models: the base model, then each adapter with the base as its parent (as vLLM lists)."""
        data = [self._entry(self.base_name, None)]
        data += [self._entry(name, self.base_name) for name in self.adapters]
        return {"object": "list", "data": data}

    def _entry(self, name: str, parent: str | None) -> dict[str, Any]:
        return {
            "id": name,
            "object": "model",
            "created": self.created,
            "owned_by": "governance",
            "root": name,
            "parent": parent,
            "max_model_len": self.context,
        }

    def complete(self, name: str, messages: list[dict[str, str]], max_tokens: int | None) -> Completion:
        """Greedy generation for the named model; the prompt rendered as the local backend renders it."""
        import torch

        if name != self.base_name and name not in self.adapters:
            raise RequestError(
                HTTPStatus.NOT_FOUND,
                f"The model `{name}` does not exist.",
                code="model_not_found",
                param="model",
            )
        prompt = render_prompt(self.tokenizer, messages)
        ids = list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        context = self.context
        if max_tokens is None:  # vLLM fills the context; this server stops at DEFAULT_MAX_TOKENS
            max_tokens = (
                max(1, min(DEFAULT_MAX_TOKENS, context - len(ids))) if context else DEFAULT_MAX_TOKENS
            )
        if context and len(ids) + max_tokens > context:
            raise RequestError(
                HTTPStatus.BAD_REQUEST,
                f"This model's maximum context length is {context} tokens. However, you requested "
                f"{len(ids) + max_tokens} tokens ({len(ids)} in the messages, "
                f"{max_tokens} in the completion).",
                code="context_length_exceeded",
                param="max_tokens",
            )
        tokenizer = self.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        with self.lock, torch.inference_mode(), self._adapter(name):
            input_ids = torch.tensor([ids], dtype=torch.long, device=self.runtime.device)
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=pad,
            )
        new = output[0, len(ids) :].tolist()
        stopped = bool(new) and new[-1] == tokenizer.eos_token_id
        return Completion(
            text=tokenizer.decode(new, skip_special_tokens=True),
            prompt_tokens=len(ids),
            completion_tokens=len(new),
            finish_reason="stop" if stopped or len(new) < max_tokens else "length",
        )

    def _adapter(self, name: str) -> Any:
        """Switch to the named adapter, or switch adapters off for the base model (caller holds the lock)."""
        if not self.adapters:
            return nullcontext()
        if name == self.base_name:
            return self.model.disable_adapter()
        self.model.set_adapter(self.adapters[name])
        return nullcontext()


def load_models(
    base_model: str | Path, loras: Mapping[str, str | Path], *, served_name: str = ""
) -> ServedModels:
    """Load the base model (CUDA when present, else CPU) and every adapter onto it, once."""
    from training.trainer.loop import load_base_model

    base_path = Path(base_model)
    base_name = served_name or base_path.name
    if not (base_path / "config.json").is_file():
        raise ValueError(f"{base_path} is not a model directory (no config.json)")
    for name, path in loras.items():
        if not name or name == base_name:
            raise ValueError(f"adapter name '{name}' is empty or the base model's served name")
        if not (Path(path) / "adapter_config.json").is_file():
            raise ValueError(f"{path} is not a LoRA adapter directory (no adapter_config.json)")
    runtime = select_runtime()
    model = load_base_model(str(base_path), runtime, qlora=False)
    adapters: dict[str, str] = {}
    if loras:
        from peft import PeftModel

        for number, (name, path) in enumerate(loras.items()):
            internal = f"lora{number}"
            if number == 0:
                model = PeftModel.from_pretrained(model, str(path), adapter_name=internal, is_trainable=False)
            else:
                model.load_adapter(str(path), adapter_name=internal, is_trainable=False)
            adapters[name] = internal
    model.config.use_cache = True
    model.eval()
    context = getattr(model.config, "max_position_embeddings", None)
    return ServedModels(
        base_name=base_name,
        adapters=adapters,
        model=model,
        tokenizer=load_tokenizer(str(base_path)),
        runtime=runtime,
        context=int(context) if context else None,
    )


def _content(message: Any, index: int) -> dict[str, str]:
    """One chat message as render_prompt takes it; content may be a string or a list of text parts."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{where} must be an object", param=where)
    role, content = message.get("role"), message.get("content")
    if role not in ROLES:
        raise RequestError(
            HTTPStatus.BAD_REQUEST, f"{where}.role must be one of {sorted(ROLES)}", param=f"{where}.role"
        )
    if isinstance(content, list):
        if not all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            for p in content
        ):
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f"{where}.content: only text parts are supported", param=where
            )
        content = "".join(p["text"] for p in content)
    if not isinstance(content, str):
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{where}.content must be text", param=f"{where}.content")
    return {"role": role, "content": content}


def parse_request(body: Any) -> tuple[str, list[dict[str, str]], int | None]:
    """(model, messages, max_tokens) of a chat completion request, or a 400 naming the bad field."""
    if not isinstance(body, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(HTTPStatus.BAD_REQUEST, "model must be a non-empty string", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(HTTPStatus.BAD_REQUEST, "messages must be a non-empty list", param="messages")
    if body.get("stream"):
        raise RequestError(HTTPStatus.BAD_REQUEST, "streaming is not supported", param="stream")
    if body.get("n", 1) != 1:
        raise RequestError(HTTPStatus.BAD_REQUEST, "only n=1 is supported", param="n")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise RequestError(
            HTTPStatus.BAD_REQUEST, "max_tokens must be a positive integer", param="max_tokens"
        )
    return model, [_content(m, i) for i, m in enumerate(messages)], max_tokens


class Handler(BaseHTTPRequestHandler):
    """The three endpoints; every answer is JSON with a Content-Length (keep-alive works)."""

    server: CompletionServer
    protocol_version = "HTTP/1.1"
    server_version = "governance-completions/1"

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send(HTTPStatus.OK, {"status": "ok"})
        elif path == "/v1/models":
            self._send(HTTPStatus.OK, self.server.models.listing())
        else:
            self._error(RequestError(HTTPStatus.NOT_FOUND, f"no such endpoint: GET {path}", kind="not_found"))

    def do_POST(self) -> None:  # noqa: N802 - the http.server naming
        path = self.path.split("?", 1)[0].rstrip("/")
        if path != "/v1/chat/completions":
            self.close_connection = True  # the unread body would be taken for the next request
            self._error(
                RequestError(HTTPStatus.NOT_FOUND, f"no such endpoint: POST {path}", kind="not_found")
            )
            return
        try:
            model, messages, max_tokens = parse_request(self._read_json())
            completion = self.server.models.complete(model, messages, max_tokens)
        except RequestError as error:
            self._error(error)
            return
        except Exception as exc:  # the type only: a message could quote the prompt
            logger.error("chat completion failed: %s", type(exc).__name__)
            self._error(
                RequestError(
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    f"generation failed ({type(exc).__name__})",
                    kind="server_error",
                )
            )
            return
        self._send(HTTPStatus.OK, completion_body(model, completion))

    def _read_json(self) -> Any:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE if length > 0 else HTTPStatus.BAD_REQUEST,
                f"the body must be 0 to {MAX_BODY_BYTES} bytes",
            )
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body is not valid JSON") from None

    def _error(self, error: RequestError) -> None:
        self._send(error.status, error.body())

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (its timeout)
            self.close_connection = True
            logger.info("%s went away before the answer was sent", self.address_string())

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        logger.info("%s %s", self.address_string(), format % args)


def completion_body(model: str, completion: Completion) -> dict[str, Any]:
    """The OpenAI `chat.completion` object."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.text},
                "finish_reason": completion.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        },
    }


class CompletionServer(ThreadingHTTPServer):
    """The HTTP server holding the loaded models; handler threads die with the process."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], models: ServedModels) -> None:
        super().__init__(address, Handler)
        self.models = models

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        """Stop serving (from another thread than the one in serve_forever) and close the socket."""
        self.shutdown()
        self.server_close()


def serve_in_thread(
    models: ServedModels, *, host: str = "127.0.0.1", port: int = 0
) -> tuple[CompletionServer, int]:
    """Start serving in a daemon thread; (server, port). Port 0 takes a free one. `server.stop()` ends it."""
    server = CompletionServer((host, port), models)
    threading.Thread(target=server.serve_forever, name="completions-server", daemon=True).start()
    return server, server.port
