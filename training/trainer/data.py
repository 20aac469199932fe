"""Training and evaluation examples from a dataset version's stored JSONL, read at recorded byte offsets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from governance.choices import RecordSplit
from governance.models import DatasetRecord, DatasetVersion
from governance.services.datasets import dataset_version_path

# Used when a tokenizer brings no chat template (many base, non-instruct checkpoints).
FALLBACK_HEADERS = {"system": "### System:\n", "user": "### User:\n", "assistant": "### Assistant:\n"}


class DataError(Exception):
    """The stored dataset does not match its register entry; the message is safe to store."""


@dataclass(frozen=True)
class StoredRecord:
    """One record as read from the file, with the sha256 of the exact bytes read."""

    ordinal: int
    sha256: str
    record: dict[str, Any]


@dataclass(frozen=True)
class Example:
    """Token ids of a prompt and its answer; loss is taken on the answer only."""

    ordinal: int
    sha256: str
    prompt_ids: list[int]
    answer_ids: list[int]

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.answer_ids)


def read_split(version: DatasetVersion, split: str) -> Iterator[StoredRecord]:
    """Records of one split, in ordinal order; each line's hash is checked against its register row."""
    rows = (
        DatasetRecord.objects.filter(version=version, split=split)
        .order_by("ordinal")
        .values_list("ordinal", "sha256", "byte_offset")
    )
    with dataset_version_path(version).open("rb") as handle:
        for ordinal, expected, offset in rows.iterator(chunk_size=5000):
            handle.seek(offset)
            line = handle.readline().rstrip(b"\n")
            digest = hashlib.sha256(line).hexdigest()
            if digest != expected:
                raise DataError(f"record {ordinal} of dataset version {version.pk} does not match its sha256")
            yield StoredRecord(ordinal=ordinal, sha256=digest, record=json.loads(line))


def messages_of(record: dict[str, Any]) -> list[dict[str, str]]:
    """input/output pairs become a user turn and an assistant turn; chat records are used as they are."""
    if "messages" in record:
        return list(record["messages"])
    return [{"role": "user", "content": record["input"]}, {"role": "assistant", "content": record["output"]}]


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The text the model sees before its answer: the chat template, or a plain fallback."""
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    parts = [f"{FALLBACK_HEADERS[m['role']]}{m['content']}\n\n" for m in messages]
    bos = tokenizer.bos_token or ""
    return bos + "".join(parts) + FALLBACK_HEADERS["assistant"]


def encode(tokenizer: Any, stored: StoredRecord) -> Example:
    messages = messages_of(stored.record)
    prompt = render_prompt(tokenizer, messages[:-1])
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        answer_ids = [*answer_ids, tokenizer.eos_token_id]  # teaches the model to stop
    return Example(stored.ordinal, stored.sha256, list(prompt_ids), list(answer_ids))


def reference_answer(stored: StoredRecord) -> str:
    return str(messages_of(stored.record)[-1]["content"])


def build_examples(
    tokenizer: Any, version: DatasetVersion, *, max_seq_length: int
) -> tuple[list[Example], int]:
    """Train-split examples that fit max_seq_length, and how many were too long (skipped, not truncated)."""
    kept: list[Example] = []
    too_long = 0
    for stored in read_split(version, RecordSplit.TRAIN):
        example = encode(tokenizer, stored)
        if example.length > max_seq_length:
            too_long += 1
        else:
            kept.append(example)
    return kept, too_long


def count_too_long(tokenizer: Any, version: DatasetVersion, *, max_seq_length: int) -> tuple[int, int]:
    """(train records, train records longer than max_seq_length) for the creation gate."""
    total = too_long = 0
    for stored in read_split(version, RecordSplit.TRAIN):
        total += 1
        too_long += encode(tokenizer, stored).length > max_seq_length
    return total, too_long


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # batches need a pad id; padded positions are masked
    return tokenizer
