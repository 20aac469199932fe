"""Erasure requests and the suppression list over the API (officers and auditors; engineers get 403).

Identifiers travel in the JSON body only: a request that carries any query parameter on a write is
refused before anything is read, because URLs end up in access logs and browser histories.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Count, Q
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.parsers import BoundedJSONParser
from governance.api.validation import valid_input as _valid
from governance.choices import ErasureGround, ErasureStatus, NameMatchDecision
from governance.errors import Conflict, ValidationFailed
from governance.models import ErasureNameMatch, ErasureRequest, SuppressedKey
from governance.pii.identifiers import IDENTIFIER_TYPES
from governance.selectors import erasure as selectors
from governance.services import erasure

# --- Serializers -----------------------------------------------------------------------------------


class IdentifierIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=[(t, t) for t in IDENTIFIER_TYPES])
    value = serializers.CharField(max_length=512, trim_whitespace=False)


class ErasureRequestIn(serializers.Serializer):
    reference = serializers.CharField(
        max_length=100, help_text="Your reference for the request (a ticket number)"
    )
    # Validated item by item by governance.pii.identifiers (codes name the item's index, never its value).
    identifiers = serializers.ListField(child=serializers.DictField(), allow_empty=True)
    received_at = serializers.DateTimeField(required=False, help_text="When the subject's request arrived")


class RejectIn(serializers.Serializer):
    ground = serializers.ChoiceField(choices=ErasureGround.choices, help_text="The Art. 17(3) ground")
    reason = serializers.CharField()


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField()


class ExtendIn(serializers.Serializer):
    months = serializers.IntegerField(min_value=1, max_value=2)
    reason = serializers.CharField()


class DecideIn(serializers.Serializer):
    confirm = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=10_000
    )
    exclude = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=10_000
    )


class NameMatchOut(serializers.ModelSerializer):
    class Meta:
        model = ErasureNameMatch
        fields = ["id", "store", "kind", "object_id", "label", "decision", "decided_at"]


class ErasureRequestOut(serializers.ModelSerializer):
    overdue = serializers.SerializerMethodField()
    subject_key_count = serializers.SerializerMethodField()
    name_matches = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()

    class Meta:
        model = ErasureRequest
        fields = [
            "id",
            "reference",
            "status",
            "identifier_types",
            "subject_key_count",
            "received_at",
            "due_at",
            "overdue",
            "extension_months",
            "extension_reason",
            "rejection_ground",
            "rejection_reason",
            "hold_reason",
            "preview",
            "name_matches",
            "counts",
            "results",
            "purge_results",
            "verification",
            "error",
            "executed_at",
            "erased_at",
            "purge_due_at",
            "purged_at",
            "completed_at",
            "certificate_sha256",
            "chain_head_sequence",
            "chain_head_hash",
            "created_at",
        ]

    def get_overdue(self, obj: ErasureRequest) -> bool:
        return selectors.is_overdue(obj)

    def get_subject_key_count(self, obj: ErasureRequest) -> int:
        return len(obj.subject_keys) + len(obj.name_keys)

    def get_name_matches(self, obj: ErasureRequest) -> dict[str, int]:
        found = obj.name_matches.aggregate(
            **{d: Count("pk", filter=Q(decision=d)) for d in NameMatchDecision.values}
        )
        return {key: int(value or 0) for key, value in found.items()}

    def get_counts(self, obj: ErasureRequest) -> dict[str, dict[str, int]]:
        return erasure.totals(obj)


class SuppressionOut(serializers.ModelSerializer):
    reference = serializers.CharField(source="request.reference")
    lifted_by = serializers.CharField(source="lifted_by.username", default=None, allow_null=True)

    class Meta:
        model = SuppressedKey
        fields = [
            "id",
            "key_type",
            "request",
            "reference",
            "created_at",
            "lifted_at",
            "lifted_by",
            "lift_reason",
        ]


# --- Views ---------------------------------------------------------------------------------------


class ErasureRequestFilter(django_filters.FilterSet):
    overdue = django_filters.BooleanFilter(method="filter_overdue")

    class Meta:
        model = ErasureRequest
        fields = ["status", "reference"]

    def filter_overdue(self, queryset: Any, name: str, value: bool) -> Any:
        overdue = selectors.overdue_q()
        return queryset.filter(overdue) if value else queryset.exclude(overdue)


def _no_query_string(request: Request) -> None:
    if request.query_params:
        raise ValidationFailed(
            "query parameters are not accepted here: identifiers go in the JSON body only",
            code="query_parameters_not_allowed",
            details={"parameters": len(request.query_params)},
        )


class ErasureRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ErasureRequest]
):
    """Erasure requests (GDPR Art. 17): receive, decide name matches, execute, reject, hold, certify."""

    serializer_class = ErasureRequestOut
    filterset_class = ErasureRequestFilter
    policy_resource = "erasure_request"
    # JSON only: identifiers never arrive as form fields (which end up in more places than a JSON body).
    parser_classes = [BoundedJSONParser]
    policy_verbs = {
        "execute": "write",
        "purge": "write",
        "matches": "read",
        "decide": "write",
        "refresh": "write",
        "reject": "review",
        "hold": "review",
        "release": "review",
        "extend": "review",
        "certificate": "download",
        "facts": "download",
    }

    def get_queryset(self) -> Any:
        return selectors.erasure_request_list()

    @extend_schema(request=ErasureRequestIn, responses={201: ErasureRequestOut})
    def create(self, request: Request) -> Response:
        _no_query_string(request)
        data = _valid(ErasureRequestIn, request.data)
        record = erasure.erasure_request_create(actor=request.user, **data)
        return Response(ErasureRequestOut(record).data, status=status.HTTP_201_CREATED)

    def _act(self, request: Request, call: Any, body: type[serializers.Serializer] | None = None) -> Response:
        _no_query_string(request)
        data = _valid(body, request.data) if body is not None else {}
        if body is None and request.data:
            raise ValidationFailed("this action takes no body", code="unexpected_body")
        record = call(actor=request.user, request=self.get_object(), **data)
        return Response(ErasureRequestOut(record).data)

    @extend_schema(request=None, responses={200: ErasureRequestOut})
    @action(detail=True, methods=["post"])
    def execute(self, request: Request, pk: str) -> Response:
        """Run the request: logical erasure now (in the worker), physical purge and verification after."""
        return self._act(request, erasure.erasure_request_execute)

    @extend_schema(request=None, responses={200: ErasureRequestOut})
    @action(detail=True, methods=["post"])
    def purge(self, request: Request, pk: str) -> Response:
        """An erased request: run the physical purge and the verification now, not at its due time."""
        return self._act(request, erasure.erasure_request_purge_now)

    @extend_schema(request=None, responses={200: ErasureRequestOut})
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str) -> Response:
        """Ask every store again what it holds for the subject."""
        return self._act(request, erasure.erasure_request_refresh)

    @extend_schema(request=RejectIn, responses={200: ErasureRequestOut})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        return self._act(request, erasure.erasure_request_reject, RejectIn)

    @extend_schema(request=ReasonIn, responses={200: ErasureRequestOut})
    @action(detail=True, methods=["post"])
    def hold(self, request: Request, pk: str) -> Response:
        """A legal hold: the request waits, with the reason, until released."""
        return self._act(request, erasure.erasure_request_hold, ReasonIn)

    @extend_schema(request=None, responses={200: ErasureRequestOut})
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str) -> Response:
        return self._act(request, erasure.erasure_request_release)

    @extend_schema(request=ExtendIn, responses={200: ErasureRequestOut})
    @action(detail=True, methods=["post"])
    def extend(self, request: Request, pk: str) -> Response:
        """Art. 12(3): extend the deadline by up to two months in total, with a reason."""
        return self._act(request, erasure.erasure_request_extend, ExtendIn)

    @extend_schema(request=None, responses={200: NameMatchOut(many=True)})
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def matches(self, request: Request, pk: str) -> Response:
        """Items that carry the subject's name and none of their other identifiers."""
        record = self.get_object()
        return Response(NameMatchOut(record.name_matches.all(), many=True).data)

    @extend_schema(request=DecideIn, responses={200: ErasureRequestOut})
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str) -> Response:
        """Confirm (erase) or exclude (keep) name-only matches, by their ids from `matches`."""
        _no_query_string(request)
        data = _valid(DecideIn, request.data)
        record = erasure.erasure_request_decide_matches(
            actor=request.user,
            request=self.get_object(),
            confirm=data.get("confirm", []),
            exclude=data.get("exclude", []),
        )
        return Response(ErasureRequestOut(record).data)

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"], filterset_class=None)
    def certificate(self, request: Request, pk: str) -> FileResponse:
        """The erasure certificate (PDF), once the request is completed."""
        path = selectors.certificate_path(self._completed())
        return FileResponse(
            path.open("rb"), as_attachment=True, filename=path.name, content_type="application/pdf"
        )

    @extend_schema(responses={200: dict[str, Any]})
    @action(detail=True, methods=["get"], filterset_class=None, url_path="certificate/facts")
    def facts(self, request: Request, pk: str) -> Response:
        """The certificate's facts as JSON (the same facts the PDF states)."""
        return Response(self._completed().certificate_facts)

    def _completed(self) -> ErasureRequest:
        record = self.get_object()
        if record.status != ErasureStatus.COMPLETED or not record.certificate_file:
            raise Conflict(
                "the certificate exists once the request is completed",
                code="certificate_not_ready",
                details={"status": record.status},
            )
        return record


class SuppressionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[SuppressedKey]
):
    """Subject keys of completed erasure requests: documents and records carrying one are refused."""

    serializer_class = SuppressionOut
    filterset_fields = ["request", "key_type"]
    policy_resource = "suppression"
    policy_verbs = {"lift": "review"}

    def get_queryset(self) -> Any:
        return selectors.suppression_list()

    @extend_schema(request=ReasonIn, responses={200: SuppressionOut})
    @action(detail=True, methods=["post"])
    def lift(self, request: Request, pk: str) -> Response:
        """Lift the suppression (audited, with a reason): the subject may be taken in again."""
        _no_query_string(request)
        data = _valid(ReasonIn, request.data)
        record = erasure.suppression_lift(actor=request.user, suppression=self.get_object(), **data)
        return Response(SuppressionOut(record).data)
