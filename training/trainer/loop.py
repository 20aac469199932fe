"""The LoRA training loop: a plain PyTorch loop, resumable from its last checkpoint, cancellable per step.

It knows nothing of the database: the job service passes a Reporter that records events, answers
whether the job was cancelled and writes nothing while a step runs.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from training.trainer import checkpoint
from training.trainer.data import Example
from training.trainer.runtime import Runtime

COMPLETE_MARKER = "COMPLETE"
MANIFEST_NAME = "training_manifest.json"


class Reporter(Protocol):
    """What the loop tells its job and asks of it."""

    def started(self, *, total_steps: int, examples: int, resumed_from: int | None) -> None: ...

    def progress(
        self,
        *,
        step: int,
        total_steps: int,
        loss: float,
        learning_rate: float,
        tokens_per_s: float,
        tokens: int,
        seconds: float,
    ) -> None: ...

    def checkpointed(self, *, step: int) -> None: ...

    def cancelled(self) -> bool: ...

    def before_step(self, step: int) -> None: ...


@dataclass
class TrainSpec:
    """Everything a run needs besides the model itself."""

    model_path: str
    hyperparameters: dict[str, Any]
    seed: int
    work_dir: Path
    output_dir: Path
    event_every: int
    checkpoint_every: int
    extra_manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What a finished run produced."""

    output_dir: Path
    steps: int
    tokens: int
    seconds: float
    trainable_parameters: int
    total_parameters: int
    lora_config: dict[str, Any]
    final_loss: float | None
    model: Any = None  # the trained PeftModel, kept for evaluation in the same process


def load_base_model(path: str, runtime: Runtime, *, qlora: bool) -> Any:
    """The base model from its local directory only; 4-bit on CUDA for QLoRA."""
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False, "dtype": runtime.dtype}
    if qlora:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=runtime.autocast_dtype,
        )
    if runtime.is_cuda:
        kwargs["device_map"] = {"": runtime.device.index or 0}  # straight to the GPU, no CPU copy
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if not runtime.is_cuda:
        model.to(runtime.device)
    if qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    model.config.use_cache = False
    return model


def lora_model(model: Any, hp: dict[str, Any]) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=hp["rank"],
        lora_alpha=hp["alpha"],
        lora_dropout=hp["dropout"],
        target_modules=hp["target_modules"],
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def collate(batch: Sequence[Example], pad_id: int, device: Any) -> dict[str, Any]:
    """Right-padded ids; labels are -100 on prompt tokens and padding so loss is on answers only."""
    import torch

    width = max(e.length for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        full = example.prompt_ids + example.answer_ids
        ids[row, : len(full)] = torch.tensor(full)
        labels[row, len(example.prompt_ids) : len(full)] = torch.tensor(example.answer_ids)
        mask[row, : len(full)] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def steps_per_epoch(n_examples: int, hp: dict[str, Any]) -> int:
    return math.ceil(n_examples / (hp["batch_size"] * hp["gradient_accumulation"]))


def step_examples(examples: Sequence[Example], step: int, hp: dict[str, Any], seed: int) -> list[Example]:
    """The examples of one optimizer step: a fixed, seeded order per epoch, so a resume sees the same data."""
    import torch

    per_epoch = steps_per_epoch(len(examples), hp)
    epoch, index = divmod(step, per_epoch)
    generator = torch.Generator().manual_seed(seed * 1000 + epoch)
    order = torch.randperm(len(examples), generator=generator).tolist()
    size = hp["batch_size"] * hp["gradient_accumulation"]
    return [examples[i] for i in order[index * size : (index + 1) * size]]


def train(
    spec: TrainSpec, examples: Sequence[Example], tokenizer: Any, runtime: Runtime, reporter: Reporter
) -> TrainResult | None:
    """Train (or resume) and save the adapter to spec.output_dir; None when the job was cancelled."""
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from transformers import get_linear_schedule_with_warmup

    hp = spec.hyperparameters
    seed_everything(spec.seed)
    model = lora_model(load_base_model(spec.model_path, runtime, qlora=hp["use_qlora"]), hp)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=hp["learning_rate"], weight_decay=0.0)
    total_steps = hp["epochs"] * steps_per_epoch(len(examples), hp)
    scheduler = get_linear_schedule_with_warmup(optimizer, min(hp["warmup_steps"], total_steps), total_steps)
    fp16 = runtime.is_cuda and runtime.autocast_dtype == torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=fp16)
    start, tokens, seconds = 0, 0, 0.0
    state = checkpoint.load_latest(spec.work_dir)
    if state is not None:
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        checkpoint.restore_rng(state["rng"])
        start, tokens, seconds = int(state["step"]), int(state["tokens"]), float(state["seconds"])
    reporter.started(total_steps=total_steps, examples=len(examples), resumed_from=start if state else None)
    pad_id = tokenizer.pad_token_id
    window_loss, window_steps, window_tokens, window_start = 0.0, 0, 0, time.perf_counter()
    last_loss: float | None = None
    for step in range(start, total_steps):
        if reporter.cancelled():
            shutil.rmtree(spec.work_dir, ignore_errors=True)
            return None
        reporter.before_step(step)
        started = time.perf_counter()
        loss_value, step_tokens = _optimizer_step(
            model,
            optimizer,
            scheduler,
            scaler,
            step_examples(examples, step, hp, spec.seed),
            hp,
            pad_id,
            runtime,
        )
        elapsed = time.perf_counter() - started
        tokens, seconds = tokens + step_tokens, seconds + elapsed
        window_loss, window_steps, window_tokens = (
            window_loss + loss_value,
            window_steps + 1,
            window_tokens + step_tokens,
        )
        last_loss, done = loss_value, step + 1
        if done % spec.event_every == 0 or done == total_steps:
            window_seconds = time.perf_counter() - window_start
            reporter.progress(
                step=done,
                total_steps=total_steps,
                loss=window_loss / window_steps,
                learning_rate=scheduler.get_last_lr()[0],
                tokens_per_s=window_tokens / max(window_seconds, 1e-9),
                tokens=tokens,
                seconds=seconds,
            )
            window_loss, window_steps, window_tokens, window_start = 0.0, 0, 0, time.perf_counter()
        if done % spec.checkpoint_every == 0 and done < total_steps:
            checkpoint.save(
                spec.work_dir,
                done,
                {
                    "step": done,
                    "tokens": tokens,
                    "seconds": seconds,
                    "adapter": get_peft_model_state_dict(model),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": checkpoint.rng_state(runtime.is_cuda),
                },
            )
            reporter.checkpointed(step=done)
            window_start = time.perf_counter()  # checkpoint I/O is reported apart from throughput
    trainable, total = model.get_nb_trainable_parameters()
    result = TrainResult(
        output_dir=spec.output_dir,
        steps=total_steps,
        tokens=tokens,
        seconds=seconds,
        trainable_parameters=int(trainable),
        total_parameters=int(total),
        lora_config=json.loads(json.dumps(model.peft_config["default"].to_dict(), default=_jsonable)),
        final_loss=last_loss,
        model=model,
    )
    _save_adapter(model, spec, examples, result)
    return result


def _optimizer_step(
    model: Any,
    optimizer: Any,
    scheduler: Any,
    scaler: Any,
    batch: list[Example],
    hp: dict[str, Any],
    pad_id: int,
    runtime: Runtime,
) -> tuple[float, int]:
    import torch

    size = hp["batch_size"]
    micro = [batch[i : i + size] for i in range(0, len(batch), size)]
    total_loss, total_tokens = 0.0, 0
    for part in micro:
        inputs = collate(part, pad_id, runtime.device)
        with torch.autocast(
            device_type=runtime.device.type,
            dtype=runtime.autocast_dtype,
            enabled=runtime.autocast_dtype is not None,
        ):
            loss = model(**inputs).loss / len(micro)
        scaler.scale(loss).backward()
        total_loss += float(loss.detach())
        total_tokens += int(inputs["attention_mask"].sum())
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return total_loss, total_tokens


def read_manifest(output_dir: Path) -> dict[str, Any] | None:
    """The manifest of a completely written adapter directory, or None."""
    if not (output_dir / COMPLETE_MARKER).is_file():
        return None
    manifest: dict[str, Any] = json.loads((output_dir / MANIFEST_NAME).read_text())
    return manifest


def _save_adapter(model: Any, spec: TrainSpec, examples: Sequence[Example], result: TrainResult) -> None:
    """Write the adapter and the list of record hashes it was trained on, then move it into place."""
    tmp = spec.output_dir.with_name(spec.output_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    (tmp / "README.md").unlink(missing_ok=True)  # peft's model card template: no facts, only placeholders
    manifest = {
        **spec.extra_manifest,
        "steps": result.steps,
        "tokens": result.tokens,
        "train_seconds": result.seconds,
        "final_loss": result.final_loss,
        "trainable_parameters": result.trainable_parameters,
        "total_parameters": result.total_parameters,
        "lora_config": result.lora_config,
        "trained_record_count": len(examples),
        # sha256 of the exact bytes each trained record was read from: the proof of what went in.
        "trained_record_sha256": sorted({e.sha256 for e in examples}),
    }
    (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    (tmp / COMPLETE_MARKER).write_text("ok\n")
    shutil.rmtree(spec.output_dir, ignore_errors=True)
    tmp.rename(spec.output_dir)
    shutil.rmtree(spec.work_dir, ignore_errors=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)
