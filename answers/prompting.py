"""Prompt templates: `{question}` and `{context}` are the only placeholders, checked when saved.

The filled template becomes the user turn of a chat; the base model's chat template (or the plain
fallback the fine-tune trained with, training/trainer/data.py) renders it, locally and on an
OpenAI-compatible server alike, so the adapter sees answers framed the way it learnt them.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence
from typing import Any

from governance.errors import ValidationFailed

PLACEHOLDERS = frozenset({"question", "context"})
MAX_TEMPLATE_CHARS = 20_000

DEFAULT_TEMPLATE = (
    "Answer the question using only the numbered fragments below, and cite them as [1], [2].\n"
    "If they do not contain the answer, say so.\n\n"
    "Fragments:\n{context}\n\n"
    "Question: {question}"
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate_template(text: Any) -> str:
    """The template, or a 400 naming what is wrong: unknown or malformed placeholders, no question."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed(
            "the template must not be empty", code="empty_template", details={"field": "text"}
        )
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ValidationFailed(
            f"the template is longer than {MAX_TEMPLATE_CHARS} characters",
            code="template_too_long",
            details={"field": "text", "max": MAX_TEMPLATE_CHARS},
        )
    try:
        fields = [
            (name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None
        ]
    except ValueError as exc:
        raise ValidationFailed(
            f"the template's braces do not pair up ({exc}); write a literal brace as {{{{ or }}}}",
            code="malformed_template",
            details={"field": "text"},
        ) from None
    unknown = sorted({name for name, spec, conv in fields if name not in PLACEHOLDERS or spec or conv})
    if unknown:
        raise ValidationFailed(
            f"unknown placeholder(s): {', '.join('{' + n + '}' for n in unknown)}; "
            "use only {question} and {context}",
            code="unknown_placeholder",
            details={"field": "text", "placeholders": unknown},
        )
    if "question" not in {name for name, _, _ in fields}:
        raise ValidationFailed(
            "the template must contain {question}", code="missing_placeholder", details={"field": "text"}
        )
    return text


def context_block(fragments: Sequence[dict[str, Any]]) -> str:
    """The fragments as the model sees them: numbered, with their source, in rank order."""
    lines = []
    for number, fragment in enumerate(fragments, start=1):
        citation = fragment["citation"]
        label = citation.get("title") or citation.get("external_id") or f"document {citation['document_id']}"
        lines.append(f"[{number}] ({label}) {fragment['text'].strip()}")
    return "\n".join(lines)


def fill(template: str, *, question: str, fragments: Sequence[dict[str, Any]]) -> str:
    """The user turn: the template with the question and the fragments put in (never re-parsed)."""
    return template.format_map({"question": question.strip(), "context": context_block(fragments)})
