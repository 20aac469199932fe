"""App config for retrieval."""

from __future__ import annotations

from django.apps import AppConfig


class RetrievalConfig(AppConfig):
    """Erasure-aware RAG indexing and cited search on pgvector."""

    name = "retrieval"
    verbose_name = "Retrieval"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from governance.participants import (
            ErasureParticipant,
            register_api_routes,
            register_deployment_part,
            register_erasure_participant,
        )
        from retrieval import dashboard
        from retrieval.gates import register_gates
        from retrieval.services import deployment_part, erasure, subject_export

        register_api_routes("retrieval.api.urls")
        register_gates()
        dashboard.register()  # the document cards and the AI system story's "retrieval" section
        register_deployment_part(deployment_part.part)
        register_erasure_participant(
            ErasureParticipant(
                name="retrieval",
                find=erasure.erasure_find,
                erase=erasure.erasure_erase,
                purge=erasure.erasure_purge,
                verify=erasure.erasure_verify,
                order=30,
                count_names=erasure.COUNT_NAMES,
                export=subject_export.erasure_export,
            )
        )
        from governance.services.retention import register_retention_store
        from retrieval.services import retention

        register_retention_store(retention.store)  # documents past their collection's retention
