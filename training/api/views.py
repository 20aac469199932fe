"""Training API views: thin, each action validates its input and calls one service or selector.

Who may call what is governance/policy.py (tested in tests/training/test_permissions.py): every role
reads; engineers and officers register base models, create and cancel jobs and record evaluations;
officers taint base models and approve, retire and taint adapters; engineers and officers download
adapter weights.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.validation import valid_input as _valid
from training import selectors
from training.api import serializers as s
from training.models import AdapterVersion, BaseModel, Evaluation, FineTuneJob
from training.services import adapters, base_models, evaluations, jobs


class BaseModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[BaseModel]):
    """Local base models: architecture and size from config.json, sha256 manifest of the weights; taint."""

    serializer_class = s.BaseModelOut
    policy_resource = "base_model"
    policy_verbs = {"taint": "review"}
    filterset_fields = ["status", "architecture", "model_type"]

    def get_queryset(self) -> Any:
        return selectors.base_model_list()

    @extend_schema(request=s.BaseModelIn, responses={201: s.BaseModelOut})
    def create(self, request: Request) -> Response:
        data = _valid(s.BaseModelIn, request.data)
        model = base_models.base_model_register(actor=request.user, **data)
        return Response(s.BaseModelOut(model).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TaintIn, responses={200: s.BaseModelOut})
    @action(detail=True, methods=["post"])
    def taint(self, request: Request, pk: str) -> Response:
        data = _valid(s.TaintIn, request.data)
        model = base_models.base_model_taint(actor=request.user, base_model=self.get_object(), **data)
        return Response(s.BaseModelOut(model).data)


class FineTuneJobFilter(django_filters.FilterSet):
    class Meta:
        model = FineTuneJob
        fields = ["status", "ai_system", "base_model", "dataset_version"]


class FineTuneJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[FineTuneJob]
):
    """Fine-tune jobs, shaped like the OpenAI fine-tuning API: create, list, retrieve, cancel, events."""

    serializer_class = s.FineTuneJobOut
    policy_resource = "fine_tune_job"
    filterset_class = FineTuneJobFilter

    def get_queryset(self) -> Any:
        return selectors.fine_tune_job_list()

    @extend_schema(request=s.FineTuneJobIn, responses={201: s.FineTuneJobOut, 200: s.FineTuneJobOut})
    def create(self, request: Request) -> Response:
        data = _valid(s.FineTuneJobIn, request.data)
        data.setdefault("idempotency_key", request.headers.get("Idempotency-Key") or None)
        job, created = jobs.fine_tune_job_create(actor=request.user, **data)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.FineTuneJobOut(job).data, status=code)

    @extend_schema(request=None, responses={200: s.FineTuneJobOut})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        job = jobs.fine_tune_job_cancel(actor=request.user, job=self.get_object())
        return Response(s.FineTuneJobOut(job).data)

    @extend_schema(responses={200: s.FineTuneEventOut(many=True)})
    @action(detail=True, methods=["get"], filterset_class=None)
    def events(self, request: Request, pk: str) -> Response:
        events: Any = selectors.fine_tune_event_list(self.get_object())  # another model than the viewset's
        page = self.paginate_queryset(events)
        return self.get_paginated_response(s.FineTuneEventOut(page, many=True).data)


class AdapterVersionFilter(django_filters.FilterSet):
    class Meta:
        model = AdapterVersion
        fields = ["status", "ai_system", "base_model", "dataset_version", "job"]


class AdapterVersionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[AdapterVersion]
):
    """Adapter versions with lineage and evaluations; download, approve, retire, taint."""

    serializer_class = s.AdapterVersionOut
    filterset_class = AdapterVersionFilter
    policy_resource = "adapter"
    policy_verbs = {"download": "download", "approve": "review", "retire": "review", "taint": "review"}

    def get_queryset(self) -> Any:
        return selectors.adapter_version_list()

    def get_serializer_class(self) -> Any:
        return s.AdapterVersionDetailOut if self.action == "retrieve" else s.AdapterVersionOut

    @extend_schema(responses={(200, "application/zip"): bytes})
    @action(detail=True, methods=["get"], filterset_class=None)
    def download(self, request: Request, pk: str) -> FileResponse:
        path = adapters.adapter_version_download(actor=request.user, adapter=self.get_object())
        handle = path.open("rb")
        path.unlink()  # the open handle keeps the bytes until the response is sent
        adapter = self.get_object()
        return FileResponse(
            handle, as_attachment=True, filename=f"{adapter.name}.zip", content_type="application/zip"
        )

    @extend_schema(request=s.AdapterApproveIn, responses={200: s.AdapterVersionOut})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        data = _valid(s.AdapterApproveIn, request.data)
        adapter = adapters.adapter_version_approve(actor=request.user, adapter=self.get_object(), **data)
        return Response(s.AdapterVersionOut(adapter).data)

    @extend_schema(request=None, responses={200: s.AdapterVersionOut})
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str) -> Response:
        adapter = adapters.adapter_version_retire(actor=request.user, adapter=self.get_object())
        return Response(s.AdapterVersionOut(adapter).data)

    @extend_schema(request=s.TaintIn, responses={200: s.AdapterVersionOut})
    @action(detail=True, methods=["post"])
    def taint(self, request: Request, pk: str) -> Response:
        data = _valid(s.TaintIn, request.data)
        adapter = adapters.adapter_version_taint(actor=request.user, adapter=self.get_object(), **data)
        return Response(s.AdapterVersionOut(adapter).data)


class EvaluationFilter(django_filters.FilterSet):
    class Meta:
        model = Evaluation
        fields = ["subject", "adapter_version", "base_model", "ai_system", "dataset_version", "job", "source"]


class EvaluationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Evaluation]
):
    """Hold-out evaluations; POST records results computed outside the platform."""

    serializer_class = s.EvaluationOut
    policy_resource = "evaluation"
    filterset_class = EvaluationFilter

    def get_queryset(self) -> Any:
        return selectors.evaluation_list()

    @extend_schema(request=s.EvaluationIn, responses={201: s.EvaluationOut})
    def create(self, request: Request) -> Response:
        data = _valid(s.EvaluationIn, request.data)
        primary = data.pop("primary_metric", None)
        evaluation = evaluations.evaluation_create(actor=request.user, primary_metric_name=primary, **data)
        return Response(s.EvaluationOut(evaluation).data, status=status.HTTP_201_CREATED)
