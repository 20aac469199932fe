"""Admin: jobs with live progress and a loss curve, adapters with lineage and evaluations beside the baseline.

The pages read like documents: statuses are badges, every related row is a link, hashes are shortened
with a copy button and JSON (hyper-parameters, LoRA config, files, lineage, metrics) is a table. Nothing
is edited here; the status changes (cancel, approve, retire, taint) are list actions and buttons on a
row's page, and both call the same services as the API.
"""

from __future__ import annotations

import base64
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from governance import ui
from governance.admin_actions import run_each
from governance.admin_base import ObjectAction, PolicyAdmin, PolicyTabularInline
from governance.policy import REVIEW, WRITE
from training.admin_override import (
    ApproveForm,
    TaintForm,
    approve_one,
    approve_with_override,
    taint_with_reason,
)
from training.choices import ACTIVE_JOB_STATUSES, FINAL_JOB_STATUSES, AdapterStatus, EventLevel
from training.dashboard import evaluation_bars, split_evaluations
from training.models import AdapterVersion, BaseModel, Evaluation, FineTuneEvent, FineTuneJob
from training.selectors import adapter_evaluations
from training.services import adapters, base_models, jobs
from training.services.evaluations import KNOWN_METRICS

LEVEL_TONES: dict[str, str] = {
    EventLevel.INFO: ui.INFO,
    EventLevel.WARNING: ui.WAIT,
    EventLevel.ERROR: ui.BAD,
}


class ReadOnlyAdmin(PolicyAdmin):
    """Rows are written by the API and the worker; the admin shows them and runs the status actions."""

    offers_add = False
    offers_change = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        shown = flatten_fieldsets(self.fieldsets) if self.fieldsets else []
        return [f.name for f in self.model._meta.fields] + list(self.readonly_fields) + shown


def _user(user: Any) -> str:
    """Who did it, by name (user accounts are managed elsewhere, so no link)."""
    return user.get_username() if user is not None else "-"


def _run_action(request: HttpRequest, queryset: QuerySet[Any], label: str, call: Any) -> None:
    done = run_each(request, queryset, call)
    if done:
        messages.success(request, f"{label}: {done}")


def _heading(text: Any) -> SafeString:
    return format_html("<h2>{}</h2>", text)


@admin.register(BaseModel)
class BaseModelAdmin(ReadOnlyAdmin):
    policy_resource = "base_model"
    list_display = [
        "name",
        "architecture",
        "parameter_count",
        "max_sequence_length",
        "status_badge",
        "licence",
    ]
    list_filter = ["status", "architecture"]
    search_fields = ["name", "path"]
    actions = ["taint"]
    panels = ("taint_panel",)
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "status_badge",
                    "licence",
                    "path",
                    "architecture",
                    "model_type",
                    "parameter_count",
                    "max_sequence_length",
                    "size_bytes",
                ]
            },
        ),
        (
            _("Integrity"),
            {"fields": ["config_hash", "manifest_hash", "manifest_table", "manifest_error"]},
        ),
        (_("Layers"), {"fields": ["module_names_table", "target_modules_table"]}),
        (
            _("Record"),
            {"fields": ["created_by_name", "created_when", "attempts", "worker_host", "heartbeat_when"]},
        ),
    ]

    def taint_panel(self, request: HttpRequest, model: BaseModel) -> SafeString:
        if not model.taint_reason:
            return format_html("{}", "")
        return _taint_notice(model.taint_reason)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, model: BaseModel) -> SafeString:
        return ui.badge(model.status, model.get_status_display())

    @admin.display(description=_("config.json sha256"))
    def config_hash(self, model: BaseModel) -> SafeString:
        return ui.short_hash(model.config_sha256)

    @admin.display(description=_("manifest sha256"))
    def manifest_hash(self, model: BaseModel) -> SafeString:
        return ui.short_hash(model.manifest_sha256)

    @admin.display(description=_("weight files"))
    def manifest_table(self, model: BaseModel) -> SafeString:
        return ui.json_table(model.manifest)

    @admin.display(description=_("linear layers"))
    def module_names_table(self, model: BaseModel) -> SafeString:
        return ui.json_table(model.module_names)

    @admin.display(description=_("default target modules"))
    def target_modules_table(self, model: BaseModel) -> SafeString:
        return ui.json_table(model.default_target_modules)

    @admin.display(description=_("registered by"))
    def created_by_name(self, model: BaseModel) -> str:
        return _user(model.created_by)

    @admin.display(description=_("registered at"))
    def created_when(self, model: BaseModel) -> str:
        return ui.when(model.created_at)

    @admin.display(description=_("last heartbeat"))
    def heartbeat_when(self, model: BaseModel) -> str:
        return ui.when(model.heartbeat_at)

    @admin.action(description="Taint (compliance officer)", permissions=["review"])
    def taint(self, request: HttpRequest, queryset: QuerySet[BaseModel]) -> Any:
        # A taint needs a reason: training/admin_override.py asks for it on an intermediate page.
        return taint_with_reason(
            self,
            request,
            queryset,
            lambda m, reason: base_models.base_model_taint(actor=request.user, base_model=m, reason=reason),
        )


def _taint_notice(reason: str) -> SafeString:
    """A taint reason, in red: whatever else the page says, this row must not be used."""
    return format_html(
        '<div class="gv-taint gv-bad" role="alert" style="padding: 8px 12px; border-radius: 4px">'
        "<strong>{}</strong> {}</div>",
        gettext("Tainted:"),
        reason,
    )


class FineTuneEventInline(PolicyTabularInline):
    """The job's events table: step, loss, learning rate, level and message, oldest first."""

    model = FineTuneEvent
    policy_resource = "fine_tune_event"
    fields = ("at", "level_badge", "kind", "step", "loss", "learning_rate", "tokens_per_s", "message")
    readonly_fields = fields
    ordering = ("id",)
    verbose_name_plural = _("events")

    @admin.display(description=_("at"))
    def at(self, event: FineTuneEvent) -> str:
        return ui.when(event.created_at)

    @admin.display(description=_("level"))
    def level_badge(self, event: FineTuneEvent) -> SafeString:
        return ui.badge(event.level, tone_of=LEVEL_TONES.get(event.level, ui.INFO))


def _cancel_job(request: HttpRequest, job: FineTuneJob, data: dict[str, Any]) -> FineTuneJob:
    return jobs.fine_tune_job_cancel(actor=request.user, job=job)


def _progress(job: FineTuneJob) -> SafeString:
    percent = round(job.progress * 100)
    return format_html(
        "<progress value='{}' max='100' title='step {} of {}'></progress> {}%",
        percent,
        job.current_step,
        job.total_steps,
        percent,
    )


@admin.register(FineTuneJob)
class FineTuneJobAdmin(ReadOnlyAdmin):
    policy_resource = "fine_tune_job"
    list_display = [
        "id",
        "ai_system_link",
        "base_model_link",
        "dataset_version_link",
        "status_badge",
        "progress_bar",
        "attempts",
        "created_by",
        "created_at",
    ]
    list_select_related = ["ai_system", "base_model", "dataset_version__dataset", "created_by"]
    list_filter = ["status", "base_model"]
    inlines = [FineTuneEventInline]
    actions = ["cancel"]
    panels = ("progress_panel", "loss_panel")
    fragments = ("progress_fragment",)
    object_actions = (
        ObjectAction(
            name="cancel",
            label=cast(str, _("Cancel this job")),
            verb=WRITE,
            run=_cancel_job,
            intro=cast(
                str,
                _(
                    "A queued job never starts; a running one stops at its next step and writes no adapter. "
                    "The cancellation is recorded in the job's events and the audit log."
                ),
            ),
            applies=lambda job: job.status in ACTIVE_JOB_STATUSES,
        ),
    )
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "status_badge",
                    "ai_system_link",
                    "base_model_link",
                    "dataset_version_link",
                    "adapter_link",
                    "created_by_name",
                    "created_when",
                    "error",
                ]
            },
        ),
        (
            _("Settings"),
            {"fields": ["hyperparameters_table", "seed", "request_hash", "idempotency_key"]},
        ),
        (
            _("Run"),
            {
                "fields": [
                    "device",
                    "worker_host",
                    "attempts",
                    "current_step",
                    "total_steps",
                    "train_tokens",
                    "train_seconds",
                    "startup_seconds",
                    "started_when",
                    "heartbeat_when",
                    "finished_when",
                ]
            },
        ),
    ]

    # --- the page's panels and its live box ---------------------------------------------------------

    def progress_panel(self, request: HttpRequest, job: FineTuneJob) -> SafeString:
        return format_html(
            "{}{}",
            _heading(gettext("Progress")),
            self.live(job, "progress_fragment", done=job.status in FINAL_JOB_STATUSES),
        )

    def progress_fragment(self, job: FineTuneJob) -> SafeString:
        """Status, progress bar and step; once the job has ended, the adapter it produced and the marker."""
        ended = job.status in FINAL_JOB_STATUSES
        adapter = AdapterVersion.objects.filter(job=job).first()
        parts = [
            format_html(
                '<p class="gv-progress">{} {} {}</p>',
                ui.badge(job.status, job.get_status_display()),
                _progress(job),
                gettext("step %(step)s of %(total)s") % {"step": job.current_step, "total": job.total_steps},
            )
        ]
        if job.heartbeat_at and not ended:
            parts.append(format_html("<p>{} {}</p>", gettext("Last heartbeat:"), ui.when(job.heartbeat_at)))
        if job.error:
            parts.append(format_html('<p class="gv-overdue">{}</p>', job.error))
        if adapter is not None:
            parts.append(format_html("<p>{} {}</p>", gettext("Adapter produced:"), ui.link(adapter)))
        if ended:
            parts.append(ui.done_marker())
        return format_html_join("", "{}", ((part,) for part in parts))

    def loss_panel(self, request: HttpRequest, job: FineTuneJob) -> SafeString:
        return format_html("{}{}", _heading(gettext("Training loss")), self.loss_curve(job))

    # --- fields -----------------------------------------------------------------------------------

    @admin.display(description=_("progress"))
    def progress_bar(self, job: FineTuneJob) -> SafeString:
        return _progress(job)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, job: FineTuneJob) -> SafeString:
        return ui.badge(job.status, job.get_status_display())

    @admin.display(description=_("AI system"), ordering="ai_system__name")
    def ai_system_link(self, job: FineTuneJob) -> SafeString:
        return ui.link(job.ai_system)

    @admin.display(description=_("base model"), ordering="base_model__name")
    def base_model_link(self, job: FineTuneJob) -> SafeString:
        return ui.link(job.base_model)

    @admin.display(description=_("dataset version"))
    def dataset_version_link(self, job: FineTuneJob) -> SafeString:
        return ui.link(job.dataset_version)

    @admin.display(description=_("adapter produced"))
    def adapter_link(self, job: FineTuneJob) -> SafeString:
        adapter = AdapterVersion.objects.filter(job=job).first()
        return ui.link(adapter) if adapter else format_html("<em>{}</em>", gettext("none yet"))

    @admin.display(description=_("hyper-parameters"))
    def hyperparameters_table(self, job: FineTuneJob) -> SafeString:
        return ui.json_table(job.hyperparameters)

    @admin.display(description=_("request sha256"))
    def request_hash(self, job: FineTuneJob) -> SafeString:
        return ui.short_hash(job.request_sha256)

    @admin.display(description=_("created by"))
    def created_by_name(self, job: FineTuneJob) -> str:
        return _user(job.created_by)

    @admin.display(description=_("created at"))
    def created_when(self, job: FineTuneJob) -> str:
        return ui.when(job.created_at)

    @admin.display(description=_("started at"))
    def started_when(self, job: FineTuneJob) -> str:
        return ui.when(job.started_at)

    @admin.display(description=_("last heartbeat"))
    def heartbeat_when(self, job: FineTuneJob) -> str:
        return ui.when(job.heartbeat_at)

    @admin.display(description=_("finished at"))
    def finished_when(self, job: FineTuneJob) -> str:
        return ui.when(job.finished_at)

    @admin.display(description=_("loss curve"))
    def loss_curve(self, job: FineTuneJob) -> SafeString:
        rows = job.events.filter(kind="progress", loss__isnull=False, step__isnull=False).order_by("id")
        points = [(int(e.step or 0), float(e.loss or 0.0)) for e in rows]
        from training.charts import loss_curve_png  # matplotlib: 1.1 s to import, only for this page

        png = base64.b64encode(loss_curve_png(points, title=f"job {job.pk} training loss")).decode()
        return format_html("<img alt='{}' src='data:image/png;base64,{}'>", gettext("loss curve"), png)

    @admin.action(description="Cancel the selected jobs", permissions=["write"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[FineTuneJob]) -> None:
        _run_action(
            request, queryset, "Cancelled", lambda job: jobs.fine_tune_job_cancel(actor=request.user, job=job)
        )


def _retire(request: HttpRequest, adapter: AdapterVersion, data: dict[str, Any]) -> AdapterVersion:
    return adapters.adapter_version_retire(actor=request.user, adapter=adapter)


def _taint(request: HttpRequest, adapter: AdapterVersion, data: dict[str, Any]) -> AdapterVersion:
    return adapters.adapter_version_taint(actor=request.user, adapter=adapter, reason=data["reason"])


@admin.register(AdapterVersion)
class AdapterVersionAdmin(ReadOnlyAdmin):
    policy_resource = "adapter"
    list_display = [
        "name",
        "status_badge",
        "ai_system_link",
        "base_model_link",
        "dataset_version_link",
        "trainable_parameters",
        "created_at",
    ]
    list_select_related = ["ai_system", "base_model", "dataset_version__dataset"]
    list_filter = ["status", "ai_system"]
    search_fields = ["name", "sha256"]
    actions = ["approve", "retire", "taint"]
    panels = ("state_panel", "evaluation_panel", "lineage_panel")
    object_actions = (
        ObjectAction(
            name="approve",
            label=cast(str, _("Approve")),
            verb=REVIEW,
            run=approve_one,
            form=ApproveForm,
            intro=cast(
                str,
                _(
                    "Approving lets the adapter be deployed. If it scored below its AI system's "
                    "threshold on the hold-out, approving it is an override: write why; the "
                    "justification is stored on the adapter, shown with it and audited."
                ),
            ),
            applies=lambda a: a.status == AdapterStatus.CANDIDATE,
        ),
        ObjectAction(
            name="retire",
            label=cast(str, _("Retire")),
            verb=REVIEW,
            run=_retire,
            intro=cast(
                str, _("A retired adapter is no longer offered for deployment; its record and lineage stay.")
            ),
            applies=lambda a: a.status not in (AdapterStatus.RETIRED, AdapterStatus.TAINTED),
        ),
        ObjectAction(
            name="taint",
            label=cast(str, _("Taint")),
            verb=REVIEW,
            run=_taint,
            form=TaintForm,
            intro=cast(
                str,
                _(
                    "A taint is final: a tainted adapter is never approved, downloaded or deployed "
                    "again, and active deployments using it are blocked. Write why; the reason is "
                    "stored and audited."
                ),
            ),
            applies=lambda a: a.status != AdapterStatus.TAINTED,
        ),
    )
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "status_badge",
                    "ai_system_link",
                    "base_model_link",
                    "dataset_version_link",
                    "job_link",
                    "created_when",
                ]
            },
        ),
        (
            _("Weights"),
            {
                "fields": [
                    "path",
                    "sha256_short",
                    "size_bytes",
                    "files_table",
                    "trainable_parameters",
                    "total_parameters",
                    "lora_config_table",
                    "files_deleted_when",
                ]
            },
        ),
        (
            _("Decisions"),
            {
                "fields": [
                    "approved_by_name",
                    "approved_when",
                    "override_justification",
                    "override_by_name",
                    "override_when",
                    "retired_when",
                    "taint_reason",
                ]
            },
        ),
    ]

    # --- panels -----------------------------------------------------------------------------------

    def state_panel(self, request: HttpRequest, adapter: AdapterVersion) -> SafeString:
        parts = [format_html("<p>{}</p>", ui.badge(adapter.status, adapter.get_status_display()))]
        if adapter.status == AdapterStatus.TAINTED or adapter.taint_reason:
            parts.append(_taint_notice(adapter.taint_reason))
        if adapter.override_justification:
            parts.append(
                format_html(
                    "<p><strong>{}</strong> {} <em>({}, {})</em></p>",
                    gettext("Approved by override:"),
                    adapter.override_justification,
                    _user(adapter.override_by),
                    ui.when(adapter.override_at),
                )
            )
        if adapter.files_deleted_at:
            parts.append(
                format_html(
                    '<p class="gv-overdue">{} {}</p>',
                    gettext("Weights deleted at"),
                    ui.when(adapter.files_deleted_at),
                )
            )
        return format_html_join("", "{}", ((p,) for p in parts))

    def evaluation_panel(self, request: HttpRequest, adapter: AdapterVersion) -> SafeString:
        return format_html(
            "{}{}",
            _heading(gettext("Hold-out evaluation: adapter vs base model alone")),
            self.evaluations_vs_baseline(adapter),
        )

    def lineage_panel(self, request: HttpRequest, adapter: AdapterVersion) -> SafeString:
        return format_html("{}{}", _heading(gettext("Lineage")), self.lineage_table(adapter))

    @admin.display(description=_("hold-out evaluations (adapter vs base model alone)"))
    def evaluations_vs_baseline(self, adapter: AdapterVersion) -> SafeString:
        mine, base = split_evaluations(list(adapter_evaluations(adapter)))
        if mine is None and base is None:
            return format_html("<em>{}</em>", gettext("not evaluated yet"))
        names = [m for m in KNOWN_METRICS if any(m in (e.metrics if e else {}) for e in (mine, base))]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, _fmt(mine, name), _fmt(base, name), _delta(mine, base, name)) for name in names),
        )
        verdict = format_html(
            "<tr><th>{} ({})</th><td>{}</td><td>{}</td><td></td></tr>",
            gettext("passed"),
            gettext("threshold %(t)s") % {"t": mine.threshold if mine else (base.threshold if base else "")},
            ui.badge(mine.passed) if mine else "-",
            ui.badge(base.passed) if base else "-",
        )
        links = format_html_join(
            ", ",
            "{}",
            ((ui.link(e, gettext("%(subject)s evaluation %(id)s") % {"subject": e.subject, "id": e.pk}),)
             for e in (mine, base) if e is not None),
        )  # fmt: skip
        samples = mine.sample_count if mine else (base.sample_count if base else 0)
        return format_html(
            "{}<table class='gv-grid'><tr><th>metric</th><th>adapter</th><th>baseline</th>"
            "<th>change</th></tr>{}{}</table><p>{}</p>{}",
            evaluation_bars(mine, base),
            body,
            verdict,
            gettext("%(n)s hold-out samples") % {"n": samples},
            links,
        )

    @admin.display(description=_("lineage"))
    def lineage_table(self, adapter: AdapterVersion) -> SafeString:
        """What the adapter was trained from, as links, with the recorded hashes and counts beside them."""
        lineage = dict(adapter.lineage or {})
        version = adapter.dataset_version
        recorded_version = lineage.pop("dataset_version", None) or {}
        recorded_base = lineage.pop("base_model", None) or {}
        training = lineage.pop("training", None) or {}
        lineage.pop("job", None)
        lineage.pop("ai_system", None)
        counts = format_html(
            "{} {}, {} {}",
            version.record_count,
            gettext("records"),
            version.holdout_count,
            gettext("held out"),
        )
        rows: list[tuple[Any, SafeString]] = [
            (gettext("AI system"), ui.link(adapter.ai_system)),
            (gettext("Fine-tune job"), ui.link(adapter.job)),
            (
                gettext("Base model"),
                format_html("{} {}", ui.link(adapter.base_model), ui.json_table(recorded_base)),
            ),
            (
                gettext("Dataset version"),
                format_html("{} ({}) {}", ui.link(version), counts, ui.json_table(recorded_version)),
            ),
        ]
        if "trained_records" in training:
            rows.append(
                (
                    gettext("Records trained on"),
                    format_html(
                        "{} ({} {})",
                        training["trained_records"],
                        training.get("skipped_too_long", 0),
                        gettext("skipped as too long"),
                    ),
                )
            )
        if training:
            rows.append((gettext("Training"), ui.json_table(training)))
        rows.extend((key.replace("_", " "), ui.json_table(value)) for key, value in lineage.items())
        body = format_html_join("", "<tr><th scope='row'>{}</th><td>{}</td></tr>", rows)
        return format_html('<table class="gv-kv gv-lineage">{}</table>', body)

    # --- fields -----------------------------------------------------------------------------------

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, adapter: AdapterVersion) -> SafeString:
        return ui.badge(adapter.status, adapter.get_status_display())

    @admin.display(description=_("AI system"), ordering="ai_system__name")
    def ai_system_link(self, adapter: AdapterVersion) -> SafeString:
        return ui.link(adapter.ai_system)

    @admin.display(description=_("base model"), ordering="base_model__name")
    def base_model_link(self, adapter: AdapterVersion) -> SafeString:
        return ui.link(adapter.base_model)

    @admin.display(description=_("dataset version"))
    def dataset_version_link(self, adapter: AdapterVersion) -> SafeString:
        return ui.link(adapter.dataset_version)

    @admin.display(description=_("fine-tune job"))
    def job_link(self, adapter: AdapterVersion) -> SafeString:
        return ui.link(adapter.job)

    @admin.display(description=_("sha256 of the files"))
    def sha256_short(self, adapter: AdapterVersion) -> SafeString:
        return ui.short_hash(adapter.sha256)

    @admin.display(description=_("files"))
    def files_table(self, adapter: AdapterVersion) -> SafeString:
        return ui.json_table(adapter.files)

    @admin.display(description=_("LoRA configuration"))
    def lora_config_table(self, adapter: AdapterVersion) -> SafeString:
        return ui.json_table(adapter.lora_config)

    @admin.display(description=_("created at"))
    def created_when(self, adapter: AdapterVersion) -> str:
        return ui.when(adapter.created_at)

    @admin.display(description=_("approved by"))
    def approved_by_name(self, adapter: AdapterVersion) -> str:
        return _user(adapter.approved_by)

    @admin.display(description=_("approved at"))
    def approved_when(self, adapter: AdapterVersion) -> str:
        return ui.when(adapter.approved_at)

    @admin.display(description=_("override by"))
    def override_by_name(self, adapter: AdapterVersion) -> str:
        return _user(adapter.override_by)

    @admin.display(description=_("override at"))
    def override_when(self, adapter: AdapterVersion) -> str:
        return ui.when(adapter.override_at)

    @admin.display(description=_("retired at"))
    def retired_when(self, adapter: AdapterVersion) -> str:
        return ui.when(adapter.retired_at)

    @admin.display(description=_("weights deleted at"))
    def files_deleted_when(self, adapter: AdapterVersion) -> str:
        return ui.when(adapter.files_deleted_at)

    # --- list actions (kept: tests/governance/test_permissions_matrix.py walks them by name) ----------

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
        "subject_badge",
        "adapter_link",
        "base_model_link",
        "dataset_version_link",
        "primary_metric",
        "score",
        "threshold",
        "passed_badge",
        "source",
        "created_at",
    ]
    list_select_related = ["adapter_version", "base_model", "dataset_version__dataset"]
    list_filter = ["subject", "source", "passed", "adapter_version__status"]
    panels = ("scores_panel",)
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "subject_badge",
                    "passed_badge",
                    "adapter_link",
                    "base_model_link",
                    "ai_system_link",
                    "dataset_version_link",
                    "job_link",
                    "source",
                    "created_when",
                ]
            },
        ),
        (
            _("Scores"),
            {"fields": ["primary_metric", "score", "threshold", "sample_count", "metrics_table"]},
        ),
    ]

    def scores_panel(self, request: HttpRequest, evaluation: Evaluation) -> SafeString:
        """This evaluation's metrics as bars, beside the other side of the comparison where there is one."""
        if evaluation.job_id is not None:
            mine, base = split_evaluations(list(Evaluation.objects.filter(job_id=evaluation.job_id)))
        else:
            mine, base = (evaluation, None) if evaluation.subject == "adapter" else (None, evaluation)
        return format_html("{}{}", _heading(gettext("Scores")), evaluation_bars(mine, base))

    @admin.display(description=_("subject"), ordering="subject")
    def subject_badge(self, evaluation: Evaluation) -> SafeString:
        return ui.badge(evaluation.subject, evaluation.get_subject_display(), tone_of=ui.INFO)

    @admin.display(description=_("passed"), ordering="passed")
    def passed_badge(self, evaluation: Evaluation) -> SafeString:
        return ui.badge(evaluation.passed)

    @admin.display(description=_("adapter version"))
    def adapter_link(self, evaluation: Evaluation) -> SafeString:
        return ui.link(evaluation.adapter_version)

    @admin.display(description=_("base model"))
    def base_model_link(self, evaluation: Evaluation) -> SafeString:
        return ui.link(evaluation.base_model)

    @admin.display(description=_("AI system"))
    def ai_system_link(self, evaluation: Evaluation) -> SafeString:
        return ui.link(evaluation.ai_system)

    @admin.display(description=_("dataset version"))
    def dataset_version_link(self, evaluation: Evaluation) -> SafeString:
        return ui.link(evaluation.dataset_version)

    @admin.display(description=_("fine-tune job"))
    def job_link(self, evaluation: Evaluation) -> SafeString:
        return ui.link(evaluation.job)

    @admin.display(description=_("metrics"))
    def metrics_table(self, evaluation: Evaluation) -> SafeString:
        return ui.json_table(evaluation.metrics)

    @admin.display(description=_("recorded at"))
    def created_when(self, evaluation: Evaluation) -> str:
        return ui.when(evaluation.created_at)
