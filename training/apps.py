"""App config for training."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class TrainingConfig(AppConfig):
    """LoRA fine-tune jobs, adapters and evaluations."""

    name = "training"
    verbose_name = "Training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import worker_init

        from governance.dashboard import register_cards, register_story_section
        from governance.participants import (
            register_api_routes,
            register_deployment_part,
            register_erasure_participant,
        )
        from training import dashboard
        from training.gates import register_gates
        from training.services import deployment_part
        from training.services.erasure import participant

        register_api_routes("training.api.urls")
        register_erasure_participant(participant)
        register_gates()
        register_deployment_part(deployment_part.part)
        register_cards(dashboard.cards)
        register_story_section(dashboard.story_section)
        worker_init.connect(_preload_ml_libraries, weak=False, dispatch_uid="training-preload")


def _preload_ml_libraries(**kwargs: Any) -> None:
    """Import torch, transformers and peft in the worker's parent, before the pool forks.

    They take 10-15 s to import on a small machine; paid once in the parent, every pool child (including
    the one started after a child is killed mid-training) begins with them loaded. Only imports happen
    here: no thread pool or CUDA context exists yet, so forking stays safe. TRAINING_PRELOAD=0 skips it.
    """
    from training import conf

    if not conf.preload():
        return
    import peft  # noqa: F401
    import torch  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401
