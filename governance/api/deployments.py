"""Deployments over the API: request, gates, approve (four eyes), activate, retire, documentation."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Model
from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.parsers import BoundedJSONParser
from governance.api.validation import valid_input as _valid
from governance.choices import AnswerBackend, Environment
from governance.errors import NotFound, ValidationFailed
from governance.models import AISystem, Deployment, DeploymentDocumentation
from governance.selectors import deployments as selectors
from governance.services import deployments, documentation

# --- Serializers -----------------------------------------------------------------------------------


def _related(field: str) -> Any:
    """The model a Deployment foreign key points at (governance names no other app's model)."""
    return Deployment._meta.get_field(field).related_model


class DeploymentIn(serializers.Serializer):
    ai_system = serializers.PrimaryKeyRelatedField(queryset=AISystem.objects.all())
    base_model = serializers.PrimaryKeyRelatedField(queryset=_related("base_model").objects.all())
    adapter_version = serializers.PrimaryKeyRelatedField(
        queryset=_related("adapter_version").objects.all(), required=False, allow_null=True
    )
    collection = serializers.PrimaryKeyRelatedField(
        queryset=_related("collection").objects.all(), required=False, allow_null=True
    )
    environment = serializers.ChoiceField(choices=Environment.choices)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    answer_backend = serializers.ChoiceField(choices=AnswerBackend.choices, required=False)
    inference_url = serializers.CharField(required=False, allow_blank=True, max_length=200)
    inference_model = serializers.CharField(required=False, allow_blank=True, max_length=200)
    requires_grounding = serializers.BooleanField(required=False)


class RetireIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class DocumentationOut(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = DeploymentDocumentation
        fields = [
            "id",
            "version",
            "facts_sha256",
            "pdf_sha256",
            "pdf_size",
            "missing",
            "chain_head_sequence",
            "chain_head_hash",
            "created_at",
            "created_by",
            "facts",
        ]


class DeploymentOut(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username")
    approved_by = serializers.CharField(source="approved_by.username", default=None, allow_null=True)
    documentation_version = serializers.IntegerField(
        source="documentation.version", default=None, allow_null=True
    )

    class Meta:
        model = Deployment
        fields = [
            "id",
            "ai_system",
            "base_model",
            "adapter_version",
            "collection",
            "environment",
            "status",
            "notes",
            "answer_backend",
            "inference_url",
            "inference_model",
            "requires_grounding",
            "requested_by",
            "approved_by",
            "approved_at",
            "gate_results",
            "documentation_version",
            "activated_at",
            "retired_at",
            "retired_reason",
            "blocked_at",
            "blocked_from",
            "blocked_reasons",
            "created_at",
        ]


class GateOut(serializers.Serializer):
    gate = serializers.CharField()
    status = serializers.ChoiceField(choices=["passed", "failed"])
    code = serializers.CharField()
    checks = serializers.CharField()
    message = serializers.CharField()
    remedy = serializers.CharField(required=False)
    details = serializers.JSONField(required=False)


class GatesOut(serializers.Serializer):
    deployment = serializers.IntegerField()
    passed = serializers.BooleanField()
    gates = GateOut(many=True)


# --- Views ---------------------------------------------------------------------------------------


class DeploymentFilter(django_filters.FilterSet):
    class Meta:
        model = Deployment
        fields = ["ai_system", "environment", "status", "adapter_version", "collection"]


_VERSION = OpenApiParameter(
    "version", int, description="A documentation version number (default: the newest)", required=False
)


class DeploymentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Deployment]
):
    """Deployments: an engineer requests, an officer who is not the requester approves, gates hold."""

    serializer_class = DeploymentOut
    filterset_class = DeploymentFilter
    policy_resource = "deployment"
    parser_classes = [BoundedJSONParser]
    extra_query_params: tuple[str, ...] = ()  # the documentation routes take ?version=
    policy_verbs = {
        "approve": "review",
        "activate": "write",
        "retire": "write",
        "gates": "read",
        "documentation": "download",
        "documentation_pdf": "download",
    }

    def get_queryset(self) -> Any:
        return selectors.deployment_list()

    @extend_schema(request=DeploymentIn, responses={201: DeploymentOut})
    def create(self, request: Request) -> Response:
        data = _valid(DeploymentIn, request.data)
        deployment = deployments.deployment_request(actor=request.user, **data)
        return Response(DeploymentOut(deployment).data, status=status.HTTP_201_CREATED)

    def _no_body(self, request: Request) -> None:
        if request.data:
            raise ValidationFailed("this action takes no body", code="unexpected_body")

    @extend_schema(responses={200: GatesOut})
    @action(detail=True, methods=["get"], filterset_class=None)
    def gates(self, request: Request, pk: str) -> Response:
        """Every gate of the deployment, passing or failing, with what it checks and what fixes it."""
        deployment = self.get_object()
        report = deployments.gate_report(deployment)
        return Response(
            {
                "deployment": deployment.pk,
                "passed": not deployments.failed_gates(report),
                "gates": report,
            }
        )

    @extend_schema(request=None, responses={200: DeploymentOut})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """Approve (a compliance officer who is not the requester); 409 `gates_failed` lists each failure."""
        self._no_body(request)
        deployment = deployments.deployment_approve(actor=request.user, deployment=self.get_object())
        return Response(DeploymentOut(selectors.deployment_get(deployment.pk)).data)

    @extend_schema(request=None, responses={200: DeploymentOut})
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        """Serve an approved deployment; the system's active one in the same environment retires."""
        self._no_body(request)
        deployment = deployments.deployment_activate(actor=request.user, deployment=self.get_object())
        return Response(DeploymentOut(selectors.deployment_get(deployment.pk)).data)

    @extend_schema(request=RetireIn, responses={200: DeploymentOut})
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str) -> Response:
        data = _valid(RetireIn, request.data)
        deployment = deployments.deployment_retire(actor=request.user, deployment=self.get_object(), **data)
        return Response(DeploymentOut(selectors.deployment_get(deployment.pk)).data)

    @extend_schema(methods=["GET"], parameters=[_VERSION], responses={200: DocumentationOut}, request=None)
    @extend_schema(methods=["POST"], request=None, responses={200: DocumentationOut, 201: DocumentationOut})
    @action(detail=True, methods=["get", "post"], filterset_class=None, extra_query_params=("version",))
    def documentation(self, request: Request, pk: str) -> Response:
        """GET: a documentation version's facts (JSON). POST: generate it for the current facts.

        POST answers 201 with a new version when the facts changed since the newest, else 200 with it.
        """
        deployment = self.get_object()
        if request.method == "POST":
            self._no_body(request)
            doc, created = documentation.documentation_generate(actor=request.user, deployment=deployment)
            code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
            return Response(DocumentationOut(doc).data, status=code)
        return Response(DocumentationOut(self._version(request, deployment)).data)

    @extend_schema(parameters=[_VERSION], responses={(200, "application/pdf"): bytes})
    @action(
        detail=True,
        methods=["get"],
        filterset_class=None,
        url_path="documentation/pdf",
        extra_query_params=("version",),
    )
    def documentation_pdf(self, request: Request, pk: str) -> FileResponse:
        """The documentation version's PDF, byte for byte as generated (its sha256 is in the audit chain)."""
        doc = self._version(request, self.get_object())
        path = documentation.documentation_pdf_path(doc)
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"annex-iv-deployment-{doc.deployment_id}-v{doc.version}.pdf",
            content_type="application/pdf",
        )

    def _version(self, request: Request, deployment: Model) -> DeploymentDocumentation:
        raw = request.query_params.get("version")
        number: int | None = None
        if raw is not None:
            if not raw.isdigit() or not 1 <= int(raw) <= 2**31 - 1:
                raise ValidationFailed(
                    "version must be a positive whole number",
                    code="invalid_version",
                    details={"field": "version"},
                )
            number = int(raw)
        doc = selectors.documentation_version(deployment.pk, number)
        if doc is None:
            raise NotFound(
                "no documentation has been generated for this deployment"
                if number is None
                else f"the deployment has no documentation version {number}",
                code="documentation_not_found",
            )
        return doc
