"""Training settings, read from Django settings (defaults live in governance/settings.py only)."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings


def artifacts_root() -> Path:
    """Where checkpoints and adapter files live (TRAINING_ARTIFACTS_ROOT)."""
    return Path(str(settings.TRAINING_ARTIFACTS_ROOT)).resolve()


def models_root() -> Path:
    """Where `create_demo_base_model` writes (TRAINING_MODELS_ROOT)."""
    return Path(str(settings.TRAINING_MODELS_ROOT)).resolve()


def base_model_roots() -> list[Path]:
    """Directories base models must live under (TRAINING_BASE_MODEL_ROOTS, ':'-separated); empty = any."""
    raw = str(settings.TRAINING_BASE_MODEL_ROOTS or "")
    return [Path(p).resolve() for p in raw.split(os.pathsep) if p]


def max_attempts() -> int:
    return int(settings.TRAINING_MAX_ATTEMPTS)


def event_every() -> int:
    return max(1, int(settings.TRAINING_EVENT_EVERY))


def checkpoint_every() -> int:
    return max(1, int(settings.TRAINING_CHECKPOINT_EVERY))


def eval_max_new_tokens() -> int:
    return max(1, int(settings.TRAINING_EVAL_MAX_NEW_TOKENS))


def eval_max_samples() -> int:
    return max(1, int(settings.TRAINING_EVAL_MAX_SAMPLES))


def heartbeat_stale_s() -> int:
    return int(settings.TRAINING_HEARTBEAT_STALE_S)


def cancel_check_s() -> float:
    return float(settings.TRAINING_CANCEL_CHECK_S)


def task_time_limit() -> int:
    return int(settings.TRAINING_TASK_TIME_LIMIT)


def preload() -> bool:
    """Whether the worker imports torch/transformers/peft before forking (TRAINING_PRELOAD)."""
    return str(settings.TRAINING_PRELOAD).strip().lower() not in {"0", "false", "no", "off"}


def qlora_setting() -> str:
    """'auto' (detect CUDA + bitsandbytes here), '1' (a web host fronting GPU workers) or '0'."""
    return str(settings.TRAINING_QLORA_AVAILABLE).lower()


def test_hooks_dir() -> Path | None:
    """Test-only: a directory of per-job hook files (TRAINING_TEST_HOOKS_DIR); unset in production."""
    raw = str(settings.TRAINING_TEST_HOOKS_DIR or "")
    return Path(raw) if raw else None
