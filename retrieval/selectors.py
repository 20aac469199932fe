"""Read-side queries of the retrieval app."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from retrieval.choices import DocumentStatus
from retrieval.models import Collection, Document, QueryLog


def collection_list() -> QuerySet[Collection]:
    """Collections with their number of documents per status (n_pending, n_indexed, ...)."""
    counts = {
        f"n_{status}": Count("documents", filter=Q(documents__status=status))
        for status in DocumentStatus.values
    }
    return Collection.objects.select_related("ai_system").annotate(**counts).order_by("name")


def document_list() -> QuerySet[Document]:
    """Documents without their text (which can be megabytes each)."""
    return Document.objects.defer("text").order_by("-created_at", "-pk")


def query_log_list() -> QuerySet[QueryLog]:
    return QueryLog.objects.select_related("user").order_by("-created_at", "-pk")
