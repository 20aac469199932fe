"""Admin pages for collections, documents and the query log. Saves go through the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from governance.admin_base import PolicyAdmin
from governance.errors import DomainError
from retrieval import selectors
from retrieval.choices import DocumentStatus
from retrieval.models import Collection, Document, QueryLog
from retrieval.services import collections, documents

CREATE_FIELDS = (
    "name", "ai_system", "description", "embedding_model", "embedding_dimension", "chunk_size",
    "chunk_overlap", "pii_policy", "hnsw_m", "hnsw_ef_construction", "min_score",
)  # fmt: skip


class CollectionForm(forms.ModelForm):
    """On creation the model is loaded and checked here, so a bad path or dimension is a form error."""

    class Meta:
        model = Collection
        fields = list(CREATE_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("embedding_dimension", "chunk_size", "chunk_overlap"):
            if name in self.fields:
                self.fields[name].required = False
                self.fields[name].help_text = "Leave empty to take it from the model"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is None and not self.errors:
            try:
                collections.collection_check(
                    embedding_model=data.get("embedding_model") or "",
                    embedding_dimension=data.get("embedding_dimension"),
                    chunk_size=data.get("chunk_size"),
                    chunk_overlap=data.get("chunk_overlap"),
                    hnsw_m=data.get("hnsw_m"),
                    hnsw_ef_construction=data.get("hnsw_ef_construction"),
                )
            except DomainError as exc:
                raise forms.ValidationError(exc.message, code=exc.code) from None
        return data

    def _post_clean(self) -> None:  # type: ignore[misc]
        if self.instance.pk is None:
            return  # the service validates and saves the new collection
        super()._post_clean()  # type: ignore[misc]


@admin.register(Collection)
class CollectionAdmin(PolicyAdmin):
    policy_resource = "collection"
    form = CollectionForm
    list_display = [
        "name",
        "ai_system",
        "pii_policy",
        "index_state",
        "indexed",
        "in_flight",
        "failed",
        "embedding_dimension",
        "chunk_size",
        "created_at",
    ]
    list_filter = ["pii_policy", "index_state"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Collection]:
        return selectors.collection_list()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return list(CREATE_FIELDS)
        return [*collections.UPDATABLE, *self.get_readonly_fields(request, obj)]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        fixed = [f for f in CREATE_FIELDS if f not in collections.UPDATABLE]
        return [*fixed, "model_max_tokens", "index_state", "created_at", "created_by"]

    @admin.display(description="Indexed")
    def indexed(self, obj: Collection) -> int:
        return int(getattr(obj, f"n_{DocumentStatus.INDEXED}", 0))

    @admin.display(description="Pending / processing")
    def in_flight(self, obj: Collection) -> int:
        return int(getattr(obj, f"n_{DocumentStatus.PENDING}", 0)) + int(
            getattr(obj, f"n_{DocumentStatus.PROCESSING}", 0)
        )

    @admin.display(description="Failed / rejected")
    def failed(self, obj: Collection) -> int:
        return int(getattr(obj, f"n_{DocumentStatus.FAILED}", 0)) + int(
            getattr(obj, f"n_{DocumentStatus.REJECTED}", 0)
        )

    def save_model(self, request: HttpRequest, obj: Collection, form: ModelForm, change: bool) -> None:
        if change:
            changed = {
                name: form.cleaned_data[name] for name in form.changed_data if name in collections.UPDATABLE
            }
            collections.collection_update(
                actor=request.user, collection=Collection.objects.get(pk=obj.pk), **changed
            )
        else:
            data = {k: v for k, v in form.cleaned_data.items() if v is not None and v != ""}
            obj.pk = collections.collection_create(actor=request.user, **data).pk

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        pass  # the service stored everything


@admin.register(Document)
class DocumentAdmin(PolicyAdmin):
    policy_resource = "document"
    offers_add = False  # documents arrive through the API upload, which extracts and validates them
    offers_change = False
    list_display = [
        "external_id",
        "version",
        "collection",
        "status",
        "progress",
        "chunk_count",
        "error_code",
        "created_at",
        "indexed_at",
    ]
    list_filter = ["status", "source_type", "collection"]
    search_fields = ["external_id", "title"]
    readonly_fields = [f.name for f in Document._meta.fields if f.name != "text"]
    exclude = ["text"]
    actions = ["delete_with_chunks"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return selectors.document_list().select_related("collection")

    @admin.action(description="Delete the selected documents and their chunks", permissions=["write"])
    def delete_with_chunks(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        done = 0
        for document in queryset:
            try:
                documents.document_delete(actor=request.user, document=document)
                done += 1
            except DomainError as exc:
                messages.error(request, f"{document}: {exc.message}")
        if done:
            messages.success(request, f"Deleted {done} document(s) and their chunks")


@admin.register(QueryLog)
class QueryLogAdmin(PolicyAdmin):
    policy_resource = "query_log"
    offers_add = False
    offers_change = False
    list_display = [
        "created_at",
        "user",
        "collection",
        "k",
        "no_relevant_fragment",
        "search_mode",
        "duration_ms",
    ]
    list_filter = ["no_relevant_fragment", "search_mode", "collection"]
    readonly_fields = [f.name for f in QueryLog._meta.fields]
