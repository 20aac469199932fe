"""Retention in the admin: legal holds (officers record and lift them) and the runs, with the CSV report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy

from governance.admin_actions import ReasonPage, ask_then_run
from governance.admin_base import PolicyAdmin
from governance.models import LegalHold, RetentionRun
from governance.policy import DOWNLOAD, allowed
from governance.services import retention

# Translated when shown; typed as str for the dataclasses and admin attributes that take one.
_ = cast("Callable[[str], str]", gettext_lazy)


class LegalHoldForm(forms.ModelForm):
    """A new hold: the service checks the target and the reason, so its refusal is the form's error."""

    class Meta:
        model = LegalHold
        fields = ["dataset", "collection", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "reason" in self.fields:  # absent on a recorded hold's read-only page
            self.fields["reason"].required = False  # blank: the service's `hold_reason_required`

    def _post_clean(self) -> None:  # type: ignore[misc]
        pass  # legal_hold_create validates and saves


class LiftForm(forms.Form):
    reason = forms.CharField(required=False, widget=forms.Textarea, help_text=_("Why the hold ends"))


LIFT_PAGE = ReasonPage(
    action="lift",
    title=_("Lift legal holds"),
    intro=_("Retention removes what fell due at its next sweep."),
    submit=_("Lift"),
)


@admin.register(LegalHold)
class LegalHoldAdmin(PolicyAdmin):
    policy_resource = "retention"
    offers_change = False
    form = LegalHoldForm
    list_display = ["__str__", "reason", "created_by", "created_at", "lifted_at", "lifted_by"]
    list_filter = ["lifted_at"]
    readonly_fields = ["created_by", "created_at", "lifted_at", "lifted_by", "lift_reason"]
    actions = ["lift"]

    def save_model(self, request: HttpRequest, obj: LegalHold, form: ModelForm, change: bool) -> None:
        data = form.cleaned_data
        hold = retention.legal_hold_create(
            actor=request.user,
            reason=data.get("reason") or "",
            dataset=data.get("dataset"),
            collection=data.get("collection"),
        )
        obj.pk = hold.pk

    @admin.action(description=_("Lift (retention resumes)"), permissions=["write"])
    def lift(self, request: HttpRequest, queryset: QuerySet[LegalHold]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            LiftForm,
            LIFT_PAGE,
            lambda row, d: retention.legal_hold_lift(actor=request.user, hold=row, **d),
            _("Lifted"),
        )


@admin.register(RetentionRun)
class RetentionRunAdmin(PolicyAdmin):
    """The retention report: what was deleted, noticed or held, when, under which rule."""

    policy_resource = "retention"
    offers_add = False
    offers_change = False
    list_display = [
        "created_at",
        "outcome",
        "rule",
        "target_type",
        "target_name",
        "due_on",
        "counts",
        "purged_at",
    ]
    list_filter = ["outcome", "rule", "target_type"]
    search_fields = ["target_name"]
    readonly_fields = [
        "created_at",
        "outcome",
        "rule",
        "target_type",
        "target_id",
        "target_name",
        "due_on",
        "counts",
        "ids",
        "hold",
        "notified",
        "purge",
        "purged_at",
    ]
    change_list_template = "admin/governance/retentionrun/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra = {**(extra_context or {}), "may_report": allowed(request.user, "retention", DOWNLOAD)}
        return super().changelist_view(request, extra)

    def get_urls(self) -> list[URLPattern]:
        report = path(
            "report/", self.admin_site.admin_view(self.report_view), name="governance_retentionrun_report"
        )
        return [report, *super().get_urls()]

    def report_view(self, request: HttpRequest) -> HttpResponse:
        """The retention report as CSV: every run, newest first (officers and auditors)."""
        if not allowed(request.user, "retention", DOWNLOAD):
            raise PermissionDenied
        rows = retention.retention_report(actor=request.user, output="csv")
        response = HttpResponse(retention.report_csv(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(True, "retention-report.csv")
        response["Cache-Control"] = "no-store"
        return response
