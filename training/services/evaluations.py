"""Evaluations: the platform's own after training, and results computed elsewhere."""

from __future__ import annotations

import math
from typing import Any

from django.db import transaction

from governance.errors import ValidationFailed
from governance.models import AISystem, DatasetVersion
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from training.choices import EvaluationSource, EvaluationSubject
from training.models import AdapterVersion, BaseModel, Evaluation, FineTuneJob
from training.trainer.metrics import primary_metric

KNOWN_METRICS = ("exact_match", "token_f1", "rouge_l", "accuracy", "macro_f1")


@transaction.atomic
def evaluation_record_for_job(
    *, job: FineTuneJob, adapter: AdapterVersion, subject: str, metrics: dict[str, Any], sample_count: int
) -> Evaluation:
    """Store the hold-out scores of a job's adapter or of its baseline; a rerun returns the first row."""
    existing = Evaluation.objects.filter(job=job, subject=subject).first()
    if existing is not None:
        return existing
    return _save(
        actor=None,
        subject=subject,
        adapter=adapter if subject == EvaluationSubject.ADAPTER else None,
        base_model=job.base_model,
        ai_system=job.ai_system,
        version=job.dataset_version,
        job=job,
        source=EvaluationSource.PLATFORM,
        metrics=metrics,
        primary=primary_metric(metrics),
        sample_count=sample_count,
    )


def evaluation_create(
    *,
    actor: User,
    dataset_version: DatasetVersion,
    metrics: Any,
    sample_count: int,
    adapter_version: AdapterVersion | None = None,
    base_model: BaseModel | None = None,
    ai_system: AISystem | None = None,
    primary_metric_name: str | None = None,
) -> Evaluation:
    """Record hold-out results computed outside the platform, for an adapter or a base model's baseline."""
    if (adapter_version is None) == (base_model is None):
        raise ValidationFailed(
            "give exactly one of adapter_version and base_model", code="evaluation_subject"
        )
    if adapter_version is not None:
        subject, base_model, ai_system = (
            EvaluationSubject.ADAPTER,
            adapter_version.base_model,
            adapter_version.ai_system,
        )
    elif ai_system is None:
        raise ValidationFailed(
            "a baseline evaluation names its ai_system (for the threshold)",
            code="ai_system_required",
            details={"field": "ai_system"},
        )
    else:
        subject = EvaluationSubject.BASELINE
    clean = _clean_metrics(metrics)
    default = primary_metric(clean) if {"rouge_l", "accuracy"} & set(clean) else sorted(clean)[0]
    primary = primary_metric_name or default
    if primary not in clean:
        raise ValidationFailed(
            f"primary_metric '{primary}' is not among the metrics",
            code="invalid_primary_metric",
            details={"field": "primary_metric"},
        )
    if dataset_version.holdout_count <= 0:
        raise ValidationFailed("the dataset version has no hold-out", code="no_holdout")
    if not 1 <= sample_count <= dataset_version.holdout_count:
        raise ValidationFailed(
            f"sample_count must be from 1 to the hold-out size ({dataset_version.holdout_count})",
            code="invalid_sample_count",
            details={"field": "sample_count"},
        )
    assert base_model is not None and ai_system is not None
    with transaction.atomic():
        return _save(
            actor=actor,
            subject=subject,
            adapter=adapter_version,
            base_model=base_model,
            ai_system=ai_system,
            version=dataset_version,
            job=None,
            source=EvaluationSource.EXTERNAL,
            metrics=clean,
            primary=primary,
            sample_count=sample_count,
        )


def _clean_metrics(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, dict) or not metrics:
        raise ValidationFailed(
            "metrics must be a non-empty object", code="invalid_metrics", details={"field": "metrics"}
        )
    errors = []
    for name, value in metrics.items():
        if name not in KNOWN_METRICS:
            errors.append({"metric": name, "message": f"unknown metric; known: {', '.join(KNOWN_METRICS)}"})
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= 1
        ):
            errors.append({"metric": name, "message": "must be a finite number from 0 to 1"})
    if errors:
        raise ValidationFailed("invalid metrics", code="invalid_metrics", details={"errors": errors})
    return {k: float(v) for k, v in metrics.items()}


def _save(
    *,
    actor: User,
    subject: str,
    adapter: AdapterVersion | None,
    base_model: BaseModel,
    ai_system: AISystem,
    version: DatasetVersion,
    job: FineTuneJob | None,
    source: str,
    metrics: dict[str, Any],
    primary: str,
    sample_count: int,
) -> Evaluation:
    threshold = ai_system.evaluation_threshold
    score = float(metrics[primary])
    evaluation = Evaluation(
        subject=subject,
        adapter_version=adapter,
        base_model=base_model,
        ai_system=ai_system,
        dataset_version=version,
        job=job,
        source=source,
        metrics=metrics,
        primary_metric=primary,
        score=score,
        sample_count=sample_count,
        threshold=threshold,
        passed=score >= threshold,
        created_by=user_or_none(actor),
    )
    evaluation.full_clean()
    evaluation.save()
    audit_record(
        actor=actor,
        action="evaluation.recorded",
        obj=evaluation,
        payload={
            "subject": subject,
            "adapter_version": adapter.pk if adapter else None,
            "source": source,
            "dataset_version": version.pk,
            "primary_metric": primary,
            "score": score,
            "threshold": threshold,
            "passed": evaluation.passed,
            "sample_count": sample_count,
        },
    )
    return evaluation
