"""The admin's approve action: an adapter that failed its hold-out evaluation asks for a justification.

Without this page the action would either refuse every failed adapter or pass them silently; the officer
instead sees which evaluations failed and writes why the adapter is approved anyway (stored, audited).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from governance.errors import DomainError
from training.models import AdapterVersion
from training.services import adapters

TEMPLATE = "admin/training/adapterversion/approve_override.html"


class OverrideForm(forms.Form):
    """The written justification for approving adapters below their threshold."""

    override_justification = forms.CharField(
        label="Justification",
        min_length=adapters.OVERRIDE_MIN_CHARS,
        max_length=adapters.OVERRIDE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="Why these adapters are approved although they failed their hold-out evaluation.",
    )


def approve_with_override(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[AdapterVersion]
) -> TemplateResponse | None:
    """Approve the selection; when any of it failed its evaluation, first ask for (and check) a reason."""
    failed = {a.pk: adapters.failed_evaluations(a) for a in queryset}
    failed = {pk: rows for pk, rows in failed.items() if rows}
    justification = ""
    if failed:
        form = OverrideForm(request.POST if "override_justification" in request.POST else None)
        if not form.is_valid():
            return _ask(modeladmin, request, queryset, form, failed)
        justification = form.cleaned_data["override_justification"]
    done = 0
    for adapter in queryset:
        try:
            adapters.adapter_version_approve(
                actor=request.user, adapter=adapter, override_justification=justification
            )
            done += 1
        except DomainError as exc:
            messages.error(request, f"{adapter}: {exc.message}")
    if done:
        messages.success(request, f"Approved: {done}" + (" (with override)" if failed else ""))
    return None


def _ask(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[AdapterVersion],
    form: OverrideForm,
    failed: dict[int, list[Any]],
) -> TemplateResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Approve adapters that failed their evaluation",
        "opts": modeladmin.model._meta,
        "form": form,
        "adapters": [(a, failed.get(a.pk, [])) for a in queryset],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, TEMPLATE, context)
