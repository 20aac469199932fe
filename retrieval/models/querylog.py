"""The query log kept for AI Act Art. 12 record-keeping."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone

from governance.choices import check_in
from retrieval.choices import RetrievalMode, SearchMode


class QueryLog(models.Model):
    """One query: who asked, when, what (masked for PII) and which chunks came back with what scores."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    collection = models.ForeignKey(
        "retrieval.Collection", on_delete=models.PROTECT, related_name="query_logs"
    )
    query_masked = models.TextField(help_text="The query with identifiers replaced by typed placeholders")
    query_pii_summary = models.JSONField(default=dict, blank=True)
    # Subject keys of the identifiers the scan found in the query and the filters' strings: an erasure
    # request finds the rows that carried its subject (GIN) and redacts them (retrieval erasure).
    subject_keys = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    k = models.PositiveSmallIntegerField()
    min_score = models.FloatField()
    filters = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=list, blank=True, help_text="[{chunk_id, document_id, score}]")
    no_relevant_fragment = models.BooleanField(default=False)
    search_mode = models.CharField(max_length=10, choices=SearchMode.choices)
    retrieval_mode = models.CharField(
        max_length=10, choices=RetrievalMode.choices, default=RetrievalMode.DENSE
    )
    group_by_document = models.BooleanField(default=False)
    duration_ms = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [GinIndex(fields=["subject_keys"], name="querylog_keys_gin")]
        constraints = [
            models.CheckConstraint(
                condition=check_in("search_mode", SearchMode), name="querylog_search_mode_valid"
            ),
            models.CheckConstraint(
                condition=check_in("retrieval_mode", RetrievalMode), name="querylog_retrieval_mode_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"query {self.pk} on {self.collection_id}"
