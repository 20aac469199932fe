"""Read-side queries for training."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from training.models import AdapterVersion, BaseModel, Evaluation, FineTuneEvent, FineTuneJob


def base_model_list() -> QuerySet[BaseModel]:
    return BaseModel.objects.select_related("created_by").order_by("name")


def fine_tune_job_list() -> QuerySet[FineTuneJob]:
    return FineTuneJob.objects.select_related("created_by", "adapter").order_by("-created_at", "-id")


def fine_tune_event_list(job: FineTuneJob) -> QuerySet[FineTuneEvent]:
    return FineTuneEvent.objects.filter(job=job).order_by("id")


def adapter_version_list() -> QuerySet[AdapterVersion]:
    return AdapterVersion.objects.select_related("approved_by").order_by("-created_at", "-id")


def evaluation_list() -> QuerySet[Evaluation]:
    return Evaluation.objects.order_by("-created_at", "-id")


def adapter_evaluations(adapter: AdapterVersion) -> QuerySet[Evaluation]:
    """The adapter's evaluations and the baseline its job measured on the same hold-out."""
    return Evaluation.objects.filter(Q(adapter_version=adapter) | Q(job_id=adapter.job_id)).order_by("id")
