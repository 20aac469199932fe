"""Reports over the API (officers and auditors; engineers get 403): audit, DPIA, records of processing.

Parameters come in the query string, checked strictly (unknown, repeated or empty ones refused). The
output choice is `output`, not `format`, which DRF keeps for its own content negotiation. Every report
names the audit chain head it covers in `X-Audit-Chain-Head-Sequence` / `X-Audit-Chain-Head-Hash`, and
its own `report.generated` event in `X-Report-Event`; the JSON documents and the PDFs state the head too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from governance.api.validation import valid_input as _valid
from governance.errors import NotFound
from governance.models import DPIA
from governance.services import reports
from governance.services.reports import ReportFile, ReportOutput

_FILE_RESPONSES = {
    (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
    (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT),
}


class FileNegotiation(BaseContentNegotiation):
    """These views answer with the file `output` names whatever the Accept header asks (a client asking
    for `application/pdf` got a 406 from DRF's negotiation), and their errors are JSON. A `format`
    parameter is left to the strict parameter check, which refuses it as unknown."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, str(renderer.media_type)


class ReportView(APIView):
    """Base of the report views: the "report" policy line, files out, JSON errors."""

    policy_resource = "report"
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FileNegotiation


@extend_schema_field(OpenApiTypes.DATETIME)
class PeriodBound(serializers.CharField):
    """An ISO date-time, or a date (the schema states the date-time form; the service reads both)."""


class AuditReportIn(serializers.Serializer):
    start = PeriodBound(max_length=40, help_text="ISO date or date-time; the period starts here")
    end = PeriodBound(
        max_length=40, help_text="ISO date (that whole day included) or date-time (not included)"
    )
    # The same patterns the service checks, so the schema states them.
    object_type = serializers.RegexField(
        r"^[a-z0-9_.]{1,100}$", max_length=100, required=False, help_text="e.g. governance.dpia"
    )
    object_id = serializers.RegexField(
        r"^[A-Za-z0-9_.:-]{1,64}$",
        max_length=64,
        required=False,
        error_messages={"invalid": "letters, digits and _ . : - only (an id, never a person's identifier)"},
    )
    action = serializers.RegexField(
        r"^[a-z0-9_.]{1,100}$", max_length=100, required=False, help_text="e.g. dpia.approved"
    )
    output = serializers.ChoiceField(choices=ReportOutput.choices, default=ReportOutput.CSV)


class RecordsOfProcessingIn(serializers.Serializer):
    output = serializers.ChoiceField(choices=ReportOutput.choices, default=ReportOutput.CSV)


class NoParametersIn(serializers.Serializer):
    pass


def file_response(report: ReportFile) -> HttpResponse | StreamingHttpResponse:
    """The report as a download, labelled with the chain head it covers and its own audit event."""
    response: HttpResponse | StreamingHttpResponse
    if report.chunks is not None:
        response = StreamingHttpResponse(report.chunks, content_type=report.content_type)
    else:
        response = HttpResponse(report.content, content_type=report.content_type)
        response["Content-Length"] = str(len(report.content or b""))
    response["Content-Disposition"] = content_disposition_header(True, report.filename)
    response["X-Audit-Chain-Head-Sequence"] = str(report.head_sequence)
    response["X-Audit-Chain-Head-Hash"] = report.head_hash
    response["X-Report-Event"] = str(report.event_sequence)
    response["Cache-Control"] = "no-store"
    if report.sha256:
        response["X-Report-Sha256"] = report.sha256
    return response


class AuditReportView(ReportView):
    """The audit events of a period (and optional object or action), as PDF, CSV or JSON."""

    @extend_schema(parameters=[AuditReportIn], responses=_FILE_RESPONSES)
    def get(self, request: Request) -> Any:
        data = _valid(AuditReportIn, request.query_params)
        output = data.pop("output")
        where = reports.report_audit_filter(**data)
        return file_response(reports.report_audit_generate(actor=request.user, where=where, output=output))


class DPIAReportView(ReportView):
    """A DPIA after the CNIL structure, with its risk map, as a PDF."""

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> Any:
        _valid(NoParametersIn, request.query_params)
        record = DPIA.objects.select_related("ai_system", "reviewer").filter(pk=pk).first()
        if record is None:
            raise NotFound("no DPIA with this id", details={"id": pk})
        return file_response(reports.report_dpia_generate(actor=request.user, dpia=record))


class RecordsOfProcessingView(ReportView):
    """GDPR Art. 30 records (one row per AI system and dataset) as CSV, JSON or PDF."""

    @extend_schema(parameters=[RecordsOfProcessingIn], responses=_FILE_RESPONSES)
    def get(self, request: Request) -> Any:
        data = _valid(RecordsOfProcessingIn, request.query_params)
        report = reports.report_records_of_processing_generate(actor=request.user, output=data["output"])
        return file_response(report)
