"""Admin actions that need a written reason first: approving a failed adapter, tainting.

Django admin actions take no input, so these show an intermediate page with the selection and a form;
the page posts back to the same action with the reason, which the service stores and audits. Without
it the approve action would either refuse every failed adapter or pass them silently, and a taint would
have no reason to record.

The row page's buttons (training/admin.py `object_actions`) use the forms below and the same services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from governance.admin_actions import ReasonPage, ask, bound, run_each
from training.models import AdapterVersion
from training.services import adapters


class OverrideForm(forms.Form):
    """The written justification for approving adapters below their threshold."""

    override_justification = forms.CharField(
        label=_("Justification"),
        min_length=adapters.OVERRIDE_MIN_CHARS,
        max_length=adapters.OVERRIDE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text=_("Why these adapters are approved although they failed their hold-out evaluation."),
    )


class ApproveForm(forms.Form):
    """The approve button's form: a justification, needed only when the hold-out evaluation failed.

    Optional here on purpose: whether one is needed, and how long it must be, is the service's decision
    (409 `evaluation_failed` without one, 400 `invalid_override_justification` when too short), so the
    page shows the same code the API answers with.
    """

    justification = forms.CharField(
        label=_("Override justification"),
        required=False,
        max_length=adapters.OVERRIDE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text=format_lazy(
            _(
                "Needed only if the adapter failed its hold-out evaluation: why it is approved anyway "
                "(at least {min} characters). Stored on the adapter, shown with it and audited."
            ),
            min=adapters.OVERRIDE_MIN_CHARS,
        ),
    )


class TaintForm(forms.Form):
    """Why the selection must no longer be used; the same bound as the API's taint input."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text=_("E.g. a licence withdrawn or an erasure request; stored on each row and audited."),
    )


OVERRIDE_PAGE = ReasonPage(
    action="approve",
    title="Approve adapters that failed their evaluation",
    intro="These adapters scored below their AI system's threshold on the hold-out. Approving them is an "
    "override: write why; the justification is stored on each adapter, shown with it and audited.",
    submit="Approve with this justification",
)
TAINT_PAGE = ReasonPage(
    action="taint",
    title="Taint the selection",
    intro="A taint is final: nothing tainted is used again (no new fine-tune job on a tainted base model, "
    "no download or approval of a tainted adapter). Write why; the reason is stored on each row and audited.",
    submit="Taint with this reason",
)


def approve_with_override(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[AdapterVersion]
) -> TemplateResponse | None:
    """Approve the selection; when any of it failed its evaluation, first ask for (and check) a reason."""
    failed = {a.pk: adapters.failed_evaluations(a) for a in queryset}
    failed = {pk: rows for pk, rows in failed.items() if rows}
    justification = ""
    if failed:
        form = bound(OverrideForm, request)
        if not form.is_valid():
            notes = {pk: "; ".join(_below(e) for e in rows) for pk, rows in failed.items()}
            return ask(modeladmin, request, queryset, form, OVERRIDE_PAGE, notes)
        justification = form.cleaned_data["override_justification"]
    done = run_each(
        request,
        queryset,
        lambda a: adapters.adapter_version_approve(
            actor=request.user, adapter=a, override_justification=justification
        ),
    )
    if done:
        messages.success(request, f"Approved: {done}" + (" (with override)" if failed else ""))
    return None


def approve_one(request: HttpRequest, adapter: AdapterVersion, data: dict[str, Any]) -> AdapterVersion:
    """The approve button: the same service as the list action, with the page's justification."""
    return adapters.adapter_version_approve(
        actor=request.user, adapter=adapter, override_justification=data.get("justification", "")
    )


def taint_with_reason(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    taint: Callable[[Any, str], Any],
) -> TemplateResponse | None:
    """Ask why (posting back to the action `taint`), then call the service `taint(row, reason)` per row."""
    form = bound(TaintForm, request)
    if not form.is_valid():
        return ask(modeladmin, request, queryset, form, TAINT_PAGE, {})
    reason = form.cleaned_data["reason"]
    done = run_each(request, queryset, lambda row: taint(row, reason))
    if done:
        messages.success(request, f"Tainted: {done}")
    return None


def _below(evaluation: Any) -> str:
    return f"{evaluation.primary_metric} {evaluation.score:.3f} below threshold {evaluation.threshold:.2f}"
