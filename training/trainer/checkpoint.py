"""Checkpoints: adapter weights, optimizer, scheduler, RNG state and step, written atomically."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

LATEST = "latest"
KEEP = 2


def save(work_dir: Path, step: int, state: dict[str, Any]) -> Path:
    """Write checkpoint-<step>.pt, then point `latest` at it; a kill mid-write leaves the old one valid."""
    import torch

    work_dir.mkdir(parents=True, exist_ok=True)
    target = work_dir / f"checkpoint-{step:08d}.pt"
    tmp = target.with_suffix(".tmp")
    torch.save(state, tmp)
    _fsync(tmp)
    os.replace(tmp, target)
    pointer = work_dir / f"{LATEST}.tmp"
    pointer.write_text(target.name)
    _fsync(pointer)
    os.replace(pointer, work_dir / LATEST)
    for old in sorted(work_dir.glob("checkpoint-*.pt"))[:-KEEP]:
        old.unlink(missing_ok=True)
    return target


def load_latest(work_dir: Path) -> dict[str, Any] | None:
    import torch

    pointer = work_dir / LATEST
    if not pointer.is_file():
        return None
    path = work_dir / pointer.read_text().strip()
    if not path.is_file():
        return None
    # weights_only: a checkpoint is data, never code, even though only this platform writes it.
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def rng_state(cuda: bool) -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if cuda:
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
