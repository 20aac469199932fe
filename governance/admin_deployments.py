"""Deployments in the admin: request, see every gate, approve (four eyes), activate, retire, documentation.

Every change goes through governance/services/deployments.py, so the admin refuses exactly what the
API refuses, with the service's code and message. A deployment's page shows its gates as traffic
lights (each with what it checks, why it fails and what unblocks it), what blocked it, and every
Annex IV documentation version with its downloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy, ngettext

from governance import gates as gate_registry
from governance import ui
from governance.admin_actions import ReasonPage, ask_then_run, run_each
from governance.admin_base import ObjectAction, PolicyAdmin
from governance.choices import AnswerBackend, DeploymentStatus
from governance.errors import DomainError
from governance.models import Deployment, DeploymentDocumentation
from governance.policy import DOWNLOAD, REVIEW, WRITE, allowed
from governance.services import deployments, documentation

# Translated when shown, in the reader's language; typed as str for the dataclasses and admin attributes
# that take one. makemessages finds `_(...)` as usual.
_ = cast("Callable[[str], str]", gettext_lazy)


class DeploymentAddForm(ModelForm):  # type: ignore[type-arg]
    """The request form: an openai_compatible deployment needs its server's URL (as the API says)."""

    class Meta:
        model = Deployment
        fields = [
            "ai_system", "base_model", "adapter_version", "collection", "environment", "notes",
            "answer_backend", "inference_url", "inference_model", "requires_grounding",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("answer_backend") == AnswerBackend.OPENAI_COMPATIBLE and not data.get("inference_url"):
            self.add_error(
                "inference_url", "an openai_compatible deployment needs the inference server's URL"
            )
        elif data.get("inference_url"):
            try:
                deployments.check_inference_url(data["inference_url"])
            except DomainError as exc:
                self.add_error("inference_url", exc.message)
        return data


class RetireForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=2000
    )


def gate_lights(entries: list[dict[str, Any]]) -> SafeString:
    """Gates as traffic lights: a pass/fail badge per gate, what it checks, why it fails, what unblocks it.

    Takes the service's entries as they are: a live report, the results frozen at approval, or the
    failures that blocked a deployment (which carry no status: each is a failure).
    """
    if not entries:
        return format_html("<em>{}</em>", _("none"))
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                _light(entry.get("status", gate_registry.FAILED)),
                entry.get("gate", entry.get("code", "")),
                entry.get("checks", ""),
                entry.get("message", ""),
                entry.get("remedy", ""),
            )
            for entry in entries
        ),
    )
    head = format_html_join(
        "",
        "<th scope='col'>{}</th>",
        (
            (h,)
            for h in (_("Light"), _("Gate"), _("What it checks"), _("Why it fails"), _("What unblocks it"))
        ),
    )
    return format_html(
        '<table class="gv-grid gv-gates"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, rows
    )


def _light(status: str) -> SafeString:
    passed = status == gate_registry.PASSED
    return ui.badge("pass" if passed else "fail", _("pass") if passed else _("fail"))


def _documentation_links(doc: DeploymentDocumentation) -> SafeString:
    pdf = reverse("deployment-documentation-pdf", args=[doc.deployment_id])
    facts = reverse("deployment-documentation", args=[doc.deployment_id])
    return format_html(
        '<a href="{}?version={}">PDF</a> &middot; <a href="{}?version={}">JSON</a>',
        pdf,
        doc.version,
        facts,
        doc.version,
    )


def documentation_table(deployment: Deployment, *, downloads: bool) -> SafeString:
    """Every Annex IV version, newest first, the one frozen at approval marked; downloads if allowed."""
    versions = list(deployment.documentation_versions.select_related("created_by").order_by("-version"))
    if not versions:
        return format_html("<em>{}</em>", _("No documentation has been generated yet."))
    rows = []
    for doc in versions:
        missing = (
            format_html(
                '{} <span class="gv-overdue">{}</span>',
                ui.badge("fail", len(doc.missing)),
                ", ".join(doc.missing),
            )
            if doc.missing
            else ui.badge("pass", _("none"))
        )
        frozen = ui.badge("approved", _("approved with")) if doc.pk == deployment.documentation_id else ""
        rows.append(
            (
                doc.version,
                frozen,
                ui.when(doc.created_at),
                doc.created_by or "-",
                missing,
                ui.short_hash(doc.facts_sha256),
                ui.short_hash(doc.pdf_sha256),
                _documentation_links(doc) if downloads else "-",
            )
        )
    head = format_html_join(
        "",
        "<th scope='col'>{}</th>",
        (
            (h,)
            for h in (
                _("Version"),
                "",
                _("Generated"),
                _("By"),
                _("Missing facts"),
                _("Facts sha256"),
                _("PDF sha256"),
                _("Download"),
            )
        ),
    )
    body = format_html_join("", "<tr>" + "<td>{}</td>" * 8 + "</tr>", rows)
    return format_html(
        '<table class="gv-grid gv-documentation"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        head,
        body,
    )


def _generate(request: HttpRequest, deployment: Deployment, data: dict[str, Any]) -> None:
    doc, created = documentation.documentation_generate(actor=request.user, deployment=deployment)
    said = _("generated") if created else _("already current, unchanged")
    messages.info(request, _("Documentation version %(v)s %(said)s") % {"v": doc.version, "said": said})


DEPLOYMENT_ACTIONS = (
    ObjectAction(
        "approve",
        _("Approve"),
        REVIEW,
        lambda request, d, data: deployments.deployment_approve(actor=request.user, deployment=d),
        intro=_(
            "Every gate must pass, and the person who requested the deployment does not approve it. "
            "The gates' results and the current documentation are frozen with the approval."
        ),
        applies=lambda d: d.status in (DeploymentStatus.REQUESTED, DeploymentStatus.BLOCKED),
    ),
    ObjectAction(
        "activate",
        _("Activate"),
        WRITE,
        lambda request, d, data: deployments.deployment_activate(actor=request.user, deployment=d),
        intro=_("The gates run again; the active deployment of the same system and environment retires."),
        applies=lambda d: d.status == DeploymentStatus.APPROVED,
    ),
    ObjectAction(
        "retire",
        _("Retire"),
        WRITE,
        lambda request, d, data: deployments.deployment_retire(
            actor=request.user, deployment=d, reason=data["reason"]
        ),
        form=RetireForm,
        intro=_("The deployment stops being served. Write why."),
        applies=lambda d: d.status != DeploymentStatus.RETIRED,
    ),
    ObjectAction(
        "generate_documentation",
        _("Generate the Annex IV documentation"),
        WRITE,
        _generate,
        intro=_(
            "A new version when the registers' facts changed since the newest; otherwise the newest "
            "stays as it is."
        ),
        applies=lambda d: d.status != DeploymentStatus.RETIRED,
    ),
)


@admin.register(Deployment)
class DeploymentAdmin(PolicyAdmin):
    policy_resource = "deployment"
    offers_change = False  # after the request every change is an action through the service
    list_display = [
        "__str__",
        "status_badge",
        "environment",
        "adapter_version",
        "collection",
        "requested_by",
        "approved_by",
        "created_at",
    ]
    list_filter = ["status", "environment", "ai_system"]
    actions = ["generate_documentation", "approve", "activate", "retire"]
    object_actions = DEPLOYMENT_ACTIONS
    panels = ("blocked_panel", "gates_panel", "documentation_panel")
    add_fields = list(DeploymentAddForm.Meta.fields)
    add_form = DeploymentAddForm
    # The live gates, the blocking failures and the documentation versions are panels above these.
    readonly_fields = [
        "ai_system",
        "base_model",
        "adapter_version",
        "collection",
        "environment",
        "status",
        "notes",
        "answer_backend",
        "inference_url",
        "inference_model",
        "requires_grounding",
        "requested_by",
        "approved_by",
        "approved_at",
        "approved_gates",
        "documentation",
        "activated_at",
        "retired_at",
        "retired_reason",
        "blocked_at",
        "blocked_from",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fields if obj is None else self.readonly_fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

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
            answer_backend=data.get("answer_backend") or AnswerBackend.LOCAL,
            inference_url=data.get("inference_url") or "",
            inference_model=data.get("inference_model") or "",
            requires_grounding=bool(data.get("requires_grounding")),
        )
        obj.pk = created.pk

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        pass

    # --- Panels ---

    def gates_panel(self, request: HttpRequest, obj: Deployment) -> SafeString:
        report = deployments.gate_report(obj)
        failed = len(deployments.failed_gates(report))
        summary = (
            format_html(
                '<p class="gv-overdue">{}</p>',
                ngettext("%(n)d gate fails", "%(n)d gates fail", failed) % {"n": failed},
            )
            if failed
            else format_html("<p>{} {}</p>", ui.badge("pass", _("pass")), _("Every gate passes."))
        )
        return format_html("<h3>{}</h3>{}{}", _("Gates now"), summary, gate_lights(report))

    def blocked_panel(self, request: HttpRequest, obj: Deployment) -> SafeString:
        if not obj.blocked_reasons:
            return format_html("{}", "")
        return format_html(
            '<h3 class="gv-overdue">{}</h3><p class="gv-overdue">{}</p>{}',
            _("Blocked"),
            _("Blocked at %(when)s (was %(status)s) because:")
            % {"when": ui.when(obj.blocked_at), "status": obj.blocked_from or "-"},
            gate_lights(obj.blocked_reasons),
        )

    def documentation_panel(self, request: HttpRequest, obj: Deployment) -> SafeString:
        downloads = allowed(request.user, self.policy_resource, DOWNLOAD)
        return format_html(
            "<h3>{}</h3>{}", _("Annex IV documentation"), documentation_table(obj, downloads=downloads)
        )

    # --- Columns and fields ---

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj: Deployment) -> SafeString:
        return ui.badge(obj.status, obj.get_status_display())

    @admin.display(description=_("Gates at approval"))
    def approved_gates(self, obj: Deployment) -> SafeString:
        return gate_lights(obj.gate_results) if obj.gate_results else format_html("{}", "-")

    # --- List actions (several deployments at once) ---

    @admin.action(description=_("Generate the Annex IV documentation"), permissions=["write"])
    def generate_documentation(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        def generate(deployment: Deployment) -> None:
            doc, created = documentation.documentation_generate(actor=request.user, deployment=deployment)
            said = "generated" if created else "already current, unchanged"
            messages.success(request, f"{deployment}: documentation version {doc.version} {said}")

        run_each(request, queryset, generate)

    @admin.action(
        description=_("Approve (every gate must pass; not your own request)"), permissions=["review"]
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        done = run_each(
            request, queryset, lambda d: deployments.deployment_approve(actor=request.user, deployment=d)
        )
        if done:
            messages.success(request, f"Approved: {done}")

    @admin.action(
        description=_("Activate (retires the active one of the same system and environment)"),
        permissions=["write"],
    )
    def activate(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        done = run_each(
            request, queryset, lambda d: deployments.deployment_activate(actor=request.user, deployment=d)
        )
        if done:
            messages.success(request, f"Activated: {done}")

    @admin.action(description=_("Retire"), permissions=["write"])
    def retire(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            RetireForm,
            ReasonPage(
                "retire", _("Retire deployments"), _("The deployments below stop being served."), _("Retire")
            ),
            lambda d, data: deployments.deployment_retire(
                actor=request.user, deployment=d, reason=data["reason"]
            ),
            "Retired",
        )
