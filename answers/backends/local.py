"""The `local` backend: base model + adapter loaded with transformers and peft in this process.

Loaded models stay in memory between answers, keyed by (base model, adapter), at most
`ANSWER_LOCAL_MAX_MODELS` of them; the least recently used is unloaded to make room. gunicorn keeps its
workers alive, so a deployment's model is loaded once per worker process, not per answer. One answer
at a time per loaded model (generation is not re-entrant); other models answer in parallel.
Greedy decoding: the same question with the same fragments gives the same answer, which is what an
auditor reconstructing it expects.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings

from answers.backends import Generation, InferenceError
from training.trainer.data import load_tokenizer, render_prompt
from training.trainer.runtime import Runtime, select_runtime


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    runtime: Runtime
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded_at: float = field(default_factory=time.monotonic)


_models: OrderedDict[tuple[int, int | None], Loaded] = OrderedDict()
_models_lock = threading.Lock()


@lru_cache(maxsize=16)
def tokenizer_for(path: str) -> Any:
    return load_tokenizer(path)


def prompt_ids(base_model: Any, messages: list[dict[str, str]]) -> list[int]:
    """The token ids of the rendered prompt, as the model will see them."""
    tokenizer = tokenizer_for(base_model.path)
    text = render_prompt(tokenizer, messages)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _load(base_model: Any, adapter: Any) -> Loaded:
    from training.trainer.loop import load_base_model

    runtime = select_runtime()
    try:
        model = load_base_model(base_model.path, runtime, qlora=False)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter.path, is_trainable=False)
    except (OSError, ValueError) as exc:
        raise InferenceError(
            f"the model could not be loaded: {type(exc).__name__}", code="model_unavailable"
        ) from None
    model.config.use_cache = True
    model.eval()
    return Loaded(model=model, tokenizer=tokenizer_for(base_model.path), runtime=runtime)


def loaded(base_model: Any, adapter: Any) -> Loaded:
    """The model for (base, adapter), loading it (and unloading the least recently used) if needed."""
    key = (base_model.pk, adapter.pk if adapter is not None else None)
    with _models_lock:
        entry = _models.get(key)
        if entry is not None:
            _models.move_to_end(key)
            return entry
    entry = _load(base_model, adapter)  # outside the lock: other models keep answering meanwhile
    with _models_lock:
        _models[key] = entry
        _models.move_to_end(key)
        while len(_models) > max(1, settings.ANSWER_LOCAL_MAX_MODELS):
            _models.popitem(last=False)
    return entry


def loaded_keys() -> list[tuple[int, int | None]]:
    with _models_lock:
        return list(_models)


def unload_all() -> None:
    with _models_lock:
        _models.clear()


def generate(deployment: Any, messages: list[dict[str, str]], *, max_new_tokens: int) -> Generation:
    import torch

    entry = loaded(deployment.base_model, deployment.adapter_version)
    ids = prompt_ids(deployment.base_model, messages)
    tokenizer = entry.tokenizer
    with entry.lock, torch.inference_mode():
        input_ids = torch.tensor([ids], dtype=torch.long, device=entry.runtime.device)
        output = entry.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else tokenizer.eos_token_id,
        )
    new = output[0, len(ids) :].tolist()
    text = tokenizer.decode(new, skip_special_tokens=True).strip()
    return Generation(text=text, tokens=len(new), prompt_tokens=len(ids))
