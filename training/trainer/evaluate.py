"""Greedy generation on the hold-out split, with the adapter and with the base model alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from governance.choices import RecordSplit
from governance.models import DatasetVersion
from training.trainer.data import encode, read_split, reference_answer
from training.trainer.runtime import Runtime

BATCH_SIZE = 8


@dataclass(frozen=True)
class HoldoutSet:
    """Prompts and reference answers of the hold-out records that fit the context."""

    prompts: list[list[int]]
    references: list[str]
    hashes: list[str]
    skipped: int


def holdout_set(tokenizer: Any, version: DatasetVersion, *, max_prompt: int, limit: int) -> HoldoutSet:
    prompts: list[list[int]] = []
    references: list[str] = []
    hashes: list[str] = []
    skipped = 0
    for stored in read_split(version, RecordSplit.HOLDOUT):
        if len(prompts) >= limit:
            break
        example = encode(tokenizer, stored)
        if len(example.prompt_ids) > max_prompt:
            skipped += 1
            continue
        prompts.append(example.prompt_ids)
        references.append(reference_answer(stored))
        hashes.append(stored.sha256)
    return HoldoutSet(prompts, references, hashes, skipped)


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    runtime: Runtime,
    *,
    max_new_tokens: int,
    on_batch: Callable[[], None] | None = None,
) -> list[str]:
    """Greedy answers, batched with left padding so every prompt ends where generation starts."""
    import torch

    answers: list[str] = []
    pad_id = tokenizer.pad_token_id
    model.eval()
    for start in range(0, len(prompts), BATCH_SIZE):
        batch = prompts[start : start + BATCH_SIZE]
        width = max(len(p) for p in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, prompt in enumerate(batch):
            ids[row, width - len(prompt) :] = torch.tensor(prompt)
            mask[row, width - len(prompt) :] = 1
        with (
            torch.inference_mode(),
            torch.autocast(
                device_type=runtime.device.type,
                dtype=runtime.autocast_dtype,
                enabled=runtime.autocast_dtype is not None,
            ),
        ):
            output = model.generate(
                input_ids=ids.to(runtime.device),
                attention_mask=mask.to(runtime.device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad_id,
                eos_token_id=tokenizer.eos_token_id,
                use_cache=True,
            )
        for row in output[:, width:]:
            answers.append(tokenizer.decode(row, skip_special_tokens=True).strip())
        if on_batch is not None:
            on_batch()
    return answers
