"""Admin pages. Saves and actions go through the services; who may do what is governance/policy.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy, ngettext

from governance import advisor as advice
from governance import ui
from governance.admin_actions import ReasonPage, ask_then_run
from governance.admin_base import ObjectAction, PolicyAdmin, PolicyTabularInline
from governance.admin_story import StoryMixin
from governance.api.reports import file_response
from governance.choices import DatasetVersionStatus, DPIAStatus, Level
from governance.errors import DomainError
from governance.models import DPIA, AISystem, AuditEvent, Dataset, DatasetVersion
from governance.policy import DOWNLOAD, REVIEW, WRITE, allowed
from governance.services import datasets, dpia, reports, systems
from governance.services.advisor import ai_system_advisor_record
from governance.services.reports import ReportOutput

# Translated when shown, in the reader's language; typed as str for the dataclasses and admin attributes
# that take one. makemessages finds `_(...)` as usual.
_ = cast("Callable[[str], str]", gettext_lazy)


def _changed(form: ModelForm) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in form.changed_data}


def _advisor_field(spec: dataclasses.Field[Any], *, required: bool) -> forms.Field:
    meta, text = spec.metadata, spec.metadata["help"]
    if not required:
        text = f"{text}. Leave empty for the default, {spec.default}."
    if "choices" in meta:
        return forms.ChoiceField(choices=[(c, c) for c in meta["choices"]], help_text=text)
    if "minimum" not in meta:
        return forms.BooleanField(required=False, help_text=text)
    kind = forms.IntegerField if spec.type == "int" else forms.FloatField
    return kind(required=required, min_value=meta["minimum"], max_value=meta["maximum"], help_text=text)


# The advisor's questions, then every assumption of the cost model (optional: empty takes the default).
AdvisorForm = type(
    "AdvisorForm",
    (forms.Form,),
    {
        **{s.name: _advisor_field(s, required=True) for s in advice.field_specs(advice.Answers)},
        **{s.name: _advisor_field(s, required=False) for s in advice.field_specs(advice.Assumptions)},
    },
)
ADVISOR_PAGE = ReasonPage(
    action="advisor",
    title="Use-case advisor",
    intro="Answer the questions: the recommendation (prompting, RAG, fine-tuning or hybrid), the rules "
    "that fired and each approach's costs are stored on the system and shown in its Annex IV document. "
    "The system's approach is not changed.",
    submit="Record the advice",
)


@admin.register(AISystem)
class AISystemAdmin(StoryMixin, PolicyAdmin):
    policy_resource = "ai_system"
    list_display = ["name", "story", "risk_class", "approach", "status", "owner", "created_at"]
    panels = ("story_panel",)
    list_filter = ["risk_class", "approach", "status"]
    search_fields = ["name", "intended_purpose"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "owner",
                    "intended_purpose",
                    "risk_class",
                    "risk_class_decided_by",
                    "risk_class_decided_at",
                    "approach",
                    "human_oversight",
                    "evaluation_threshold",
                    "retrain_signal_threshold",
                    "retrain_signal_window",
                    "status",
                ]
            },
        ),
        (
            "Documentation facts (AI Act Annex IV, GDPR Art. 30)",
            {"fields": list(systems.DOCUMENTATION_FIELDS)},
        ),
        ("Use-case advisor", {"fields": ["advisor_summary"]}),
    ]
    actions = ["advisor"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Risk class, status and the documentation facts are an officer's decision (the service refuses
        # changes to anyone else); an engineer registering a system proposes its first risk class, and it
        # starts as a draft.
        decided = ["risk_class_decided_by", "risk_class_decided_at", "advisor_summary"]
        if allowed(request.user, "ai_system", REVIEW):
            return decided
        if obj is None:
            return [*decided, "status", *systems.DOCUMENTATION_FIELDS]
        return [*decided, *systems.OFFICER_FIELDS, *systems.DOCUMENTATION_FIELDS]

    def save_model(self, request: HttpRequest, obj: AISystem, form: ModelForm, change: bool) -> None:
        if change:
            fields = _changed(form)
            if "risk_class" in form.cleaned_data and allowed(request.user, "ai_system", REVIEW):
                # An officer who saves the page records the class shown, changed or not.
                fields["risk_class"] = form.cleaned_data["risk_class"]
            systems.ai_system_update(actor=request.user, system=AISystem.objects.get(pk=obj.pk), **fields)
        else:
            created = systems.ai_system_create(actor=request.user, **form.cleaned_data)
            obj.pk = created.pk

    @admin.display(description="Advisor's recommendation")
    def advisor_summary(self, obj: AISystem) -> str:
        stored = obj.advisor_assessment or {}
        if not stored:
            return 'Not assessed: select the system in the list and run "Ask the use-case advisor".'
        rules = format_html_join("", "<li>{}</li>", ((rule["text"],) for rule in stored["rules_fired"]))
        return format_html(
            "<strong>{}</strong> (recorded by {} at {})<ul>{}</ul>",
            stored["recommendation"],
            stored["recorded_by"],
            stored["recorded_at"],
            rules,
        )

    @admin.action(description="Ask the use-case advisor", permissions=["write"])
    def advisor(self, request: HttpRequest, queryset: QuerySet[AISystem]) -> Any:
        def record(system: AISystem, data: dict[str, Any]) -> None:
            answers = {s.name: data[s.name] for s in advice.field_specs(advice.Answers)}
            assumptions = {
                s.name: data[s.name]
                for s in advice.field_specs(advice.Assumptions)
                if data.get(s.name) is not None
            }
            stored = ai_system_advisor_record(
                actor=request.user, system=system, answers=answers, assumptions=assumptions
            ).advisor_assessment
            texts = " ".join(rule["text"] for rule in stored["rules_fired"])
            messages.info(request, f"{system}: {stored['recommendation']}. {texts}")

        return ask_then_run(self, request, queryset, AdvisorForm, ADVISOR_PAGE, record, "Advice recorded")


# --- Datasets and their versions -------------------------------------------------------------------

SCAN_ENDED = (DatasetVersionStatus.READY, DatasetVersionStatus.FAILED, DatasetVersionStatus.ERASED)


def _titled(title: str, body: Any) -> SafeString:
    return format_html("<h3>{}</h3>{}", title, body)


def _status_badge(obj: Any) -> SafeString:
    """A row's status as a badge in the words of its choices (the colour repeats what they say)."""
    return ui.badge(obj.status, obj.get_status_display())


def _progress_bar(done: int, total: int) -> SafeString:
    share = 1.0 if not total else max(0.0, min(1.0, done / total))
    return format_html(
        '<span class="gv-track" role="progressbar" aria-valuemin="0" aria-valuemax="{}" aria-valuenow="{}">'
        '<span class="gv-fill gv-ok" style="width: {}%"></span></span>',
        total,
        done,
        f"{share * 100:.1f}",
    )


def _pii_table(summary: dict[str, Any], status: str) -> SafeString:
    """The scan's entity counts as a table; before the scan ends there is nothing to count yet."""
    if status in (DatasetVersionStatus.PENDING, DatasetVersionStatus.SCANNING) and not summary:
        return format_html("<em>{}</em>", _("not scanned yet"))
    return ui.json_table(dict(sorted(summary.items())))


class DatasetVersionInline(PolicyTabularInline):
    model = DatasetVersion
    policy_resource = "dataset_version"
    fields = ("number", "status_badge", "records", "scan", "pii", "sha256_short")
    readonly_fields = fields
    show_change_link = True

    @admin.display(description=_("Status"))
    def status_badge(self, obj: DatasetVersion) -> SafeString:
        return _status_badge(obj)

    @admin.display(description=_("Records (hold-out)"))
    def records(self, obj: DatasetVersion) -> str:
        return f"{obj.record_count} ({obj.holdout_count})"

    @admin.display(description=_("Scanned"))
    def scan(self, obj: DatasetVersion) -> str:
        return f"{obj.scanned_records} / {obj.record_count}"

    @admin.display(description=_("Personal data found"))
    def pii(self, obj: DatasetVersion) -> SafeString:
        return _pii_table(obj.pii_summary, obj.status)

    @admin.display(description="sha256")
    def sha256_short(self, obj: DatasetVersion) -> SafeString:
        return ui.short_hash(obj.sha256)


@admin.register(Dataset)
class DatasetAdmin(PolicyAdmin):
    policy_resource = "dataset"
    list_display = ["name", "purpose", "legal_basis", "contains_personal_data", "owner", "created_at"]
    list_filter = ["purpose", "legal_basis", "contains_personal_data"]
    search_fields = ["name"]
    fields = [
        "name",
        "purpose",
        "legal_basis",
        "provenance",
        "retention_until",
        "owner",
        "ai_systems",
        "contains_personal_data",
    ]
    inlines = [DatasetVersionInline]

    def save_model(self, request: HttpRequest, obj: Dataset, form: ModelForm, change: bool) -> None:
        data = dict(form.cleaned_data)
        data["ai_systems"] = list(data.get("ai_systems") or [])
        if change:
            changed = _changed(form)
            if "ai_systems" in changed:
                changed["ai_systems"] = list(changed["ai_systems"])
            datasets.dataset_update(actor=request.user, dataset=Dataset.objects.get(pk=obj.pk), **changed)
        else:
            obj.pk = datasets.dataset_create(actor=request.user, **data).pk

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        pass  # the service already stored the relations


@admin.register(DatasetVersion)
class DatasetVersionAdmin(PolicyAdmin):
    """A version's page: what it holds, what the scan found, and the scan's progress while it runs."""

    policy_resource = "dataset_version"
    offers_add = False  # versions are uploaded through the API as JSONL
    list_display = [
        "__str__",
        "status_badge",
        "record_count",
        "holdout_count",
        "contains_personal_data",
        "progress_percent",
    ]
    list_filter = ["status", "contains_personal_data"]
    # What the panels show (status, counts, hashes, the PII summary, the scan) is left out of the fields.
    readonly_fields = (
        "dataset",
        "number",
        "file",
        "size_bytes",
        "record_format",
        "holdout_fraction",
        "split_seed",
        "reason",
        "erasure_reference",
        "created_at",
        "created_by",
        "attempts",
        "worker_host",
        "worker_pid",
        "heartbeat_at",
    )
    fields = readonly_fields
    panels = ("summary_panel", "scan_panel", "pii_panel")
    fragments = ("scan_progress",)

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj: DatasetVersion) -> SafeString:
        return _status_badge(obj)

    @admin.display(description=_("Scanned"))
    def progress_percent(self, obj: DatasetVersion) -> str:
        return f"{obj.progress * 100:.0f}%"

    def summary_panel(self, request: HttpRequest, obj: DatasetVersion) -> SafeString:
        personal = ui.badge(
            obj.contains_personal_data, tone_of=ui.WAIT if obj.contains_personal_data else ui.OK
        )
        facts: dict[str, Any] = {
            _("Status"): _status_badge(obj),
            _("Records"): obj.record_count,
            _("Training records"): obj.record_count - obj.holdout_count,
            _("Hold-out records"): obj.holdout_count,
            _("Duplicates removed"): obj.duplicates_removed,
            _("Records dropped (suppressed subjects)"): obj.suppressed_records,
            _("Contains personal data"): personal,
            _("Stored file sha256"): ui.short_hash(obj.sha256),
            _("Uploaded bytes sha256"): ui.short_hash(obj.source_sha256),
            _("Parent version"): ui.link(obj.parent),
        }
        if obj.erased_at:
            facts[_("Content erased")] = f"{ui.when(obj.erased_at)} ({obj.erasure_reference})"
        return _titled(_("Version"), ui.json_table(facts))

    def pii_panel(self, request: HttpRequest, obj: DatasetVersion) -> SafeString:
        return _titled(_("Personal data found (entities per type)"), _pii_table(obj.pii_summary, obj.status))

    def scan_panel(self, request: HttpRequest, obj: DatasetVersion) -> SafeString:
        return _titled(_("PII scan"), self.live(obj, "scan_progress", done=obj.status in SCAN_ENDED))

    def scan_progress(self, obj: DatasetVersion) -> SafeString:
        """The scan's state; polled while it runs, marked done once the version is ready, failed or erased."""
        counted = _("%(done)s of %(total)s records scanned") % {
            "done": obj.scanned_records,
            "total": obj.record_count,
        }
        times = format_html(
            "{}: {} &middot; {}: {}",
            _("started"),
            ui.when(obj.scan_started_at),
            _("finished"),
            ui.when(obj.scan_finished_at),
        )
        error = format_html('<p class="gv-overdue">{}</p>', obj.scan_error) if obj.scan_error else ""
        return format_html(
            "<p>{} {}</p><p>{} {}</p><p>{}</p>{}{}",
            _status_badge(obj),
            counted,
            _progress_bar(obj.scanned_records, obj.record_count),
            f"{obj.progress * 100:.0f}%",
            times,
            error,
            ui.done_marker() if obj.status in SCAN_ENDED else "",
        )


# --- DPIAs -----------------------------------------------------------------------------------------

RISK_LABELS = {
    "illegitimate_access": _("Illegitimate access to data"),
    "unwanted_modification": _("Unwanted modification of data"),
    "disappearance": _("Disappearance of data"),
}
LEVELS = list(Level)  # negligible .. maximum, the CNIL scale's order


def risk_level(likelihood: str, severity: str) -> int:
    """1..4: the colour of a risk-map cell (CNIL: the higher both axes, the graver), 0 if unassessed."""
    if likelihood not in Level.values or severity not in Level.values:
        return 0
    product = (Level.values.index(likelihood) + 1) * (Level.values.index(severity) + 1)
    return 1 if product <= 2 else 2 if product <= 4 else 3 if product <= 9 else 4


def risk_map(record: DPIA) -> SafeString:
    """The three CNIL risks on a severity (rows, gravest on top) by likelihood (columns) grid."""
    cells: dict[tuple[str, str], list[str]] = {}
    unassessed = []
    for risk, label in RISK_LABELS.items():
        likelihood = getattr(record, f"{risk}_likelihood")
        severity = getattr(record, f"{risk}_severity")
        if risk_level(likelihood, severity):
            cells.setdefault((likelihood, severity), []).append(str(label))
        else:
            unassessed.append(str(label))
    rows = []
    for severity in reversed(LEVELS):
        tds = format_html_join(
            "",
            '<td class="gv-risk-{}" data-likelihood="{}" data-severity="{}">{}</td>',
            (
                (
                    risk_level(likelihood, severity),
                    likelihood,
                    severity,
                    format_html_join(
                        mark_safe("<br>"),
                        "<strong>{}</strong>",
                        ((n,) for n in cells.get((likelihood, severity), ())),
                    ),
                )
                for likelihood in LEVELS
            ),
        )
        rows.append(format_html("<tr><th scope='row'>{}</th>{}</tr>", severity.label, tds))
    foot = format_html_join("", "<th scope='col'>{}</th>", ((level.label,) for level in LEVELS))
    table = format_html(
        '<table class="gv-riskmap"><caption>{}</caption><tbody>{}</tbody>'
        "<tfoot><tr><th>{}</th>{}</tr></tfoot></table>",
        _("Severity (rows) by likelihood (columns)"),
        mark_safe("".join(rows)),  # noqa: S308 - each row built with format_html
        _("severity / likelihood"),
        foot,
    )
    missing = (
        format_html('<p class="gv-overdue">{}: {}</p>', _("Not assessed yet"), ", ".join(unassessed))
        if unassessed
        else ""
    )
    return format_html("{}{}", table, missing)


class DPIAApproveForm(forms.Form):
    review_due = forms.DateField(
        required=False, label=_("Next review"), widget=forms.DateInput(attrs={"type": "date"})
    )
    comment = forms.CharField(
        required=False,
        label=_("Comment"),
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["review_due"].help_text = _(
            "When the DPIA must be reviewed again (YYYY-MM-DD, after today). Empty: in %(days)s days."
        ) % {"days": settings.DPIA_REVIEW_DAYS}


class DPIARejectForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment"),
        max_length=10_000,
        help_text=_("Why the DPIA goes back: its author reads it, edits the DPIA and submits it again."),
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
    )


def _dpia_submit(request: HttpRequest, record: DPIA, data: dict[str, Any]) -> DPIA:
    return dpia.dpia_submit(actor=request.user, dpia=record)


def _dpia_approve(request: HttpRequest, record: DPIA, data: dict[str, Any]) -> DPIA:
    return dpia.dpia_approve(
        actor=request.user, dpia=record, review_due=data.get("review_due"), comment=data.get("comment", "")
    )


def _dpia_reject(request: HttpRequest, record: DPIA, data: dict[str, Any]) -> DPIA:
    return dpia.dpia_reject(actor=request.user, dpia=record, comment=data["comment"])


def _days_to(day: dt.date) -> SafeString:
    """How far a date is from today, in red once it has passed."""
    days = (day - timezone.localdate()).days
    if days < 0:
        text = ngettext("overdue by %(n)d day", "overdue by %(n)d days", -days) % {"n": -days}
        return format_html('<span class="gv-overdue">{} ({})</span>', day.isoformat(), text)
    text = ngettext("in %(n)d day", "in %(n)d days", days) % {"n": days}
    return format_html("{} ({})", day.isoformat(), text)


def _run(request: HttpRequest, queryset: QuerySet[DPIA], label: str, service: Any, **kwargs: Any) -> None:
    done = 0
    for record in queryset:
        try:
            service(actor=request.user, dpia=record, **kwargs)
            done += 1
        except DomainError as exc:
            messages.error(request, f"{record}: {exc.message}")
    if done:
        messages.success(request, f"{label}: {done} DPIA(s)")


@admin.register(DPIA)
class DPIAAdmin(PolicyAdmin):
    policy_resource = "dpia"
    list_display = ["title", "ai_system", "status", "created_by", "reviewer", "review_due"]
    list_filter = ["status"]
    search_fields = ["title"]
    readonly_fields = ("status", "submitted_at", "reviewer", "review_comment", "approved_at", "review_due")
    fieldsets = [
        (None, {"fields": ["title", "ai_system", "datasets"]}),
        ("1. Context", {"fields": ["context"]}),
        ("2. Fundamental principles", {"fields": ["necessity_proportionality", "data_subject_rights"]}),
        (
            "3. Risks",
            {
                "fields": [
                    ("illegitimate_access_likelihood", "illegitimate_access_severity"),
                    ("unwanted_modification_likelihood", "unwanted_modification_severity"),
                    ("disappearance_likelihood", "disappearance_severity"),
                ]
            },
        ),
        ("4. Planned measures", {"fields": ["planned_measures"]}),
        ("DPO opinion", {"fields": ["dpo_opinion"]}),
        ("Review", {"fields": list(readonly_fields)}),
    ]
    actions = ["submit_for_review", "approve", "reject"]
    panels = ("review_panel", "risk_map_panel")
    object_actions = (
        ObjectAction(
            "submit",
            _("Submit for review"),
            WRITE,
            _dpia_submit,
            intro=_(
                "Every section except the DPO opinion must be filled in. A compliance officer who is "
                "not the author then approves or rejects it."
            ),
            applies=lambda record: record.status in (DPIAStatus.DRAFT, DPIAStatus.REJECTED),
        ),
        ObjectAction(
            "approve",
            _("Approve"),
            REVIEW,
            _dpia_approve,
            form=DPIAApproveForm,
            intro=_(
                "Four eyes: the author of a DPIA cannot approve it. The approval is recorded in the "
                "audit chain with the review date."
            ),
            applies=lambda record: record.status == DPIAStatus.IN_REVIEW,
        ),
        ObjectAction(
            "reject",
            _("Reject"),
            REVIEW,
            _dpia_reject,
            form=DPIARejectForm,
            intro=_("The DPIA goes back to its author with your comment; they can edit and resubmit it."),
            applies=lambda record: record.status == DPIAStatus.IN_REVIEW,
        ),
    )

    def review_panel(self, request: HttpRequest, record: DPIA) -> SafeString:
        facts: dict[str, Any] = {
            _("Status"): _status_badge(record),
            _("Submitted"): ui.when(record.submitted_at),
            _("Reviewer"): record.reviewer or "-",
            _("Approved"): ui.when(record.approved_at),
            _("Next review"): _days_to(record.review_due) if record.review_due else "-",
        }
        if record.review_comment:
            facts[_("Reviewer's comment")] = record.review_comment
        return _titled(_("Review"), ui.json_table(facts))

    def risk_map_panel(self, request: HttpRequest, record: DPIA) -> SafeString:
        return _titled(_("Risk map"), risk_map(record))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and allowed(request.user, "report", DOWNLOAD):
            fieldsets.append(("Report", {"fields": ["pdf_report"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "pdf_report")

    @admin.display(description="DPIA report")
    def pdf_report(self, obj: DPIA) -> str:
        url = reverse("admin:governance_dpia_report", args=[obj.pk])
        return format_html('<a href="{}">PDF (CNIL structure, risk map)</a>', url)

    def get_urls(self) -> list[URLPattern]:
        report = path(
            "<int:object_id>/report/",
            self.admin_site.admin_view(self.report_view),
            name="governance_dpia_report",
        )
        return [report, *super().get_urls()]

    def report_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        """The DPIA report, for those the policy lets download reports (officers and auditors)."""
        if not allowed(request.user, "report", DOWNLOAD):
            raise PermissionDenied
        record = get_object_or_404(DPIA.objects.select_related("ai_system", "reviewer"), pk=object_id)
        return file_response(reports.report_dpia_generate(actor=request.user, dpia=record))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Approved, in-review and expired DPIAs are records of a decision: shown read-only.
        editable = obj is None or obj.status in (DPIAStatus.DRAFT, DPIAStatus.REJECTED)
        return editable and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: DPIA, form: ModelForm, change: bool) -> None:
        data = dict(form.cleaned_data)
        data["datasets"] = list(data.get("datasets") or [])
        if change:
            changed = _changed(form)
            changed.pop("ai_system", None)
            if "datasets" in changed:
                changed["datasets"] = list(changed["datasets"])
            dpia.dpia_update(actor=request.user, dpia=DPIA.objects.get(pk=obj.pk), **changed)
        else:
            obj.pk = dpia.dpia_create(actor=request.user, **data).pk

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        pass

    @admin.action(description="Submit for review", permissions=["write"])
    def submit_for_review(self, request: HttpRequest, queryset: QuerySet[DPIA]) -> None:
        _run(request, queryset, "Submitted", dpia.dpia_submit)

    @admin.action(description="Approve (compliance officer, not the author)", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[DPIA]) -> None:
        _run(request, queryset, "Approved", dpia.dpia_approve)

    @admin.action(description="Reject (compliance officer, not the author)", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[DPIA]) -> None:
        _run(request, queryset, "Rejected", dpia.dpia_reject, comment="Rejected from the admin; see the DPO.")


# --- The audit chain -------------------------------------------------------------------------------


def audited_object_url(event: AuditEvent) -> str | None:
    """The admin page of the row an event is about, when its type is a registered model (no query)."""
    if not event.object_id or "." not in event.object_type:
        return None
    try:
        model = apps.get_model(event.object_type)
        return reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[event.object_id]
        )
    except (LookupError, ValueError, NoReverseMatch):
        return None


@admin.register(AuditEvent)
class AuditEventAdmin(PolicyAdmin):
    policy_resource = "audit_event"
    offers_add = False
    offers_change = False  # the chain is append-only
    ordering = ["-sequence"]  # what happened last first
    list_display = ["sequence", "timestamp", "actor", "action", "object_type", "object_link", "hash_short"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor"]
    readonly_fields = (
        "sequence",
        "timestamp",
        "actor",
        "action",
        "object_type",
        "object_link",
        "payload_table",
        "prev_hash_short",
        "hash_short",
    )
    fields = readonly_fields

    @admin.display(description=_("Object"), ordering="object_id")
    def object_link(self, event: AuditEvent) -> SafeString:
        url = audited_object_url(event)
        if url is None:
            return format_html("{}", event.object_id or "-")
        return format_html('<a href="{}">{}</a>', url, event.object_id)

    @admin.display(description=_("Payload"))
    def payload_table(self, event: AuditEvent) -> SafeString:
        return ui.json_table(event.payload)

    @admin.display(description=_("Hash"), ordering="hash")
    def hash_short(self, event: AuditEvent) -> SafeString:
        return ui.short_hash(event.hash)

    @admin.display(description=_("Previous hash"))
    def prev_hash_short(self, event: AuditEvent) -> SafeString:
        return ui.short_hash(event.prev_hash)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        # The changelist template offers the report pages to those who may download reports.
        may_report = allowed(request.user, "report", DOWNLOAD)
        return super().changelist_view(request, {**(extra_context or {}), "may_report": may_report})

    def get_urls(self) -> list[URLPattern]:
        return [
            path("report/", self.admin_site.admin_view(self.report_view), name="governance_audit_report"),
            path(
                "records-of-processing/",
                self.admin_site.admin_view(self.records_view),
                name="governance_records_of_processing",
            ),
            *super().get_urls(),
        ]

    def report_view(self, request: HttpRequest) -> HttpResponseBase:
        """A form for the audit report's period, filters and output; its POST returns the report."""
        if not allowed(request.user, "report", DOWNLOAD):
            raise PermissionDenied
        form = AuditReportForm(request.POST if request.method == "POST" else None, prefix="report")
        if form.is_valid():
            data = {k: (str(v) if v is not None else "") for k, v in form.cleaned_data.items()}
            output = data.pop("output")
            try:
                where = reports.report_audit_filter(**data)
                return file_response(
                    reports.report_audit_generate(actor=request.user, where=where, output=output)
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": "Audit report",
            "intro": "Events of a period (dates in UTC, both days included), with the chain's verification "
            "in the PDF. The PDF prints a capped number of events; CSV and JSON hold them all.",
            "rows": [],
            "form": form,
            "submit": "Generate",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/confirm_with_reason.html", context)

    def records_view(self, request: HttpRequest) -> HttpResponseBase:
        """The GDPR Art. 30 records: `?output=pdf` for the PDF, the CSV otherwise."""
        if not allowed(request.user, "report", DOWNLOAD):
            raise PermissionDenied
        output = "pdf" if request.GET.get("output") == "pdf" else "csv"
        return file_response(reports.report_records_of_processing_generate(actor=request.user, output=output))


class AuditReportForm(forms.Form):
    """The audit report's inputs in the admin (the API takes date-times too)."""

    start = forms.DateField(help_text="YYYY-MM-DD, the first day of the period")
    end = forms.DateField(help_text="YYYY-MM-DD, the last day of the period (included)")
    object_type = forms.CharField(required=False, max_length=100, help_text="e.g. governance.dpia")
    object_id = forms.CharField(required=False, max_length=64)
    action = forms.CharField(required=False, max_length=100, help_text="e.g. dpia.approved")
    output = forms.ChoiceField(choices=ReportOutput.choices, initial=ReportOutput.PDF)


# The erasure workbench registers its pages on import.
from governance import admin_deployments, admin_erasure, admin_retention  # noqa: E402, F401
