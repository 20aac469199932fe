"""Admin pages. Saves and actions go through the services; who may do what is governance/policy.py."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from governance.admin_base import PolicyAdmin, PolicyTabularInline
from governance.choices import DPIAStatus
from governance.errors import DomainError
from governance.models import DPIA, AISystem, AuditEvent, Dataset, DatasetVersion
from governance.policy import REVIEW, allowed
from governance.services import datasets, dpia, systems


def _changed(form: ModelForm) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in form.changed_data}


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
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Risk class, status and the documentation facts are an officer's decision (the service refuses
        # changes to anyone else); an engineer registering a system proposes its first risk class, and it
        # starts as a draft.
        decided = ["risk_class_decided_by", "risk_class_decided_at"]
        if allowed(request.user, "ai_system", REVIEW):
            return decided
        if obj is None:
            return [*decided, "status", *systems.DOCUMENTATION_FIELDS]
        return [*decided, *systems.OFFICER_FIELDS, *systems.DOCUMENTATION_FIELDS]

    def save_model(self, request: HttpRequest, obj: AISystem, form: ModelForm, change: bool) -> None:
        if change:
            systems.ai_system_update(
                actor=request.user, system=AISystem.objects.get(pk=obj.pk), **_changed(form)
            )
        else:
            created = systems.ai_system_create(actor=request.user, **form.cleaned_data)
            obj.pk = created.pk


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


admin.site.site_header = "AI Governance"
admin.site.site_title = "AI Governance"
admin.site.index_title = "Registers"

# The erasure workbench registers its pages on import.
from governance import admin_deployments, admin_erasure  # noqa: E402, F401
