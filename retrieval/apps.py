"""App config for retrieval."""

from django.apps import AppConfig


class RetrievalConfig(AppConfig):
    """Erasure-aware RAG indexing and cited search on pgvector."""

    name = "retrieval"
    verbose_name = "Retrieval"
    default_auto_field = "django.db.models.BigAutoField"
