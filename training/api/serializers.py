"""Input and output serializers of the training API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from governance.models import AISystem, DatasetVersion
from training.models import AdapterVersion, BaseModel, Evaluation, FineTuneEvent, FineTuneJob
from training.services.adapters import OVERRIDE_MAX_CHARS, OVERRIDE_MIN_CHARS


class BaseModelOut(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = BaseModel
        fields = [
            "id",
            "name",
            "path",
            "licence",
            "architecture",
            "model_type",
            "parameter_count",
            "max_sequence_length",
            "config_sha256",
            "module_names",
            "default_target_modules",
            "status",
            "manifest",
            "manifest_sha256",
            "size_bytes",
            "manifest_error",
            "taint_reason",
            "created_by",
            "created_at",
        ]


class BaseModelIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    path = serializers.CharField(max_length=1000)
    licence = serializers.CharField(max_length=200, required=False, allow_blank=True)


class FineTuneJobOut(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    adapter = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = FineTuneJob
        fields = [
            "id",
            "object",
            "ai_system",
            "base_model",
            "dataset_version",
            "hyperparameters",
            "seed",
            "idempotency_key",
            "status",
            "attempts",
            "worker_host",
            "device",
            "current_step",
            "total_steps",
            "progress",
            "train_tokens",
            "train_seconds",
            "startup_seconds",
            "error",
            "adapter",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_object(self, job: FineTuneJob) -> str:
        return "fine_tuning.job"

    def get_adapter(self, job: FineTuneJob) -> int | None:
        adapter = getattr(job, "adapter", None)
        return adapter.pk if adapter is not None else None


class FineTuneJobIn(serializers.Serializer):
    ai_system = serializers.PrimaryKeyRelatedField(queryset=AISystem.objects.all())
    base_model = serializers.PrimaryKeyRelatedField(queryset=BaseModel.objects.all())
    dataset_version = serializers.PrimaryKeyRelatedField(queryset=DatasetVersion.objects.all())
    hyperparameters = serializers.JSONField(required=False)
    seed = serializers.IntegerField(required=False)
    idempotency_key = serializers.CharField(required=False, max_length=200)


class FineTuneEventOut(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()

    class Meta:
        model = FineTuneEvent
        fields = [
            "id",
            "object",
            "created_at",
            "level",
            "kind",
            "message",
            "step",
            "loss",
            "learning_rate",
            "tokens_per_s",
        ]

    def get_object(self, event: FineTuneEvent) -> str:
        return "fine_tuning.job.event"


class EvaluationOut(serializers.ModelSerializer):
    class Meta:
        model = Evaluation
        fields = [
            "id",
            "subject",
            "adapter_version",
            "base_model",
            "ai_system",
            "dataset_version",
            "job",
            "source",
            "metrics",
            "primary_metric",
            "score",
            "sample_count",
            "threshold",
            "passed",
            "created_at",
        ]


class EvaluationIn(serializers.Serializer):
    adapter_version = serializers.PrimaryKeyRelatedField(
        queryset=AdapterVersion.objects.all(), required=False
    )
    base_model = serializers.PrimaryKeyRelatedField(queryset=BaseModel.objects.all(), required=False)
    ai_system = serializers.PrimaryKeyRelatedField(queryset=AISystem.objects.all(), required=False)
    dataset_version = serializers.PrimaryKeyRelatedField(queryset=DatasetVersion.objects.all())
    metrics = serializers.JSONField()
    sample_count = serializers.IntegerField(min_value=1)
    primary_metric = serializers.CharField(required=False, max_length=30)


class AdapterVersionOut(serializers.ModelSerializer):
    approved_by = serializers.CharField(source="approved_by.username", default=None, allow_null=True)
    override_by = serializers.CharField(source="override_by.username", default=None, allow_null=True)

    class Meta:
        model = AdapterVersion
        fields = [
            "id",
            "name",
            "job",
            "ai_system",
            "base_model",
            "dataset_version",
            "status",
            "taint_reason",
            "path",
            "files",
            "sha256",
            "size_bytes",
            "lora_config",
            "trainable_parameters",
            "total_parameters",
            "lineage",
            "approved_by",
            "approved_at",
            "override_justification",
            "override_by",
            "override_at",
            "retired_at",
            "files_deleted_at",
            "created_at",
        ]


class AdapterVersionDetailOut(AdapterVersionOut):
    evaluations = serializers.SerializerMethodField()

    class Meta(AdapterVersionOut.Meta):
        fields = [*AdapterVersionOut.Meta.fields, "evaluations"]

    def get_evaluations(self, adapter: AdapterVersion) -> list[dict[str, Any]]:
        from training.selectors import adapter_evaluations

        return list(EvaluationOut(adapter_evaluations(adapter), many=True).data)


class AdapterApproveIn(serializers.Serializer):
    override_justification = serializers.CharField(
        required=False,
        min_length=OVERRIDE_MIN_CHARS,
        max_length=OVERRIDE_MAX_CHARS,
        help_text="Needed when the adapter failed its hold-out evaluation: why it is approved anyway.",
    )


class TaintIn(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
