"""Retention over the API: legal holds (officers record and lift; auditors read) and the retention report."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.reports import FileNegotiation
from governance.api.validation import valid_input as _valid
from governance.models import Dataset, LegalHold, RetentionRun
from governance.services import retention


class LegalHoldOut(serializers.ModelSerializer):
    active = serializers.BooleanField(read_only=True)

    class Meta:
        model = LegalHold
        fields = [
            "id",
            "dataset",
            "collection",
            "reason",
            "active",
            "created_at",
            "created_by",
            "lifted_at",
            "lifted_by",
            "lift_reason",
        ]


class LegalHoldIn(serializers.Serializer):
    dataset = serializers.PrimaryKeyRelatedField(
        queryset=Dataset.objects.all(), required=False, allow_null=True
    )
    collection = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    # Blank is let through so the service answers with its own code (400 hold_reason_required).
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class LiftIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class RetentionRunOut(serializers.ModelSerializer):
    class Meta:
        model = RetentionRun
        fields = list(retention.REPORT_COLUMNS)  # the report's JSON and CSV name the same columns


class LegalHoldViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[LegalHold],
):
    """Legal holds on datasets and collections: while one is active, retention removes nothing of it."""

    serializer_class = LegalHoldOut
    filterset_fields = ["dataset", "collection"]
    policy_resource = "retention"
    policy_verbs = {"lift": "write"}

    def get_queryset(self) -> Any:
        return retention.legal_hold_list()

    @extend_schema(request=LegalHoldIn, responses={201: LegalHoldOut})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _valid(LegalHoldIn, request.data)
        collection = retention.hold_collection(data.get("collection"))
        hold = retention.legal_hold_create(
            actor=request.user, reason=data["reason"], dataset=data.get("dataset"), collection=collection
        )
        return Response(LegalHoldOut(hold).data, status=201)

    @extend_schema(request=LiftIn, responses={200: LegalHoldOut})
    @action(detail=True, methods=["post"])
    def lift(self, request: Request, pk: str) -> Response:
        """Lift the hold (who and when are recorded); the next sweep removes what fell due."""
        data = _valid(LiftIn, request.data)
        hold = retention.legal_hold_lift(actor=request.user, hold=self.get_object(), reason=data["reason"])
        return Response(LegalHoldOut(hold).data)


class RetentionReportIn(serializers.Serializer):
    output = serializers.ChoiceField(choices=[("csv", "CSV"), ("json", "JSON")], default="json")


class RetentionReportView(APIView):
    """What retention deleted (or noticed, or kept under a hold) when, under which rule: CSV or JSON."""

    policy_resource = "retention"
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FileNegotiation

    @extend_schema(
        parameters=[RetentionReportIn],
        responses={
            (200, "application/json"): OpenApiResponse(RetentionRunOut(many=True)),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
        },
    )
    def get(self, request: Request) -> Any:
        data = _valid(RetentionReportIn, request.query_params)
        rows = retention.retention_report(actor=request.user, output=data["output"])
        if data["output"] == "json":
            return Response(rows)
        response = HttpResponse(retention.report_csv(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(True, "retention-report.csv")
        response["Cache-Control"] = "no-store"
        return response
