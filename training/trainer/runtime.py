"""Where training runs: device and precision selection, hardware facts and the code version for lineage."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Runtime:
    """The device and precision a job trains with."""

    device: Any  # torch.device
    dtype: Any  # torch.dtype of the base weights
    autocast_dtype: Any | None  # mixed precision on CUDA; None on CPU (fp32)

    @property
    def is_cuda(self) -> bool:
        return bool(self.device.type == "cuda")


def select_runtime() -> Runtime:
    """CUDA with bf16 (fp16 where bf16 is missing) when a GPU is present; fp32 on the CPU."""
    import torch

    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return Runtime(
            device=torch.device("cuda", torch.cuda.current_device()), dtype=dtype, autocast_dtype=dtype
        )
    return Runtime(device=torch.device("cpu"), dtype=torch.float32, autocast_dtype=None)


def hardware(runtime: Runtime) -> dict[str, Any]:
    """Facts about the machine for the adapter's lineage."""
    import torch

    facts: dict[str, Any] = {
        "host": socket.gethostname(),
        "device": str(runtime.device),
        "precision": str(runtime.dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    if runtime.is_cuda:
        props = torch.cuda.get_device_properties(runtime.device)
        facts.update(
            device_name=props.name,
            device_memory_bytes=props.total_memory,
            peak_memory_bytes=torch.cuda.max_memory_allocated(runtime.device),
        )
    else:
        facts["device_name"] = "cpu"
    for package in ("transformers", "peft", "accelerate", "bitsandbytes"):
        try:
            facts[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            facts[package] = None
    return facts


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The git commit of the working tree (marked dirty when it has changes), else the package version."""
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        return {"git_commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        try:
            return {"package_version": importlib.metadata.version("ai-governance")}
        except importlib.metadata.PackageNotFoundError:
            return {"package_version": "unknown"}


def _git(*args: str) -> str:
    result = subprocess.run(  # noqa: S603 - fixed argv
        ["git", *args],  # noqa: S607 - git from PATH, as a developer would run it
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,  # noqa: S607
    )
    return result.stdout.strip()
