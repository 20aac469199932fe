"""Deployments in the admin: request, see every gate, approve (four eyes), activate, retire, documentation.

Every change goes through governance/services/deployments.py, so the admin refuses exactly what the
API refuses, with the service's message.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from governance.admin_actions import ReasonPage, ask_then_run, run_each
from governance.admin_base import PolicyAdmin, PolicyTabularInline
from governance.models import Deployment, DeploymentDocumentation
from governance.services import deployments, documentation


class DocumentationInline(PolicyTabularInline):
    model = DeploymentDocumentation
    policy_resource = "deployment"
    fk_name = "deployment"
    fields = ("version", "created_at", "created_by", "missing_facts", "pdf", "facts_sha256")
    readonly_fields = fields
    ordering = ("-version",)
    extra = 0

    @admin.display(description="Missing facts")
    def missing_facts(self, obj: DeploymentDocumentation) -> int:
        return len(obj.missing)

    @admin.display(description="PDF")
    def pdf(self, obj: DeploymentDocumentation) -> str:
        url = reverse("deployment-documentation-pdf", args=[obj.deployment_id])
        return format_html('<a href="{}?version={}">PDF</a> sha256 {}', url, obj.version, obj.pdf_sha256)


class RetireForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


@admin.register(Deployment)
class DeploymentAdmin(PolicyAdmin):
    policy_resource = "deployment"
    offers_change = False  # after the request every change is an action through the service
    list_display = [
        "__str__",
        "status",
        "environment",
        "adapter_version",
        "collection",
        "requested_by",
        "approved_by",
        "created_at",
    ]
    list_filter = ["status", "environment", "ai_system"]
    actions = ["generate_documentation", "approve", "activate", "retire"]
    add_fields = ["ai_system", "base_model", "adapter_version", "collection", "environment", "notes"]
    readonly_fields = [
        "ai_system",
        "base_model",
        "adapter_version",
        "collection",
        "environment",
        "status",
        "notes",
        "requested_by",
        "approved_by",
        "approved_at",
        "gates",
        "approved_gates",
        "documentation",
        "activated_at",
        "retired_at",
        "retired_reason",
        "blocked_at",
        "blocked_from",
        "blocked_reasons_display",
    ]
    inlines = [DocumentationInline]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.inlines

    def save_model(self, request: HttpRequest, obj: Deployment, form: ModelForm, change: bool) -> None:
        data = form.cleaned_data
        created = deployments.deployment_request(
            actor=request.user,
            ai_system=data["ai_system"],
            base_model=data["base_model"],
            environment=data["environment"],
            adapter_version=data.get("adapter_version"),
            collection=data.get("collection"),
            notes=data.get("notes") or "",
        )
        obj.pk = created.pk

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        pass

    @admin.display(description="Gates now")
    def gates(self, obj: Deployment) -> str:
        return _gate_table(deployments.gate_report(obj))

    @admin.display(description="Gates at approval")
    def approved_gates(self, obj: Deployment) -> str:
        return _gate_table(obj.gate_results) if obj.gate_results else "-"

    @admin.display(description="Blocked because")
    def blocked_reasons_display(self, obj: Deployment) -> str:
        return _gate_table(obj.blocked_reasons) if obj.blocked_reasons else "-"

    @admin.action(description="Generate the Annex IV documentation", permissions=["write"])
    def generate_documentation(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        def generate(deployment: Deployment) -> None:
            doc, created = documentation.documentation_generate(actor=request.user, deployment=deployment)
            said = "generated" if created else "already current, unchanged"
            messages.success(request, f"{deployment}: documentation version {doc.version} {said}")

        run_each(request, queryset, generate)

    @admin.action(description="Approve (every gate must pass; not your own request)", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        done = run_each(
            request, queryset, lambda d: deployments.deployment_approve(actor=request.user, deployment=d)
        )
        if done:
            messages.success(request, f"Approved: {done}")

    @admin.action(
        description="Activate (retires the active one of the same system and environment)",
        permissions=["write"],
    )
    def activate(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        done = run_each(
            request, queryset, lambda d: deployments.deployment_activate(actor=request.user, deployment=d)
        )
        if done:
            messages.success(request, f"Activated: {done}")

    @admin.action(description="Retire", permissions=["write"])
    def retire(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            RetireForm,
            ReasonPage("retire", "Retire deployments", "The deployments below stop being served.", "Retire"),
            lambda d, data: deployments.deployment_retire(
                actor=request.user, deployment=d, reason=data["reason"]
            ),
            "Retired",
        )


def _gate_table(entries: list[dict[str, Any]]) -> str:
    """Gate results as a table: each failure with its message and what unblocks it."""
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                e.get("gate", e.get("code", "")),
                e.get("status", "failed"),
                e.get("message", "") or e.get("checks", ""),
                e.get("remedy", ""),
            )
            for e in entries
        ),
    )
    return format_html(
        "<table><thead><tr><th>Gate</th><th>Status</th><th>What</th><th>What unblocks it</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        rows,
    )
