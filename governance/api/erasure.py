"""Data subject requests and the suppression list over the API (officers and auditors; engineers get 403).

/erasure-requests/ holds the erasure requests; /subject-requests/ holds every kind (erasure, access,
portability) with the same actions plus the response package of access and portability requests.

Identifiers travel in the JSON body only: a request that carries any query parameter on a write is
refused before anything is read, because URLs end up in access logs and browser histories.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Count, Q
from django.http import FileResponse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.parsers import BoundedJSONParser
from governance.api.validation import valid_input as _valid
from governance.choices import ALL_GROUNDS, ErasureStatus, NameMatchDecision, RequestKind
from governance.errors import Conflict, ValidationFailed
from governance.models import ErasureNameMatch, ErasureRequest, SubjectPackage, SuppressedKey
from governance.pii.identifiers import IDENTIFIER_TYPES
from governance.selectors import erasure as selectors
from governance.services import erasure, subject_access

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


class SubjectRequestIn(ErasureRequestIn):
    kind = serializers.ChoiceField(
        choices=RequestKind.choices, help_text="erasure (Art. 17), access (Art. 15) or portability (Art. 20)"
    )


class RejectIn(serializers.Serializer):
    ground = serializers.ChoiceField(
        choices=ALL_GROUNDS,
        help_text="Art. 17(3) grounds for erasure; manifestly_unfounded (Art. 12(5)) for any kind; "
        "rights_of_others for access and portability; not_portable for portability",
    )
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


class PackageOut(serializers.ModelSerializer):
    """A response package's metadata; its content and password never appear here."""

    available = serializers.SerializerMethodField()
    password_available = serializers.SerializerMethodField()

    class Meta:
        model = SubjectPackage
        fields = [
            "id",
            "sha256",
            "size_bytes",
            "summary",
            "single_use",
            "created_at",
            "expires_at",
            "available",
            "password_available",
            "password_shown_at",
            "download_count",
            "downloaded_at",
            "deleted_at",
            "deleted_reason",
        ]

    def get_available(self, obj: SubjectPackage) -> bool:
        return subject_access.is_available(obj)

    def get_password_available(self, obj: SubjectPackage) -> bool:
        return bool(obj.password_encrypted)


class PasswordOut(serializers.Serializer):
    password = serializers.CharField(help_text="Shown once: give it to the subject by another channel")
    package = PackageOut()


class ErasureRequestOut(serializers.ModelSerializer):
    overdue = serializers.SerializerMethodField()
    package = serializers.SerializerMethodField()
    subject_key_count = serializers.SerializerMethodField()
    name_matches = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()

    class Meta:
        model = ErasureRequest
        fields = [
            "id",
            "kind",
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
            "package",
            "created_at",
        ]

    @extend_schema_field(PackageOut(allow_null=True))
    def get_package(self, obj: ErasureRequest) -> dict[str, Any] | None:
        package = obj.packages.order_by("-created_at", "-id").first()
        return None if package is None else dict(PackageOut(package).data)

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
        fields = ["status", "reference", "kind"]

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
        """Run the request. Erasure: logical erasure now (in the worker), physical purge and verification
        after. Access or portability: the worker builds the package (again after a completed one; the new
        package replaces the old)."""
        return self._act(request, subject_access.subject_request_execute)

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
        erasure.refuse_unless_kind(record, [RequestKind.ERASURE], "certify")
        if record.status != ErasureStatus.COMPLETED or not record.certificate_file:
            raise Conflict(
                "the certificate exists once the request is completed",
                code="certificate_not_ready",
                details={"status": record.status},
            )
        return record


class SubjectRequestViewSet(ErasureRequestViewSet):
    """Data subject requests of every kind: erasure (Art. 17), access (Art. 15), portability (Art. 20).

    An access or portability request is executed into a response package: an AES-encrypted ZIP with a
    letter (PDF) and the data (JSON). The password is shown once (`package/password`); the package is
    downloaded until it expires, once when single use (410 afterwards).
    """

    policy_verbs = {
        **ErasureRequestViewSet.policy_verbs,
        "package": "write",
        "package_password": "write",
    }

    def get_queryset(self) -> Any:
        return selectors.erasure_request_list(kind=None)

    @extend_schema(request=SubjectRequestIn, responses={201: ErasureRequestOut})
    def create(self, request: Request) -> Response:
        _no_query_string(request)
        data = _valid(SubjectRequestIn, request.data)
        record = subject_access.subject_request_create(actor=request.user, **data)
        return Response(ErasureRequestOut(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "application/zip"): bytes})
    @action(detail=True, methods=["get"], filterset_class=None)
    def package(self, request: Request, pk: str) -> FileResponse:
        """The response package (AES-256 ZIP); 410 once expired, or downloaded when single use."""
        handle, package = subject_access.subject_package_open(actor=request.user, request=self.get_object())
        record = package.request
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=f"{record.kind}-request-{record.pk}.zip",
            content_type="application/zip",
        )
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=None, responses={200: PasswordOut})
    @action(detail=True, methods=["post"], url_path="package/password")
    def package_password(self, request: Request, pk: str) -> Response:
        """The package's password, once (410 password_already_shown afterwards)."""
        _no_query_string(request)
        if request.data:
            raise ValidationFailed("this action takes no body", code="unexpected_body")
        record = self.get_object()
        password = subject_access.subject_package_password(actor=request.user, request=record)
        package = subject_access.latest_package(record)
        return Response(
            {"password": password, "package": PackageOut(package).data}, headers={"Cache-Control": "no-store"}
        )


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
