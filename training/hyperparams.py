"""Validation of fine-tune hyper-parameters: every problem reported at once, finite numbers only."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from governance.errors import ValidationFailed
from training import conf
from training.models import BaseModel

INT_RANGES: dict[str, tuple[int, int]] = {
    "rank": (1, 256),
    "epochs": (1, 100),
    "batch_size": (1, 1024),
    "gradient_accumulation": (1, 1024),
    "warmup_steps": (0, 1_000_000),
}
MIN_SEQ_LENGTH = 8
MAX_ALPHA = 4096.0
KNOWN = {*INT_RANGES, "alpha", "dropout", "learning_rate", "max_seq_length", "target_modules", "use_qlora"}


def defaults_for(base_model: BaseModel) -> dict[str, Any]:
    return {
        "rank": 8,
        "alpha": 16.0,
        "dropout": 0.05,
        "epochs": 1,
        "learning_rate": 2e-4,
        "batch_size": 4,
        "max_seq_length": min(512, base_model.max_sequence_length),
        "gradient_accumulation": 1,
        "warmup_steps": 0,
        "target_modules": list(base_model.default_target_modules),
        "use_qlora": False,
    }


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.items.append({"field": field, "code": code, "message": message})


def _number(value: Any) -> float | None:
    """A finite int or float; bools and strings are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(errors: _Errors, field: str, value: Any, low: int, high: int) -> int | None:
    number = _number(value)
    if number is None or number != int(number) or not low <= number <= high:
        errors.add(field, "out_of_range", f"{field} must be a whole number from {low} to {high}")
        return None
    return int(number)


def _float(errors: _Errors, field: str, value: Any, ok: Any, rule: str) -> float | None:
    number = _number(value)
    if number is None or not ok(number):
        errors.add(field, "out_of_range", f"{field} must be a finite number {rule}")
        return None
    return number


def qlora_available() -> bool:
    """4-bit QLoRA needs CUDA and bitsandbytes on the host that trains."""
    setting = conf.qlora_setting()
    if setting in {"0", "false", "no", "off"}:
        return False
    if setting in {"1", "true", "yes", "on"}:
        return True
    import torch

    return bool(torch.cuda.is_available()) and importlib.util.find_spec("bitsandbytes") is not None


def validate_hyperparameters(raw: Any, *, base_model: BaseModel) -> dict[str, Any]:
    """Complete `raw` with defaults and check every value; ValidationFailed lists every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationFailed("hyperparameters must be an object", code="invalid_hyperparameters")
    errors = _Errors()
    for key in sorted(set(raw) - KNOWN):
        errors.add(key, "unknown_field", f"unknown hyper-parameter '{key}'")
    values = {**defaults_for(base_model), **{k: v for k, v in raw.items() if k in KNOWN}}
    clean: dict[str, Any] = {}
    for field, (low, high) in INT_RANGES.items():
        clean[field] = _int(errors, field, values[field], low, high)
    clean["alpha"] = _float(
        errors, "alpha", values["alpha"], lambda x: 0 < x <= MAX_ALPHA, f"in (0, {MAX_ALPHA:g}]"
    )
    clean["dropout"] = _float(errors, "dropout", values["dropout"], lambda x: 0 <= x < 1, "in [0, 1)")
    clean["learning_rate"] = _float(
        errors, "learning_rate", values["learning_rate"], lambda x: 0 < x <= 1, "in (0, 1]"
    )
    clean["max_seq_length"] = _int(
        errors, "max_seq_length", values["max_seq_length"], MIN_SEQ_LENGTH, base_model.max_sequence_length
    )
    clean["target_modules"] = _target_modules(errors, values["target_modules"], base_model)
    clean["use_qlora"] = _qlora(errors, values["use_qlora"])
    if errors.items:
        raise ValidationFailed(
            f"{errors.items[0]['message']} ({len(errors.items)} problem(s))",
            code="invalid_hyperparameters",
            details={"errors": errors.items},
        )
    return clean


def _target_modules(errors: _Errors, value: Any, base_model: BaseModel) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        errors.add("target_modules", "invalid", "target_modules must be a non-empty list of module names")
        return None
    unknown = sorted(set(value) - set(base_model.module_names))
    if unknown:
        errors.add(
            "target_modules",
            "unknown_module",
            f"the model has no linear module named {', '.join(repr(u) for u in unknown)}; "
            f"available: {', '.join(base_model.module_names)}",
        )
        return None
    return sorted(set(value))


def _qlora(errors: _Errors, value: Any) -> bool | None:
    if not isinstance(value, bool):
        errors.add("use_qlora", "invalid", "use_qlora must be true or false")
        return None
    if value and not qlora_available():
        errors.add("use_qlora", "qlora_unavailable", "4-bit QLoRA needs CUDA and bitsandbytes on this host")
        return None
    return value
