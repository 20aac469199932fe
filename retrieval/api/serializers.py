"""Input and output serializers of the retrieval API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from governance.models import AISystem
from retrieval.choices import DocumentStatus, PiiPolicy, RetrievalMode
from retrieval.models import Collection, Document, QueryLog
from retrieval.models.collections import DEFAULT_EMBEDDING_MODEL

PII_POLICY_HELP = (
    "What ingestion does with personal data the scanner finds (every document's text, title, external "
    "id, source and metadata values are scanned, and the subject keys of what is found go on the "
    "document and its chunks, so an erasure request finds them). index: store and embed as sent. "
    "mask: replace each identifier found in the text and title with its type (<EMAIL_ADDRESS>) before "
    "chunking and embedding; the external id, source and metadata are stored as sent (not embedded, "
    "but keyed and erasable). mask is only as good as the scanner: an identifier it does not recognise "
    "stays in clear. reject: refuse a document in which anything is found. Whatever the policy, a "
    "document naming a subject of a completed erasure request is rejected (suppressed_subject)."
)


# The service checks the value (400 `invalid_retention_days` for 0 or less), not the serializer.
RETENTION_HELP = "Days after which a stored document is deleted by the retention sweep; null keeps documents"


class CollectionOut(serializers.ModelSerializer):
    documents = serializers.SerializerMethodField()

    class Meta:
        model = Collection
        fields = [
            "id",
            "name",
            "ai_system",
            "description",
            "embedding_model",
            "embedding_dimension",
            "model_max_tokens",
            "chunk_size",
            "chunk_overlap",
            "pii_policy",
            "hnsw_m",
            "hnsw_ef_construction",
            "min_score",
            "retrieval_mode",
            "text_search_config",
            "embed_title",
            "chunk_header",
            "document_retention_days",
            "index_state",
            "documents",
            "created_at",
        ]

    def get_documents(self, collection: Collection) -> dict[str, int]:
        """Documents per status (annotated by the selector; counted here for a single object)."""
        return {status: int(getattr(collection, f"n_{status}", 0) or 0) for status in DocumentStatus.values}


class CollectionIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    ai_system = serializers.PrimaryKeyRelatedField(queryset=AISystem.objects.all())
    description = serializers.CharField(required=False, allow_blank=True)
    embedding_model = serializers.CharField(max_length=500, required=False, default=DEFAULT_EMBEDDING_MODEL)
    embedding_dimension = serializers.IntegerField(required=False, min_value=1, max_value=2000)
    chunk_size = serializers.IntegerField(required=False, min_value=16, max_value=8192)
    chunk_overlap = serializers.IntegerField(required=False, min_value=0, max_value=8191)
    pii_policy = serializers.ChoiceField(
        choices=PiiPolicy.choices, required=False, default=PiiPolicy.INDEX, help_text=PII_POLICY_HELP
    )
    hnsw_m = serializers.IntegerField(required=False, min_value=2, max_value=100, default=16)
    hnsw_ef_construction = serializers.IntegerField(required=False, min_value=4, max_value=1000, default=64)
    min_score = serializers.FloatField(required=False, min_value=-1, max_value=1)
    retrieval_mode = serializers.ChoiceField(
        choices=RetrievalMode.choices, required=False, default=RetrievalMode.DENSE
    )
    text_search_config = serializers.CharField(
        max_length=63,
        required=False,
        default="english",
        help_text="PostgreSQL text search configuration: english, simple, german, french, ...",
    )
    embed_title = serializers.BooleanField(required=False, default=True)
    chunk_header = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    document_retention_days = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text=RETENTION_HELP
    )


class CollectionUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    pii_policy = serializers.ChoiceField(choices=PiiPolicy.choices, required=False, help_text=PII_POLICY_HELP)
    min_score = serializers.FloatField(required=False, min_value=-1, max_value=1)
    retrieval_mode = serializers.ChoiceField(choices=RetrievalMode.choices, required=False)
    document_retention_days = serializers.IntegerField(
        required=False, allow_null=True, help_text=RETENTION_HELP
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {unknown[0]: ["this field cannot be changed after creation"]}
                )
        return super().to_internal_value(data)


class DocumentOut(serializers.ModelSerializer):
    unchanged = serializers.SerializerMethodField(help_text="In an upload's answer: identical content, no-op")

    class Meta:
        model = Document
        fields = [
            "id",
            "collection",
            "external_id",
            "version",
            "title",
            "source",
            "metadata",
            "source_type",
            "sha256",
            "size_bytes",
            "status",
            "progress",
            "chunk_count",
            "pii_summary",
            "error_code",
            "error",
            "created_at",
            "started_at",
            "indexed_at",
            "finished_at",
            "unchanged",
        ]

    def get_unchanged(self, document: Document) -> bool:
        return document.pk in self.context.get("unchanged", set())


class UploadOut(serializers.Serializer):
    documents = DocumentOut(many=True)
    accepted = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    bulk_load = serializers.BooleanField()


class DocumentJsonIn(serializers.Serializer):
    """One document sent as JSON (a list of them, or {"documents": [...]}, is a batch)."""

    external_id = serializers.CharField(max_length=300)
    text = serializers.CharField()
    title = serializers.CharField(max_length=500, required=False, allow_blank=True)
    source = serializers.CharField(max_length=1000, required=False, allow_blank=True)  # type: ignore[assignment]
    metadata = serializers.DictField(required=False)


class DocumentUploadIn(serializers.Serializer):
    """Multipart: one or more `file` parts (a .jsonl file is a batch); the rest apply to a single file."""

    file = serializers.ListField(child=serializers.FileField(allow_empty_file=True))
    external_id = serializers.CharField(max_length=300, required=False)
    title = serializers.CharField(max_length=500, required=False, allow_blank=True)
    source = serializers.CharField(max_length=1000, required=False, allow_blank=True)  # type: ignore[assignment]
    metadata = serializers.JSONField(required=False)


class QueryIn(serializers.Serializer):
    query = serializers.CharField(trim_whitespace=False, allow_blank=True)
    # Raw JSON values: the service refuses a string k ("5") instead of letting DRF coerce it.
    k = serializers.JSONField(required=False)
    filters = serializers.JSONField(required=False)
    min_score = serializers.JSONField(required=False, allow_null=True)
    mode = serializers.ChoiceField(
        choices=RetrievalMode.choices,
        required=False,
        allow_null=True,
        help_text="dense, lexical or hybrid; the collection's retrieval_mode when absent",
    )
    group_by_document = serializers.JSONField(
        required=False, help_text="true: the best chunk of each of the top k documents"
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({unknown[0]: ["unknown field"]})
        return super().to_internal_value(data)


class CitationOut(serializers.Serializer):
    document_id = serializers.IntegerField()
    external_id = serializers.CharField()
    title = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]
    start = serializers.IntegerField()
    end = serializers.IntegerField()


class RanksOut(serializers.Serializer):
    dense = serializers.IntegerField(allow_null=True, help_text="1-based place in the vector ranking")
    lexical = serializers.IntegerField(allow_null=True, help_text="1-based place in the full-text ranking")


class QueryResultOut(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    text = serializers.CharField()
    score = serializers.FloatField(help_text="Cosine similarity of the chunk to the query")
    ranks = RanksOut()
    citation = CitationOut()


class QueryOut(serializers.Serializer):
    mode = serializers.ChoiceField(choices=RetrievalMode.choices)
    results = QueryResultOut(many=True)
    no_relevant_fragment = serializers.BooleanField()
    query_log_id = serializers.IntegerField()


class QueryLogOut(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", default=None, allow_null=True)

    class Meta:
        model = QueryLog
        fields = [
            "id",
            "created_at",
            "user",
            "collection",
            "query_masked",
            "query_pii_summary",
            "k",
            "min_score",
            "filters",
            "results",
            "no_relevant_fragment",
            "search_mode",
            "retrieval_mode",
            "group_by_document",
            "duration_ms",
        ]
