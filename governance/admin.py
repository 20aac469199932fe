"""Admin pages. Saves and actions go through the services; who may do what is governance/policy.py."""

from __future__ import annotations

import dataclasses
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from governance import advisor as advice
from governance.admin_actions import ReasonPage, ask_then_run
from governance.admin_base import PolicyAdmin, PolicyTabularInline
from governance.api.reports import file_response
from governance.choices import DPIAStatus
from governance.errors import DomainError
from governance.models import DPIA, AISystem, AuditEvent, Dataset, DatasetVersion
from governance.policy import DOWNLOAD, REVIEW, allowed
from governance.services import datasets, dpia, reports, systems
from governance.services.advisor import ai_system_advisor_record
from governance.services.reports import ReportOutput


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
class AISystemAdmin(PolicyAdmin):
    policy_resource = "ai_system"
    list_display = ["name", "risk_class", "approach", "status", "owner", "created_at"]
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


class DatasetVersionInline(PolicyTabularInline):
    model = DatasetVersion
    policy_resource = "dataset_version"
    fields = ("number", "status", "record_count", "holdout_count", "scanned_records", "pii_summary", "sha256")
    readonly_fields = fields
    show_change_link = True


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
    policy_resource = "dataset_version"
    offers_add = False  # versions are uploaded through the API as JSONL
    list_display = [
        "__str__",
        "status",
        "record_count",
        "holdout_count",
        "contains_personal_data",
        "progress",
    ]
    list_filter = ["status", "contains_personal_data"]
    readonly_fields = [f.name for f in DatasetVersion._meta.fields]


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


@admin.register(AuditEvent)
class AuditEventAdmin(PolicyAdmin):
    policy_resource = "audit_event"
    offers_add = False
    offers_change = False  # the chain is append-only
    list_display = ["sequence", "timestamp", "actor", "action", "object_type", "object_id", "hash"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

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


admin.site.site_header = "AI Governance"
admin.site.site_title = "AI Governance"
admin.site.index_title = "Registers"

# The erasure workbench registers its pages on import.
from governance import admin_deployments, admin_erasure  # noqa: E402, F401
