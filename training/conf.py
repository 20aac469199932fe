"""Training settings: read from Django settings first, then the environment, then a default.

The lead adds these names to governance/settings.py; until then (and in the test worker, which gets
them through its environment) the environment variable of the same name is honoured.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

from governance import embedded


def _raw(name: str) -> object | None:
    value = getattr(settings, name, None)
    return os.environ.get(name) if value is None else value


def setting_int(name: str, default: int) -> int:
    value = _raw(name)
    return default if value in (None, "") else int(str(value))


def setting_float(name: str, default: float) -> float:
    value = _raw(name)
    return default if value in (None, "") else float(str(value))


def setting_str(name: str, default: str) -> str:
    value = _raw(name)
    return default if value in (None, "") else str(value)


def artifacts_root() -> Path:
    """Where checkpoints and adapter files live (TRAINING_ARTIFACTS_ROOT, default .data/artifacts)."""
    return Path(setting_str("TRAINING_ARTIFACTS_ROOT", str(embedded.data_dir() / "artifacts"))).resolve()


def models_root() -> Path:
    """Where `create_demo_base_model` writes (TRAINING_MODELS_ROOT, default .data/models)."""
    return Path(setting_str("TRAINING_MODELS_ROOT", str(embedded.data_dir() / "models"))).resolve()


def base_model_roots() -> list[Path]:
    """Directories base models must live under (TRAINING_BASE_MODEL_ROOTS, ':'-separated); empty = any."""
    raw = setting_str("TRAINING_BASE_MODEL_ROOTS", "")
    return [Path(p).resolve() for p in raw.split(os.pathsep) if p]


def max_attempts() -> int:
    return setting_int("TRAINING_MAX_ATTEMPTS", 3)


def event_every() -> int:
    return max(1, setting_int("TRAINING_EVENT_EVERY", 10))


def checkpoint_every() -> int:
    return max(1, setting_int("TRAINING_CHECKPOINT_EVERY", 50))


def eval_max_new_tokens() -> int:
    return max(1, setting_int("TRAINING_EVAL_MAX_NEW_TOKENS", 32))


def eval_max_samples() -> int:
    return max(1, setting_int("TRAINING_EVAL_MAX_SAMPLES", 500))


def qlora_setting() -> str:
    """'auto' (detect CUDA + bitsandbytes here), '1' (a web host fronting GPU workers) or '0'."""
    return setting_str("TRAINING_QLORA_AVAILABLE", "auto").lower()


def test_hooks_dir() -> Path | None:
    """Test-only: a directory of per-job hook files; unset everywhere except the test worker."""
    raw = os.environ.get("TRAINING_TEST_HOOKS_DIR")
    return Path(raw) if raw else None
