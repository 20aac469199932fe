"""Admin: jobs with progress and a loss curve, adapters with lineage and evaluations beside the baseline.

Everything is read-only here except the status actions, which go through the services.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from governance.admin_actions import run_each
from governance.admin_base import PolicyAdmin, PolicyTabularInline
from training.admin_override import approve_with_override, taint_with_reason
from training.charts import loss_curve_png
from training.models import AdapterVersion, BaseModel, Evaluation, FineTuneEvent, FineTuneJob
from training.selectors import adapter_evaluations
from training.services import adapters, base_models, jobs
from training.services.evaluations import KNOWN_METRICS


class ReadOnlyAdmin(PolicyAdmin):
    """Rows are written by the API and the worker; the admin shows them and runs the status actions."""

    offers_add = False
    offers_change = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [f.name for f in self.model._meta.fields] + list(self.readonly_fields)


def _pre(data: Any) -> SafeString:
    return format_html(
        "<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(data, indent=2, sort_keys=True)
    )


def _run_action(request: HttpRequest, queryset: QuerySet[Any], label: str, call: Any) -> None:
    done = run_each(request, queryset, call)
    if done:
        messages.success(request, f"{label}: {done}")


@admin.register(BaseModel)
class BaseModelAdmin(ReadOnlyAdmin):
    policy_resource = "base_model"
    list_display = ["name", "architecture", "parameter_count", "max_sequence_length", "status", "licence"]
    list_filter = ["status", "architecture"]
    search_fields = ["name", "path"]
    actions = ["taint"]

    @admin.action(description="Taint (compliance officer)", permissions=["review"])
    def taint(self, request: HttpRequest, queryset: QuerySet[BaseModel]) -> Any:
        # A taint needs a reason: training/admin_override.py asks for it on an intermediate page.
        return taint_with_reason(
            self,
            request,
            queryset,
            lambda m, reason: base_models.base_model_taint(actor=request.user, base_model=m, reason=reason),
        )


class FineTuneEventInline(PolicyTabularInline):
    """The job's events table: step, loss, learning rate, level and message, oldest first."""

    model = FineTuneEvent
    policy_resource = "fine_tune_event"
    fields = ("created_at", "level", "kind", "step", "loss", "learning_rate", "tokens_per_s", "message")
    readonly_fields = fields
    ordering = ("id",)
    verbose_name_plural = "events"


@admin.register(FineTuneJob)
class FineTuneJobAdmin(ReadOnlyAdmin):
    policy_resource = "fine_tune_job"
    list_display = [
        "id",
        "ai_system",
        "base_model",
        "dataset_version",
        "status",
        "progress_bar",
        "attempts",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "base_model"]
    readonly_fields = ["loss_curve"]
    inlines = [FineTuneEventInline]
    actions = ["cancel"]

    @admin.display(description="progress")
    def progress_bar(self, job: FineTuneJob) -> SafeString:
        return format_html(
            "<progress value='{}' max='100' title='step {} of {}'></progress> {}%",
            round(job.progress * 100),
            job.current_step,
            job.total_steps,
            round(job.progress * 100),
        )

    @admin.display(description="loss curve")
    def loss_curve(self, job: FineTuneJob) -> SafeString:
        rows = job.events.filter(kind="progress", loss__isnull=False, step__isnull=False).order_by("id")
        points = [(int(e.step or 0), float(e.loss or 0.0)) for e in rows]
        png = base64.b64encode(loss_curve_png(points, title=f"job {job.pk} training loss")).decode()
        return format_html("<img alt='loss curve' src='data:image/png;base64,{}'>", png)

    @admin.action(description="Cancel the selected jobs", permissions=["write"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[FineTuneJob]) -> None:
        _run_action(
            request, queryset, "Cancelled", lambda job: jobs.fine_tune_job_cancel(actor=request.user, job=job)
        )


@admin.register(AdapterVersion)
class AdapterVersionAdmin(ReadOnlyAdmin):
    policy_resource = "adapter"
    list_display = [
        "name",
        "status",
        "ai_system",
        "base_model",
        "dataset_version",
        "trainable_parameters",
        "created_at",
    ]
    list_filter = ["status", "ai_system"]
    search_fields = ["name", "sha256"]
    readonly_fields = ["evaluations_vs_baseline", "lineage_pretty"]
    exclude = ["lineage"]
    actions = ["approve", "retire", "taint"]

    @admin.display(description="lineage")
    def lineage_pretty(self, adapter: AdapterVersion) -> SafeString:
        return _pre(adapter.lineage)

    @admin.display(description="hold-out evaluations (adapter vs base model alone)")
    def evaluations_vs_baseline(self, adapter: AdapterVersion) -> SafeString:
        rows = list(adapter_evaluations(adapter))
        mine = next((e for e in rows if e.subject == "adapter"), None)
        base = next((e for e in rows if e.subject == "baseline"), None)
        if mine is None and base is None:
            return format_html("<em>{}</em>", "not evaluated yet")
        names = [m for m in KNOWN_METRICS if any(m in (e.metrics if e else {}) for e in (mine, base))]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, _fmt(mine, name), _fmt(base, name), _delta(mine, base, name)) for name in names),
        )
        verdict = format_html(
            "<tr><th>passed (threshold {})</th><td>{}</td><td>{}</td><td></td></tr>",
            mine.threshold if mine else (base.threshold if base else ""),
            mine.passed if mine else "-",
            base.passed if base else "-",
        )
        return format_html(
            "<table><tr><th>metric</th><th>adapter</th><th>baseline</th><th>change</th></tr>{}{}</table>"
            "<p>{} hold-out samples</p>",
            body,
            verdict,
            mine.sample_count if mine else (base.sample_count if base else 0),
        )

    @admin.action(description="Approve (compliance officer)", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[AdapterVersion]) -> Any:
        # A failed evaluation needs a written override: training/admin_override.py asks for it.
        return approve_with_override(self, request, queryset)

    @admin.action(description="Retire (compliance officer)", permissions=["review"])
    def retire(self, request: HttpRequest, queryset: QuerySet[AdapterVersion]) -> None:
        _run_action(
            request,
            queryset,
            "Retired",
            lambda a: adapters.adapter_version_retire(actor=request.user, adapter=a),
        )

    @admin.action(description="Taint (compliance officer)", permissions=["review"])
    def taint(self, request: HttpRequest, queryset: QuerySet[AdapterVersion]) -> Any:
        return taint_with_reason(
            self,
            request,
            queryset,
            lambda a, reason: adapters.adapter_version_taint(actor=request.user, adapter=a, reason=reason),
        )


def _fmt(evaluation: Evaluation | None, name: str) -> str:
    value = evaluation.metrics.get(name) if evaluation else None
    return "-" if value is None else f"{value:.3f}"


def _delta(mine: Evaluation | None, base: Evaluation | None, name: str) -> str:
    if not mine or not base or name not in mine.metrics or name not in base.metrics:
        return ""
    return f"{mine.metrics[name] - base.metrics[name]:+.3f}"


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    policy_resource = "evaluation"
    list_display = [
        "id",
        "subject",
        "adapter_version",
        "base_model",
        "dataset_version",
        "primary_metric",
        "score",
        "threshold",
        "passed",
        "source",
        "created_at",
    ]
    list_filter = ["subject", "source", "passed"]
