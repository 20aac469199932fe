"""TextChoices for the retrieval app's status and policy fields."""

from __future__ import annotations

from django.db import models


class PiiPolicy(models.TextChoices):
    """What ingestion does with a document in which the scanner found personal data."""

    INDEX = "index", "Index as is (subject keys recorded)"
    MASK = "mask", "Mask identifiers with typed placeholders before embedding"
    REJECT = "reject", "Reject documents that contain personal data"


class IndexState(models.TextChoices):
    """State of a collection's HNSW index; without one, queries run as exact search."""

    READY = "ready", "Ready"
    DEFERRED = "deferred", "Deferred (bulk load in progress; built when it ends)"
    BUILDING = "building", "Building"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    INDEXED = "indexed", "Indexed"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected (PII policy)"


IN_FLIGHT = (DocumentStatus.PENDING, DocumentStatus.PROCESSING)


class SourceType(models.TextChoices):
    TXT = "txt", "Plain text"
    MD = "md", "Markdown"
    HTML = "html", "HTML"
    PDF = "pdf", "PDF"
    JSON = "json", "JSON text"


class SearchMode(models.TextChoices):
    """How the dense (vector) part of a query ran."""

    HNSW = "hnsw", "HNSW index"
    EXACT = "exact", "Exact search"
    NONE = "none", "Nothing to search"
    LEXICAL = "lexical", "No vector search (full-text only)"


class RetrievalMode(models.TextChoices):
    """Which rankings a query uses: the embedding, PostgreSQL full-text search, or both fused (RRF)."""

    HYBRID = "hybrid", "Hybrid (vector + full-text, reciprocal rank fusion)"
    DENSE = "dense", "Vector search only"
    LEXICAL = "lexical", "Full-text search only"
