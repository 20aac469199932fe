"""Input and output serializers of the governance API."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from governance.choices import (
    AISystemStatus,
    Approach,
    DatasetPurpose,
    DeclarationStatus,
    LegalBasis,
    Level,
    RiskClass,
)
from governance.models import DPIA, AISystem, AuditEvent, Dataset, DatasetVersion
from governance.models.systems import FACT_MAX_CHARS

User = get_user_model()


class AISystemOut(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")

    class Meta:
        model = AISystem
        fields = [
            "id",
            "name",
            "owner",
            "intended_purpose",
            "risk_class",
            "approach",
            "advisor_assessment",
            "human_oversight",
            "evaluation_threshold",
            "retrain_signal_threshold",
            "retrain_signal_window",
            "status",
            "risk_class_decided_at",
            "provider",
            "system_version",
            "hardware",
            "instructions_for_use",
            "metrics_rationale",
            "standards_applied",
            "declaration_status",
            "declaration_reference",
            "monitoring_plan",
            "recipients",
            "created_at",
        ]


class AISystemIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    intended_purpose = serializers.CharField()
    risk_class = serializers.ChoiceField(choices=RiskClass.choices, required=False)
    approach = serializers.ChoiceField(choices=Approach.choices, required=False)
    human_oversight = serializers.CharField(required=False, allow_blank=True, max_length=FACT_MAX_CHARS)
    evaluation_threshold = serializers.FloatField(required=False, min_value=0, max_value=1)
    retrain_signal_threshold = serializers.FloatField(required=False, min_value=0, max_value=1)
    retrain_signal_window = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), required=False)
    # Documentation facts (a compliance officer's to state).
    provider = serializers.CharField(required=False, allow_blank=True, max_length=FACT_MAX_CHARS)
    system_version = serializers.CharField(required=False, allow_blank=True, max_length=100)
    hardware = serializers.CharField(required=False, allow_blank=True, max_length=FACT_MAX_CHARS)
    instructions_for_use = serializers.CharField(required=False, allow_blank=True, max_length=FACT_MAX_CHARS)
    metrics_rationale = serializers.CharField(required=False, allow_blank=True, max_length=FACT_MAX_CHARS)
    standards_applied = serializers.CharField(required=False, allow_blank=True, max_length=FACT_MAX_CHARS)
    declaration_status = serializers.ChoiceField(choices=DeclarationStatus.choices, required=False)
    declaration_reference = serializers.CharField(required=False, allow_blank=True, max_length=200)
    monitoring_plan = serializers.CharField(required=False, allow_blank=True, max_length=FACT_MAX_CHARS)
    recipients = serializers.CharField(required=False, allow_blank=True, max_length=FACT_MAX_CHARS)


class AISystemUpdateIn(AISystemIn):
    """A PATCH may also move the status; risk class and status are a compliance officer's decisions."""

    status = serializers.ChoiceField(choices=AISystemStatus.choices, required=False)


class DatasetOut(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    ai_systems: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "ai_systems",
            "purpose",
            "legal_basis",
            "provenance",
            "retention_until",
            "owner",
            "contains_personal_data",
            "created_at",
        ]


class DatasetIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    ai_systems = serializers.PrimaryKeyRelatedField(
        many=True, queryset=AISystem.objects.all(), required=False
    )
    purpose = serializers.ChoiceField(choices=DatasetPurpose.choices)
    legal_basis = serializers.ChoiceField(choices=LegalBasis.choices, required=False, allow_blank=True)
    provenance = serializers.CharField(required=False, allow_blank=True)
    retention_until = serializers.DateField(required=False, allow_null=True)
    contains_personal_data = serializers.BooleanField(required=False)
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), required=False)


class DatasetVersionOut(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset",
            "number",
            "sha256",
            "source_sha256",
            "size_bytes",
            "record_count",
            "duplicates_removed",
            "holdout_fraction",
            "split_seed",
            "holdout_count",
            "record_format",
            "parent",
            "reason",
            "status",
            "scanned_records",
            "progress",
            "pii_summary",
            "contains_personal_data",
            "scan_error",
            "scan_started_at",
            "scan_finished_at",
            "suppressed_records",
            "erased_at",
            "erasure_reference",
            "created_at",
        ]


class DatasetVersionIn(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    holdout_fraction = serializers.FloatField(required=False)
    split_seed = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300)


def _level() -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=Level.choices, required=False, allow_blank=True)


class DPIAOut(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    reviewer = serializers.CharField(source="reviewer.username", default=None, allow_null=True)
    datasets: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = DPIA
        fields = [
            "id",
            "title",
            "ai_system",
            "datasets",
            "context",
            "necessity_proportionality",
            "data_subject_rights",
            "illegitimate_access_likelihood",
            "illegitimate_access_severity",
            "unwanted_modification_likelihood",
            "unwanted_modification_severity",
            "disappearance_likelihood",
            "disappearance_severity",
            "planned_measures",
            "dpo_opinion",
            "status",
            "submitted_at",
            "reviewer",
            "review_comment",
            "approved_at",
            "review_due",
            "created_by",
            "created_at",
        ]


class DPIAIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    ai_system = serializers.PrimaryKeyRelatedField(queryset=AISystem.objects.all())
    datasets = serializers.PrimaryKeyRelatedField(many=True, queryset=Dataset.objects.all(), required=False)
    # DRF pops declared fields off the class, so this does not shadow Serializer.context at run time.
    context = serializers.CharField(required=False, allow_blank=True)  # type: ignore[assignment]
    necessity_proportionality = serializers.CharField(required=False, allow_blank=True)
    data_subject_rights = serializers.CharField(required=False, allow_blank=True)
    illegitimate_access_likelihood = _level()
    illegitimate_access_severity = _level()
    unwanted_modification_likelihood = _level()
    unwanted_modification_severity = _level()
    disappearance_likelihood = _level()
    disappearance_severity = _level()
    planned_measures = serializers.CharField(required=False, allow_blank=True)
    dpo_opinion = serializers.CharField(required=False, allow_blank=True)


class DPIAApproveIn(serializers.Serializer):
    review_due = serializers.DateField(required=False)
    comment = serializers.CharField(required=False, allow_blank=True)


class DPIARejectIn(serializers.Serializer):
    comment = serializers.CharField()


class AuditEventOut(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "sequence",
            "timestamp",
            "actor",
            "action",
            "object_type",
            "object_id",
            "payload",
            "prev_hash",
            "hash",
        ]


class ChainVerificationOut(serializers.Serializer):
    ok = serializers.BooleanField()
    events_checked = serializers.IntegerField()
    head_sequence = serializers.IntegerField()
    head_hash = serializers.CharField()
    first_broken_sequence = serializers.IntegerField(allow_null=True)
    reason: Any = serializers.CharField()
