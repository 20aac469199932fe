"""Answer with an active deployment, version its prompt, read the answer register, give feedback."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from answers import services
from answers.api import serializers as s
from answers.models import AnswerRecord, PromptTemplate
from governance.api.parsers import BoundedJSONParser
from governance.api.validation import valid_input
from governance.errors import ValidationFailed
from governance.models import Deployment
from governance.policy import READ, REVIEW, WRITE
from governance.selectors.deployments import deployment_list


def _no_body(request: Request) -> None:
    if request.data:
        raise ValidationFailed("this action takes no body", code="unexpected_body")


class DeploymentAnswerViewSet(viewsets.GenericViewSet[Deployment]):
    """POST /deployments/{id}/answer/ and /retrain/: what uses the answer register's policy line."""

    serializer_class = s.AnswerIn  # what OPTIONS describes (DRF's metadata asks for one)
    policy_resource = "answer"
    policy_verbs = {"answer": WRITE, "retrain": REVIEW}
    parser_classes = [BoundedJSONParser]
    filterset_class = None

    def get_queryset(self) -> Any:
        # What an answer reads, in one query; the large JSON columns (gates, documentation facts) stay behind.
        return (
            Deployment.objects.select_related("base_model", "adapter_version", "collection", "documentation")
            .defer("gate_results", "documentation__facts", "documentation__missing")
            .order_by("pk")
        )

    @extend_schema(request=s.AnswerIn, responses={200: s.AnswerOut})
    def answer(self, request: Request, pk: int) -> Response:
        """Answer a question with an active deployment: cited, or a hand-off (`handoff: true`)."""
        deployment = self.get_object()
        data = valid_input(s.AnswerIn, request.data)
        result = services.deployment_answer(actor=request.user, deployment=deployment, **data)
        return Response(s.AnswerOut(result).data)

    @extend_schema(request=None, responses={201: s.RetrainOut, 200: s.RetrainOut})
    def retrain(self, request: Request, pk: int) -> Response:
        """Queue a retrain on the newest ready dataset version (an officer, through the gates).

        201 with the new job; 200 with the job already queued for that version (nothing new is created).
        """
        _no_body(request)
        job, created = services.deployment_retrain(actor=request.user, deployment=self.get_object())
        return Response(
            s.RetrainOut(job).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class DeploymentPromptViewSet(viewsets.GenericViewSet[Deployment]):
    """A deployment's prompt templates and retraining signal: readable by everyone who reads deployments."""

    serializer_class = s.PromptTemplateIn  # what OPTIONS describes (DRF's metadata asks for one)
    policy_resource = "deployment"
    policy_verbs = {"prompt_templates": READ, "prompt_template_create": WRITE, "retraining_signal": READ}
    parser_classes = [BoundedJSONParser]
    filterset_class = None
    pagination_class = None

    def get_queryset(self) -> Any:
        return deployment_list()

    @extend_schema(responses={200: s.PromptTemplateOut(many=True)})
    def prompt_templates(self, request: Request, pk: int) -> Response:
        """Every version, newest first; none saved means the built-in template (version 0) answers."""
        deployment = self.get_object()
        rows = PromptTemplate.objects.filter(deployment=deployment).select_related("created_by")
        return Response(s.PromptTemplateOut(rows, many=True).data)

    @extend_schema(request=s.PromptTemplateIn, responses={201: s.PromptTemplateOut})
    def prompt_template_create(self, request: Request, pk: int) -> Response:
        """A new version; an unknown placeholder is refused (`unknown_placeholder`)."""
        deployment = self.get_object()
        data = valid_input(s.PromptTemplateIn, request.data)
        template = services.prompt_template_create(actor=request.user, deployment=deployment, **data)
        return Response(s.PromptTemplateOut(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.SignalOut})
    def retraining_signal(self, request: Request, pk: int) -> Response:
        return Response(s.SignalOut(services.retraining_signal(self.get_object())).data)


class AnswerRecordFilter(django_filters.FilterSet):
    class Meta:
        model = AnswerRecord
        fields = ["deployment", "handoff", "feedback_rating"]


class AnswerRecordViewSet(viewsets.ReadOnlyModelViewSet[AnswerRecord]):
    """The Art. 12 answer register: compliance officers and auditors read it; feedback from writers."""

    serializer_class = s.AnswerRecordOut
    policy_resource = "answer"
    policy_verbs = {"feedback": WRITE}
    filterset_class = AnswerRecordFilter

    def get_queryset(self) -> Any:
        return services.answers_for(self.request.user)

    @extend_schema(request=s.FeedbackIn, responses={200: s.AnswerRecordOut})
    def feedback(self, request: Request, pk: int) -> Response:
        """Rate an answer (-1, 0, 1) and correct it; negative ratings feed the retraining signal."""
        record = AnswerRecord.objects.get(pk=self._record_pk(pk))
        data = valid_input(s.FeedbackIn, request.data)
        record = services.answer_feedback(actor=request.user, record=record, **data)
        return Response(s.AnswerRecordOut(record).data)

    def _record_pk(self, pk: Any) -> int:
        from governance.errors import NotFound

        try:
            number = int(pk)
        except (TypeError, ValueError):
            raise NotFound("no such answer") from None
        if not AnswerRecord.objects.filter(pk=number).exists():
            raise NotFound("no such answer", details={"id": pk})
        return number
