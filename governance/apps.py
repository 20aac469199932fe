"""App config for governance."""

from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Core domain: registers, DPIAs, datasets, audit chain, roles."""

    name = "governance"
    verbose_name = "Governance"
    default_auto_field = "django.db.models.BigAutoField"
