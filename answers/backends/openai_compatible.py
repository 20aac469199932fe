"""The `openai_compatible` backend: an inference server that serves LoRA adapters by name (vLLM).

POST {inference_url}/v1/chat/completions with the adapter's served name as `model` (vLLM's
`--lora-modules name=path`), greedy (`temperature` 0). Each call has a timeout
(`ANSWER_HTTP_TIMEOUT_S`: for the connection, for the answer to start, and for the whole body, so a
server that trickles bytes cannot hold an answer open); a 5xx or a connection error is retried
(`ANSWER_HTTP_RETRIES`, with a short back-off); a 4xx, a redirect, a timeout or a malformed answer
(not HTTP, not JSON, not a chat completion) is not. After `ANSWER_BREAKER_FAILURES` failed answers in
a row the circuit opens: for `ANSWER_BREAKER_RESET_S` the server is not called and answers are refused
at once (503 `inference_unavailable`); then one trial call decides (the others are still refused while
it runs): a success closes the circuit, a failure opens it again. The breaker lives in this process
(each web worker keeps its own).

answers/serving.py (`manage.py serve_completions`) is a small server of this API for trying the
backend without vLLM; the tests answer through it.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from answers.backends import Generation, InferenceError, InferenceUnavailable


@dataclass
class Breaker:
    failures: int = 0
    open_until: float = 0.0


_breakers: dict[str, Breaker] = {}
_lock = threading.Lock()


def served_name(deployment: Any) -> str:
    """The model name the server knows: set on the deployment, else the adapter's, else the base model's."""
    if deployment.inference_model:
        return str(deployment.inference_model)
    if deployment.adapter_version is not None:
        return str(deployment.adapter_version.name)
    return str(deployment.base_model.name)


def _before_call(url: str) -> None:
    """Refuse while the circuit is open; once it may close, let this call through as the one trial."""
    with _lock:
        breaker = _breakers.setdefault(url, Breaker())
        now = time.monotonic()
        if breaker.open_until > now:
            raise InferenceUnavailable(
                "the inference server failed repeatedly; answers are paused for a moment",
                details={"retry_after_s": round(breaker.open_until - now, 1)},
            )
        if breaker.failures >= settings.ANSWER_BREAKER_FAILURES:
            # Half-open: this call is the trial; others are refused until it succeeds or fails.
            breaker.open_until = now + settings.ANSWER_BREAKER_RESET_S


def _record(url: str, *, ok: bool) -> None:
    with _lock:
        breaker = _breakers.setdefault(url, Breaker())
        if ok:
            breaker.failures, breaker.open_until = 0, 0.0
            return
        breaker.failures += 1
        if breaker.failures >= settings.ANSWER_BREAKER_FAILURES:
            breaker.open_until = time.monotonic() + settings.ANSWER_BREAKER_RESET_S


def reset_breakers() -> None:
    with _lock:
        _breakers.clear()


class _Retry(Exception):
    """A failure worth another try (5xx, refused connection)."""

    def __init__(self, error: InferenceError) -> None:
        self.error = error


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer of its own (HTTP 3xx): urllib would repeat a POST as a GET elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _timeout() -> InferenceError:
    return InferenceError(
        f"the inference server did not answer within {settings.ANSWER_HTTP_TIMEOUT_S} s",
        code="inference_timeout",
    )


def _read_body(response: Any, deadline: float) -> bytes:
    """The body, at most ANSWER_HTTP_MAX_BYTES + 1 bytes, read before the deadline."""
    limit = settings.ANSWER_HTTP_MAX_BYTES + 1
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read1(min(65536, limit - size))  # one socket read: the deadline is checked often
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _call_once(endpoint: str, body: bytes) -> dict[str, Any]:
    timeout = settings.ANSWER_HTTP_TIMEOUT_S
    deadline = time.monotonic() + timeout
    headers = {"Content-Type": "application/json"}
    if settings.ANSWER_INFERENCE_API_KEY:  # vLLM's --api-key; never logged, never in an error
        headers["Authorization"] = f"Bearer {settings.ANSWER_INFERENCE_API_KEY}"
    request = urllib.request.Request(  # noqa: S310 - the URL is an officer-approved deployment setting
        endpoint, data=body, method="POST", headers=headers
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            raw = _read_body(response, deadline)
    except urllib.error.HTTPError as exc:
        exc.close()
        error = InferenceError(
            f"the inference server answered HTTP {exc.code}",
            code="inference_server_error",
            details={"status": exc.code},
        )
        if exc.code >= 500:
            raise _Retry(error) from None
        raise error from None
    except TimeoutError:
        raise _timeout() from None
    except (urllib.error.URLError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError | socket.timeout):
            raise _timeout() from None
        raise _Retry(
            InferenceError(
                f"the inference server could not be reached ({type(reason).__name__})",
                code="inference_unreachable",
            )
        ) from None
    except http.client.HTTPException as exc:  # not HTTP: a bad status line, a body cut short
        raise InferenceError(
            f"the inference server's answer is not valid HTTP ({type(exc).__name__})",
            code="inference_bad_response",
        ) from None
    except OSError as exc:  # the connection broke while the answer was read
        raise _Retry(
            InferenceError(
                f"the connection to the inference server failed ({type(exc).__name__})",
                code="inference_unreachable",
            )
        ) from None
    if len(raw) > settings.ANSWER_HTTP_MAX_BYTES:
        raise InferenceError("the inference server's answer is too large", code="inference_bad_response")
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        text = choice["message"]["content"]
        if not isinstance(text, str):
            raise TypeError("content")
        usage = data.get("usage") or {}
        return {
            "text": text,
            "tokens": int(usage.get("completion_tokens") or 0),
            "prompt_tokens": int(usage.get("prompt_tokens") or 0),
        }
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise InferenceError(
            "the inference server's answer is not an OpenAI chat completion", code="inference_bad_response"
        ) from None


def generate(deployment: Any, messages: list[dict[str, str]], *, max_new_tokens: int) -> Generation:
    base = (deployment.inference_url or "").strip().rstrip("/")
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise InferenceError(
            "the deployment has no http(s) URL of an inference server",
            code="inference_not_configured",
            details={"deployment": deployment.pk},
        )
    endpoint = f"{base}/v1/chat/completions"
    _before_call(base)
    body = json.dumps(
        {
            "model": served_name(deployment),
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": 0,
        }
    ).encode()
    attempts = 1 + max(0, settings.ANSWER_HTTP_RETRIES)
    for attempt in range(attempts):
        try:
            result = _call_once(endpoint, body)
        except _Retry as retry:
            if attempt + 1 < attempts:
                time.sleep(min(2.0, 0.2 * 2**attempt))
                continue
            _record(base, ok=False)
            raise retry.error from None
        except InferenceError:
            _record(base, ok=False)
            raise
        _record(base, ok=True)
        return Generation(
            text=result["text"].strip(), tokens=result["tokens"], prompt_tokens=result["prompt_tokens"]
        )
    raise AssertionError("unreachable")  # pragma: no cover
