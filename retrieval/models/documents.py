"""Documents (one row per ingested version) and their chunks."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import VectorField

from governance.choices import check_in
from governance.models.base import RegisterModel
from retrieval.choices import DocumentStatus, SourceType


class Document(RegisterModel):
    """One version of a document in a collection: its text, subject keys and ingestion status."""

    collection = models.ForeignKey("retrieval.Collection", on_delete=models.PROTECT, related_name="documents")
    external_id = models.CharField(max_length=300)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=1000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    source_type = models.CharField(max_length=10, choices=SourceType.choices)
    sha256 = models.CharField(max_length=64, help_text="sha256 of the text, title, source and metadata")
    size_bytes = models.PositiveIntegerField(default=0, help_text="Size of the uploaded content")
    # The extracted text (masked under the mask policy); emptied when the document fails or is rejected,
    # so a document that never made it into the index keeps no copy of anyone's data.
    text = models.TextField(blank=True)
    subject_keys = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    pii_summary = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    progress = models.FloatField(default=0.0)
    chunk_count = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=60, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The claim primitive's columns (governance/claim.py): who holds the row and since when it is alive.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["collection", "external_id", "-version"]
        constraints = [
            models.CheckConstraint(
                condition=check_in("status", DocumentStatus), name="document_status_valid"
            ),
            models.CheckConstraint(
                condition=check_in("source_type", SourceType), name="document_source_type_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0, progress__lte=1), name="document_progress_unit_interval"
            ),
            # One searchable version per external id, and at most one on its way in.
            models.UniqueConstraint(
                fields=["collection", "external_id"],
                condition=models.Q(status=DocumentStatus.INDEXED),
                name="document_one_indexed_version",
            ),
            models.UniqueConstraint(
                fields=["collection", "external_id"],
                condition=models.Q(status__in=[DocumentStatus.PENDING, DocumentStatus.PROCESSING]),
                name="document_one_version_in_flight",
            ),
        ]
        indexes = [
            GinIndex(fields=["subject_keys"], name="document_keys_gin"),
            GinIndex(fields=["metadata"], name="document_metadata_gin"),
            models.Index(fields=["collection", "status"], name="document_collection_status"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} v{self.version}"


class Chunk(models.Model):
    """A span of a document's text with its embedding, stored in its collection's partition.

    Migration 0001 creates the table with raw SQL as `PARTITION BY LIST (collection_id)` (Django's
    state sees an ordinary model, so `flush` truncates it with the documents); each collection's
    partition is created with the collection and holds its own HNSW index (retrieval/storage.py).
    """

    id = models.BigAutoField(primary_key=True)
    collection = models.ForeignKey(
        "retrieval.Collection", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    # ON DELETE CASCADE lives in the database: deleting a document removes its chunks in every partition.
    document = models.ForeignKey(
        Document, on_delete=models.DO_NOTHING, related_name="chunks", db_constraint=False
    )
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    start_char = models.PositiveIntegerField()
    end_char = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField()
    subject_keys = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    embedding = VectorField()
    # What was embedded with the text (collection header, document title), and the full-text lexemes of
    # both, which a trigger on each partition fills in on insert (migration 0004, retrieval/storage.py).
    heading = models.TextField(default="", blank=True)
    lexemes = SearchVectorField(null=True, editable=False)

    class Meta:
        db_table = "retrieval_chunk"
        ordering = ["document", "ordinal"]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"
