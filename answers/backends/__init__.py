"""Where answers are generated: `local` (transformers + peft in this process) or `openai_compatible`.

A backend takes the deployment and the chat messages and returns the generated text; it never sees
the question outside the prompt, never logs it, and raises `InferenceError` (HTTP 502/503 with a code)
when it cannot answer, so no failed generation is ever recorded as an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.choices import AnswerBackend
from governance.errors import DomainError


class InferenceError(DomainError):
    """The inference backend failed: timed out, answered 5xx or malformed, or is switched off."""

    status = 502
    code = "inference_failed"


class InferenceUnavailable(InferenceError):
    """The circuit breaker is open: the server failed repeatedly and is left alone for a while."""

    status = 503
    code = "inference_unavailable"


@dataclass(frozen=True)
class Generation:
    text: str
    tokens: int
    prompt_tokens: int


def generate(deployment: Any, messages: list[dict[str, str]], *, max_new_tokens: int) -> Generation:
    if deployment.answer_backend == AnswerBackend.OPENAI_COMPATIBLE:
        from answers.backends import openai_compatible

        return openai_compatible.generate(deployment, messages, max_new_tokens=max_new_tokens)
    from answers.backends import local

    return local.generate(deployment, messages, max_new_tokens=max_new_tokens)
