"""Read what a base model directory holds without loading its weights."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.errors import ValidationFailed
from training import conf

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json")
# Config keys that hold the context length, in the order transformers' model families use them.
_LENGTH_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a causal LM read from its config and a meta-device build of it."""

    path: str
    architecture: str
    model_type: str
    parameter_count: int
    max_sequence_length: int
    config_sha256: str
    module_names: list[str]
    default_target_modules: list[str]


def _refuse(message: str, code: str, path: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, details={"field": "path", "path": path})


def _unusable_path() -> ValidationFailed:
    return ValidationFailed(
        "no readable model directory exists at this path under the allowed base model roots",
        code="base_model_path_unusable",
        details={"field": "path"},
    )


def check_model_dir(raw: str) -> Path:
    """The directory, if it exists, lies under an allowed root and holds a config, weights and a tokenizer."""
    path = Path(raw)
    if not path.is_absolute():
        raise _refuse("the base model path must be absolute", "base_model_path_not_absolute", raw)
    path = path.resolve()
    roots = conf.base_model_roots()
    # Outside the roots, missing, not a directory or unreadable: one error, with the same code, message
    # and details (not even the path), so the answer cannot be used to probe the host's filesystem.
    if roots and not any(path.is_relative_to(root) for root in roots):
        raise _unusable_path()
    if not path.is_dir() or not os.access(path, os.R_OK | os.X_OK):
        raise _unusable_path()
    if not (path / "config.json").is_file():
        raise _refuse("the directory holds no config.json: it is not a model", "base_model_not_a_model", raw)
    if not any(p.suffix in WEIGHT_SUFFIXES for p in path.iterdir() if p.is_file()):
        raise _refuse("the directory holds no weight files", "base_model_no_weights", raw)
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise _refuse("the directory holds no tokenizer files", "base_model_no_tokenizer", raw)
    return path


def inspect_model_dir(raw: str) -> ModelInfo:
    """Read config.json and build the model on the meta device: parameters and layer names, no weights."""
    path = check_model_dir(raw)
    config_bytes = (path / "config.json").read_bytes()
    try:
        config_dict = json.loads(config_bytes)
        if not isinstance(config_dict, dict):
            raise ValueError("config.json is not an object")
        config, model = _meta_model(path)
    except Exception as exc:  # transformers raises ValueError, KeyError, OSError... for unusable configs
        raise _refuse(
            f"config.json cannot be read as a causal LM ({type(exc).__name__})",
            "base_model_config_unreadable",
            raw,
        ) from None
    length = next((int(config_dict[k]) for k in _LENGTH_KEYS if isinstance(config_dict.get(k), int)), 0)
    if length <= 0:
        raise _refuse("config.json gives no maximum sequence length", "base_model_config_unreadable", raw)
    modules = sorted(_linear_names(model))
    architectures = config_dict.get("architectures") or [type(model).__name__]
    return ModelInfo(
        path=str(path),
        architecture=str(architectures[0]),
        model_type=str(config.model_type),
        parameter_count=sum(p.numel() for p in model.parameters()),
        max_sequence_length=length,
        config_sha256=hashlib.sha256(config_bytes).hexdigest(),
        module_names=modules,
        default_target_modules=_default_targets(str(config.model_type), modules),
    )


def _meta_model(path: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    # trust_remote_code stays off: a registered directory must never run code from itself.
    config = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=False)
    return config, model


def _linear_names(model: Any) -> set[str]:
    import torch

    names = set()
    for name, module in model.named_modules():
        # transformers' Conv1D (GPT-2) is a linear layer with transposed weights; peft handles both.
        if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D":
            names.add(name.rsplit(".", 1)[-1])
    names.discard("lm_head")  # the output head is never a LoRA target here
    return names


def _default_targets(model_type: str, modules: list[str]) -> list[str]:
    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping
    except ImportError:  # pragma: no cover - older peft
        mapping = {}
    preferred: list[str] = [str(m) for m in mapping.get(model_type, []) if m in modules]
    if preferred:
        return preferred
    attention: list[str] = [m for m in ("q_proj", "v_proj") if m in modules]
    return attention or modules[:2]


def weight_files(path: Path) -> Iterator[Path]:
    """Every regular file of the model directory (weights, config, tokenizer), hidden folders skipped."""
    for item in sorted(path.rglob("*")):
        if item.is_file() and not any(part.startswith(".") for part in item.relative_to(path).parts):
            yield item


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_of(path: Path) -> dict[str, dict[str, Any]]:
    """file (relative) -> {sha256, size} for every file of a directory."""
    return {
        str(item.relative_to(path)): {"sha256": file_sha256(item), "size": item.stat().st_size}
        for item in weight_files(path)
    }


def manifest_sha256(manifest: dict[str, Any]) -> str:
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
