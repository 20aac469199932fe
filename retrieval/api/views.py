"""Retrieval API views: thin, each action validates its input and calls one service or selector."""

from __future__ import annotations

from typing import Any

import django_filters
from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.filters import strict_filter
from governance.api.parsers import BoundedJSONParser, StrictMultiPartParser
from governance.api.validation import valid_input as _valid
from governance.errors import TooLarge, ValidationFailed
from retrieval import intake, selectors
from retrieval.api import serializers as s
from retrieval.models import Collection, Document, QueryLog
from retrieval.services import collections, documents, search


def _max_upload_bytes() -> int:
    return int(settings.RETRIEVAL_MAX_UPLOAD_BYTES)


def _max_json_bytes() -> int:
    return int(settings.RETRIEVAL_MAX_JSON_BYTES)


def _check_content_length(request: Request) -> None:
    # Refuse before the body is read, so an oversized upload is never spooled to disk or memory.
    # A JSON body is parsed in memory at once, so it has a lower limit than a (streamed) multipart one.
    limit = _max_json_bytes() if request.content_type.startswith("application/json") else _max_upload_bytes()
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > limit + 64 * 1024:
        raise TooLarge(
            f"the upload is {length} bytes; the limit is {limit}",
            code="upload_too_large",
            details={"limit_bytes": limit},
        )


class CollectionFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Collection
        fields = ["ai_system", "pii_policy", "index_state"]


class DocumentFilter(django_filters.FilterSet):
    class Meta:
        model = Document
        fields = ["collection", "status", "external_id", "source_type"]


def _incoming(request: Request) -> list[intake.IncomingDocument]:
    """The validated documents of an upload: JSON, or multipart files (a .jsonl file is a batch)."""
    if request.content_type.startswith("application/json"):
        return intake.documents_from_json(request.data)
    data = _valid(s.DocumentUploadIn, request.data)
    files = data["file"]
    items: list[intake.IncomingDocument] = []
    for upload in files:
        if intake.is_batch_file(upload.name):
            items += intake.documents_from_jsonl(upload.file)
            continue
        if upload.size > intake.max_document_bytes():
            raise TooLarge(
                f"'{upload.name}' is {upload.size} bytes; the limit per document is "
                f"{intake.max_document_bytes()}",
                code="document_too_large",
                details={"file": upload.name, "limit_bytes": intake.max_document_bytes()},
            )
        single = len(files) == 1
        items.append(
            intake.document_from_file(
                upload.read(),
                filename=upload.name,
                content_type=upload.content_type or "",
                external_id=data.get("external_id", "") if single else "",
                title=data.get("title", "") if single else "",
                source=data.get("source", "") if single else "",
                metadata=data.get("metadata") if single else None,
            )
        )
    seen: set[str] = set()
    for item in items:
        if item.external_id in seen:
            raise ValidationFailed(
                f"external_id '{item.external_id}' appears twice in the upload",
                code="duplicate_external_id",
                details={"field": "external_id"},
            )
        seen.add(item.external_id)
    return items


def _filtered_documents(request: Request, queryset: Any) -> Any:
    """A collection's documents filtered by DocumentFilter, refusing unknown parameters like the backend."""
    return strict_filter(request.query_params, DocumentFilter, queryset)


class CollectionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Collection]
):
    """Collections, their documents (upload and list) and cited search."""

    serializer_class = s.CollectionOut
    filterset_class = CollectionFilter
    policy_resource = "collection"
    policy_verbs = {"query": "read"}  # a query reads; auditors may run one (it is logged)

    def get_queryset(self) -> Any:
        if self.action in ("query", "documents"):
            return Collection.objects.all()  # no per-status counts on the query path
        return selectors.collection_list()

    @extend_schema(request=s.CollectionIn, responses={201: s.CollectionOut})
    def create(self, request: Request) -> Response:
        data = _valid(s.CollectionIn, request.data)
        collection = collections.collection_create(actor=request.user, **data)
        return Response(s.CollectionOut(selectors.collection_list().get(pk=collection.pk)).data, status=201)

    @extend_schema(request=s.CollectionUpdateIn, responses={200: s.CollectionOut})
    def partial_update(self, request: Request, pk: str) -> Response:
        data = _valid(s.CollectionUpdateIn, request.data, partial=True)
        collection = collections.collection_update(actor=request.user, collection=self.get_object(), **data)
        return Response(s.CollectionOut(selectors.collection_list().get(pk=collection.pk)).data)

    @extend_schema(methods=["GET"], responses={200: s.DocumentOut(many=True)})
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": s.DocumentUploadIn, "application/json": s.DocumentJsonIn},
        responses={202: s.UploadOut},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        parser_classes=[BoundedJSONParser, StrictMultiPartParser],
        filterset_class=None,
    )
    def documents(self, request: Request, pk: str) -> Response:
        collection = self.get_object()
        if request.method == "GET":
            queryset = _filtered_documents(request, selectors.document_list().filter(collection=collection))
            page = self.paginate_queryset(queryset)
            return self.get_paginated_response(s.DocumentOut(page, many=True).data)
        _check_content_length(request)
        accepted = documents.documents_ingest(
            actor=request.user, collection=collection, items=_incoming(request)
        )
        body = s.DocumentOut(accepted.documents, many=True, context={"unchanged": accepted.unchanged}).data
        return Response(
            {
                "documents": body,
                "accepted": len(accepted.documents) - len(accepted.unchanged),
                "unchanged": len(accepted.unchanged),
                "bulk_load": accepted.bulk_load,
            },
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(request=s.QueryIn, responses={200: s.QueryOut})
    @action(detail=True, methods=["post"], parser_classes=[BoundedJSONParser], filterset_class=None)
    def query(self, request: Request, pk: str) -> Response:
        collection = self.get_object()
        data = _valid(s.QueryIn, request.data)
        answer = search.collection_query(
            actor=request.user,
            collection=collection,
            query=data["query"],
            k=data.get("k", 5),
            filters=data.get("filters"),
            min_score=data.get("min_score"),
            mode=data.get("mode"),
            group_by_document=data.get("group_by_document", False),
        )
        return Response(
            {
                "mode": answer.log.retrieval_mode,
                "results": answer.results,
                "no_relevant_fragment": answer.no_relevant_fragment,
                "query_log_id": answer.log.pk,
            }
        )


class DocumentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Document],
):
    """Documents of every collection: status, progress and error; DELETE removes one and its chunks."""

    serializer_class = s.DocumentOut
    filterset_class = DocumentFilter
    policy_resource = "document"

    def get_queryset(self) -> Any:
        return selectors.document_list()

    def perform_destroy(self, instance: Document) -> None:
        documents.document_delete(actor=self.request.user, document=instance)


class QueryLogFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = QueryLog
        fields = ["collection", "user", "no_relevant_fragment"]


class QueryLogViewSet(viewsets.ReadOnlyModelViewSet[QueryLog]):
    """The AI Act Art. 12 query log, for compliance officers and auditors."""

    serializer_class = s.QueryLogOut
    filterset_class = QueryLogFilter
    policy_resource = "query_log"

    def get_queryset(self) -> Any:
        return selectors.query_log_list()
