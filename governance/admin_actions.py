"""Admin actions that need input first (a reason, a ground): one intermediate page for every app.

Django admin actions take no input, so these show a page with the selection and a form; the page
posts back to the same action with the form filled in, and only then is the service called, once per
selected row. A row the service refuses becomes an admin error message with the service's text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from governance.errors import DomainError

TEMPLATE = "admin/confirm_with_reason.html"


@dataclass(frozen=True)
class ReasonPage:
    """The intermediate page: the action it posts back to, its title, text above the selection, button."""

    action: str
    title: str
    intro: str
    submit: str


def bound(form_class: type[forms.Form], request: HttpRequest) -> forms.Form:
    """The form bound to the page's POST; unbound on the changelist's first POST (no errors shown)."""
    field = next(iter(form_class.base_fields))
    return form_class(request.POST if field in request.POST else None)


def run_each(request: HttpRequest, queryset: QuerySet[Any], call: Callable[[Any], Any]) -> int:
    """Call `call` on each row; a refused row becomes an admin error message. Returns how many passed."""
    done = 0
    for row in queryset:
        try:
            call(row)
            done += 1
        except DomainError as exc:
            messages.error(request, f"{row}: {exc.message}")
    return done


def ask(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    form: forms.Form,
    page: ReasonPage,
    notes: dict[Any, str] | None = None,
) -> TemplateResponse:
    """Render the intermediate page for the selection."""
    notes = notes or {}
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": page.title,
        "intro": page.intro,
        "submit": page.submit,
        "opts": modeladmin.model._meta,
        "form": form,
        "rows": [(row, notes.get(row.pk, "passed" if notes else "")) for row in queryset],
        "action": page.action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, TEMPLATE, context)


def ask_then_run(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    form_class: type[forms.Form],
    page: ReasonPage,
    call: Callable[[Any, dict[str, Any]], Any],
    done_message: str,
) -> TemplateResponse | None:
    """Show the form until it is valid, then call `call(row, cleaned_data)` for each selected row."""
    form = bound(form_class, request)
    if not form.is_valid():
        return ask(modeladmin, request, queryset, form, page)
    data = form.cleaned_data
    done = run_each(request, queryset, lambda row: call(row, data))
    if done:
        messages.success(request, f"{done_message}: {done}")
    return None
