"""Governance API views: thin, each action calls one service or selector."""

from __future__ import annotations

from typing import Any

import django_filters
from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api import serializers as s
from governance.api.advisor import AdvisorIn, AdvisorRecordOut, advisor_input
from governance.api.parsers import BoundedJSONParser, StrictMultiPartParser
from governance.api.validation import valid_input as _valid
from governance.errors import TooLarge, TooManyRequests, ValidationFailed
from governance.models import DPIA, AISystem, AuditEvent, Dataset, DatasetVersion
from governance.selectors import registers
from governance.services import audit, datasets, dpia, systems
from governance.services.advisor import ai_system_advisor_record


class TokenView(ObtainAuthToken):
    """Exchange a username and password for an API token."""

    permission_classes = [AllowAny]
    # A client whose old token expired must still be able to log in: credentials sent alongside the
    # body (a stale `Authorization: Token ...`) are not checked here.
    authentication_classes: list[Any] = []
    parser_classes = [BoundedJSONParser]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except DRFValidationError:
            # django-axes marks the request once this username and address are locked out (settings:
            # AXES_FAILURE_LIMIT); from then on even the right password is refused until the cool-off.
            if getattr(request, "axes_locked_out", False):
                raise TooManyRequests(
                    "too many failed logins for this account from this address; try again later",
                    code="too_many_login_attempts",
                    details={"retry_after_minutes": settings.AXES_COOLOFF_MINUTES},
                ) from None
            raise


class AISystemFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = AISystem
        fields = ["risk_class", "approach", "status"]


class AISystemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[AISystem]):
    """AI systems register."""

    serializer_class = s.AISystemOut
    filterset_class = AISystemFilter
    policy_resource = "ai_system"

    def get_queryset(self) -> Any:
        return registers.ai_system_list()

    @extend_schema(request=s.AISystemIn, responses={201: s.AISystemOut})
    def create(self, request: Request) -> Response:
        data = _valid(s.AISystemIn, request.data)
        data.setdefault("owner", request.user)
        system = systems.ai_system_create(actor=request.user, **data)
        return Response(s.AISystemOut(system).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.AISystemUpdateIn, responses={200: s.AISystemOut})
    def partial_update(self, request: Request, pk: str) -> Response:
        data = _valid(s.AISystemUpdateIn, request.data, partial=True)
        system = systems.ai_system_update(actor=request.user, system=self.get_object(), **data)
        return Response(s.AISystemOut(system).data)

    @extend_schema(request=AdvisorIn, responses={200: AdvisorRecordOut})
    @action(detail=True, methods=["post"], parser_classes=[BoundedJSONParser], filterset_class=None)
    def advisor(self, request: Request, pk: str) -> Response:
        """Answer the advisor's questions: the recommendation and costs are stored on the system."""
        data = advisor_input(request.data)
        system = ai_system_advisor_record(
            actor=request.user,
            system=self.get_object(),
            answers=data["answers"],
            assumptions=data.get("assumptions"),
        )
        return Response(system.advisor_assessment)


class DatasetFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    ai_system = django_filters.NumberFilter(field_name="ai_systems")

    class Meta:
        model = Dataset
        fields = ["purpose", "legal_basis", "contains_personal_data"]


class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Dataset]):
    """Datasets and their immutable versions."""

    serializer_class = s.DatasetOut
    filterset_class = DatasetFilter
    policy_resource = "dataset"

    def get_queryset(self) -> Any:
        return registers.dataset_list()

    @extend_schema(request=s.DatasetIn, responses={201: s.DatasetOut})
    def create(self, request: Request) -> Response:
        data = _valid(s.DatasetIn, request.data)
        data.setdefault("owner", request.user)
        dataset = datasets.dataset_create(actor=request.user, **data)
        return Response(s.DatasetOut(dataset).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DatasetIn, responses={200: s.DatasetOut})
    def partial_update(self, request: Request, pk: str) -> Response:
        data = _valid(s.DatasetIn, request.data, partial=True)
        dataset = datasets.dataset_update(actor=request.user, dataset=self.get_object(), **data)
        return Response(s.DatasetOut(dataset).data)

    @extend_schema(methods=["GET"], responses={200: s.DatasetVersionOut(many=True)})
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": s.DatasetVersionIn},
        responses={201: s.DatasetVersionOut},
    )
    @action(
        detail=True, methods=["get", "post"], parser_classes=[StrictMultiPartParser], filterset_class=None
    )
    def versions(self, request: Request, pk: str) -> Response:
        dataset = self.get_object()
        if request.method == "GET":
            versions: Any = registers.dataset_version_list().filter(dataset=dataset)
            page = self.paginate_queryset(versions)
            return self.get_paginated_response(s.DatasetVersionOut(page, many=True).data)
        _check_content_length(request)
        data = _valid(s.DatasetVersionIn, request.data)
        upload = data["file"]
        version = datasets.dataset_version_create(
            actor=request.user,
            dataset=dataset,
            stream=upload.file,
            filename=upload.name,
            size=upload.size,
            holdout_fraction=data.get("holdout_fraction"),
            split_seed=data.get("split_seed", 0),
            reason=data.get("reason", ""),
        )
        return Response(s.DatasetVersionOut(version).data, status=status.HTTP_201_CREATED)


def _check_content_length(request: Request) -> None:
    # Refuse before the body is read: Django would otherwise spool a multi-gigabyte upload to disk.
    length = request.META.get("CONTENT_LENGTH") or "0"
    limit = settings.DATASET_MAX_BYTES + 64 * 1024  # room for the multipart envelope
    if length.isdigit() and int(length) > limit:
        raise TooLarge(
            f"the upload is {length} bytes; the limit is {settings.DATASET_MAX_BYTES}",
            code="file_too_large",
            details={"limit_bytes": settings.DATASET_MAX_BYTES},
        )


class DatasetVersionFilter(django_filters.FilterSet):
    class Meta:
        model = DatasetVersion
        fields = ["dataset", "status", "contains_personal_data"]


class DatasetVersionViewSet(viewsets.ReadOnlyModelViewSet[DatasetVersion]):
    """Read-only view of every dataset version with its scan status and progress."""

    serializer_class = s.DatasetVersionOut
    filterset_class = DatasetVersionFilter
    policy_resource = "dataset_version"

    def get_queryset(self) -> Any:
        return registers.dataset_version_list()


class DPIAFilter(django_filters.FilterSet):
    class Meta:
        model = DPIA
        fields = ["status", "ai_system"]


class DPIAViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[DPIA]):
    """DPIAs with the review workflow."""

    serializer_class = s.DPIAOut
    filterset_class = DPIAFilter
    policy_resource = "dpia"
    policy_verbs = {"approve": "review", "reject": "review"}

    def get_queryset(self) -> Any:
        return registers.dpia_list()

    @extend_schema(request=s.DPIAIn, responses={201: s.DPIAOut})
    def create(self, request: Request) -> Response:
        data = _valid(s.DPIAIn, request.data)
        record = dpia.dpia_create(actor=request.user, **data)
        return Response(s.DPIAOut(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DPIAIn, responses={200: s.DPIAOut})
    def partial_update(self, request: Request, pk: str) -> Response:
        data = _valid(s.DPIAIn, request.data, partial=True)
        record = self.get_object()
        if "ai_system" in data and data.pop("ai_system") != record.ai_system:
            raise ValidationFailed("a DPIA cannot move to another AI system", code="ai_system_immutable")
        record = dpia.dpia_update(actor=request.user, dpia=record, **data)
        return Response(s.DPIAOut(record).data)

    @extend_schema(request=None, responses={200: s.DPIAOut})
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str) -> Response:
        record = dpia.dpia_submit(actor=request.user, dpia=self.get_object())
        return Response(s.DPIAOut(record).data)

    @extend_schema(request=s.DPIAApproveIn, responses={200: s.DPIAOut})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        data = _valid(s.DPIAApproveIn, request.data)
        record = dpia.dpia_approve(actor=request.user, dpia=self.get_object(), **data)
        return Response(s.DPIAOut(record).data)

    @extend_schema(request=s.DPIARejectIn, responses={200: s.DPIAOut})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        data = _valid(s.DPIARejectIn, request.data)
        record = dpia.dpia_reject(actor=request.user, dpia=self.get_object(), **data)
        return Response(s.DPIAOut(record).data)


class AuditEventFilter(django_filters.FilterSet):
    sequence_from = django_filters.NumberFilter(field_name="sequence", lookup_expr="gte")
    sequence_to = django_filters.NumberFilter(field_name="sequence", lookup_expr="lte")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lte")

    class Meta:
        model = AuditEvent
        fields = ["action", "object_type", "object_id", "actor"]


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet[AuditEvent]):
    """The audit chain, newest first, and its verification."""

    serializer_class = s.AuditEventOut
    filterset_class = AuditEventFilter
    lookup_field = "sequence"
    policy_resource = "audit_event"

    def get_queryset(self) -> Any:
        return registers.audit_event_list()

    @extend_schema(responses={200: s.ChainVerificationOut})
    @action(detail=False, methods=["get"], filterset_class=None)
    def verify(self, request: Request) -> Response:
        result = audit.audit_verify_chain()
        return Response(result.as_dict())
