"""App config for answers."""

from django.apps import AppConfig


class AnswersConfig(AppConfig):
    """Answers from active deployments, their Art. 12 record, feedback and the retraining signal."""

    name = "answers"
    verbose_name = "Answers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from answers import wiring

        wiring.register()
