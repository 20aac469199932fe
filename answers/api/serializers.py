"""Inputs and outputs of the answers API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from answers.models import AnswerRecord, PromptTemplate


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: DRF's IntegerField reads "3" and 3.0 as 3, which hid typed-wrong clients."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class AnswerIn(serializers.Serializer):
    question = serializers.CharField(trim_whitespace=False, allow_blank=True)
    k = StrictIntegerField(required=False, help_text="Fragments to retrieve, 1-20 (default 5)")
    max_new_tokens = StrictIntegerField(
        required=False, help_text="Tokens to generate at most; prompt + this must fit the model's context"
    )


class AnswerCitationOut(serializers.Serializer):
    number = serializers.IntegerField(help_text="The [n] the prompt numbered the fragment with")
    chunk_id = serializers.IntegerField()
    score = serializers.FloatField()
    text = serializers.CharField()
    citation = serializers.DictField()


class AnswerOut(serializers.Serializer):
    id = serializers.IntegerField(source="record.pk", help_text="The answer record (for feedback)")
    handoff = serializers.BooleanField(source="record.handoff")
    reason = serializers.CharField(source="record.handoff_reason", allow_blank=True)
    answer = serializers.CharField(allow_blank=True)
    citations = AnswerCitationOut(many=True)
    timings = serializers.DictField(source="record.timings", child=serializers.FloatField())
    deployment = serializers.IntegerField(source="record.deployment_id")
    base_model = serializers.IntegerField(source="record.base_model_id")
    adapter_version = serializers.IntegerField(source="record.adapter_version_id", allow_null=True)
    documentation_version = serializers.IntegerField(source="record.documentation_version", allow_null=True)
    prompt_template_version = serializers.IntegerField(source="record.prompt_template_version")
    tokens_generated = serializers.IntegerField(source="record.tokens_generated")


class AnswerRecordOut(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", default=None, allow_null=True)
    feedback_by = serializers.CharField(source="feedback_by.username", default=None, allow_null=True)

    class Meta:
        model = AnswerRecord
        fields = [
            "id", "created_at", "deployment", "user", "base_model", "adapter_version", "collection",
            "documentation_version", "prompt_template_version", "prompt_template_sha256", "backend", "k",
            "min_score", "chunks", "question_masked", "answer_masked", "pii_summary", "subject_keys",
            "handoff", "handoff_reason", "timings", "tokens_generated", "feedback_rating",
            "feedback_correction_masked", "feedback_at", "feedback_by",
        ]  # fmt: skip


class FeedbackIn(serializers.Serializer):
    rating = StrictIntegerField(help_text="-1 wrong, 0 neutral, 1 right")
    correction = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class PromptTemplateIn(serializers.Serializer):
    text = serializers.CharField(
        trim_whitespace=False, help_text="Placeholders: {question} (required), {context}"
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class PromptTemplateOut(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = PromptTemplate
        fields = ["id", "deployment", "version", "text", "sha256", "note", "created_at", "created_by"]


class SignalOut(serializers.Serializer):
    deployment = serializers.IntegerField()
    window = serializers.IntegerField()
    answers = serializers.IntegerField()
    handoffs = serializers.IntegerField()
    negative_feedback = serializers.IntegerField()
    weak = serializers.IntegerField(
        help_text="Answers handed off or rated wrong (one that is both counts once)"
    )
    share = serializers.FloatField()
    threshold = serializers.FloatField()
    flagged = serializers.BooleanField()


class RetrainOut(serializers.Serializer):
    job = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    dataset_version = serializers.IntegerField(source="dataset_version_id")
