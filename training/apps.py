"""App config for training."""

from django.apps import AppConfig


class TrainingConfig(AppConfig):
    """LoRA fine-tune jobs, adapters and evaluations."""

    name = "training"
    verbose_name = "Training"
    default_auto_field = "django.db.models.BigAutoField"
