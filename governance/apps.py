"""App config for governance."""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class GovernanceConfig(AppConfig):
    """Core domain: registers, DPIAs, datasets, audit chain, roles."""

    name = "governance"
    verbose_name = "Governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from governance.deployment_gates import register_gates
        from governance.participants import register_erasure_participant
        from governance.services.erasure_datasets import participant

        register_erasure_participant(participant)
        register_gates()
        from governance import dashboard_cards

        dashboard_cards.register()


class GovernanceAdminConfig(AdminConfig):
    """Django's admin, with the platform's site as `admin.site` (its index is the dashboard)."""

    default_site = "governance.admin_site.GovernanceAdminSite"
