"""The admin's base classes: every page and action asks governance/policy.py, as the API does.

The admin site itself still needs `is_staff` to log in; what a staff user then sees and does is decided
by their role, never by Django's per-model permissions. Actions declare policy verbs:
`@admin.action(permissions=["review"])` makes Django call `has_review_permission`, which asks the policy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from governance import ui
from governance.errors import DomainError
from governance.policy import DOWNLOAD, READ, REVIEW, WRITE, allowed


class PolicyMixin:
    """Permission hooks shared by model admins and inlines; `policy_resource` names the policy line."""

    policy_resource: ClassVar[str] = ""
    # Whether the page offers adding or editing at all (some rows only arrive through the API or the
    # worker); when it does, the policy's write verb decides who may.
    offers_add: ClassVar[bool] = True
    offers_change: ClassVar[bool] = True

    def _may(self, request: HttpRequest, verb: str) -> bool:
        return allowed(request.user, self.policy_resource, verb)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request, READ)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, READ)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self.offers_add and self._may(request, WRITE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.offers_change and self._may(request, WRITE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # registers keep their history: retire, taint or delete through a service action

    def has_write_permission(self, request: HttpRequest) -> bool:
        return self._may(request, WRITE)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return self._may(request, REVIEW)

    def has_download_permission(self, request: HttpRequest) -> bool:
        return self._may(request, DOWNLOAD)


@dataclass(frozen=True)
class ObjectAction:
    """A button on one row's page: its own page asks for confirmation (and a form), then runs a service.

    `run(request, obj, cleaned_data)` calls the same service as the API; a `DomainError` it raises is
    shown with its code and message, with the API's HTTP status, and nothing is changed. `applies(obj)`
    hides the button where the row's state makes it meaningless (the service still decides).
    `response`: `run` returns a response to send (a download) instead of going back to the row's page.
    """

    name: str
    label: str
    verb: str
    run: Callable[[HttpRequest, Any, dict[str, Any]], Any]
    form: type[forms.Form] | None = None
    intro: str = ""
    applies: Callable[[Any], bool] = lambda obj: True
    response: bool = False


class _Refused(Exception):
    """A service refused an add or change form's save: shown on the form, not as a server error."""

    def __init__(self, error: DomainError, form: Any) -> None:
        super().__init__(error.message)
        self.error = error
        self.form = form


def _refusal_aware(save_model: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(save_model)
    def wrapped(self: Any, request: HttpRequest, obj: Any, form: Any, change: bool) -> Any:
        try:
            return save_model(self, request, obj, form, change)
        except DomainError as exc:
            raise _Refused(exc, form) from exc

    wrapped.refusal_aware = True  # type: ignore[attr-defined]
    return wrapped


class PolicyAdmin(PolicyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Base of every ModelAdmin in governance, retrieval and training.

    `object_actions` are buttons on a row's page (`<id>/do/<name>/`), each guarded by its policy verb;
    `panels` names methods `(request, obj) -> html` shown above the row's fields (a risk map, gates,
    progress). Both read the same services and selectors as the API.

    `fragments` names methods `(obj) -> html` served at `<id>/fragment/<name>/` to whoever may read the
    row: `self.live(obj, name)` puts one on the page in a box that refreshes itself (progress of a scan,
    a job, an erasure) until the fragment says its work is done.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Saves go through services; a refusal (duplicate name, invalid reference, another system's
        # adapter) becomes an error on the form with the API's message, code and status, not a 500.
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("save_model")
        if own is not None and not getattr(own, "refusal_aware", False):
            cls.save_model = _refusal_aware(own)  # type: ignore[method-assign]

    fragments: ClassVar[tuple[str, ...]] = ()
    object_actions: ClassVar[tuple[ObjectAction, ...]] = ()
    panels: ClassVar[tuple[str, ...]] = ()
    change_form_template = "admin/governance/object_page.html"

    def get_urls(self) -> list[URLPattern]:
        urls = super().get_urls()
        meta = self.model._meta
        extra = []
        if self.fragments:
            extra.append(
                path(
                    "<path:object_id>/fragment/<str:name>/",
                    self.admin_site.admin_view(self.fragment_view),
                    name=f"{meta.app_label}_{meta.model_name}_fragment",
                )
            )
        if self.object_actions:
            extra.append(
                path(
                    "<path:object_id>/do/<str:name>/",
                    self.admin_site.admin_view(self.object_action_view),
                    name=f"{meta.app_label}_{meta.model_name}_do",
                )
            )
        return [*extra, *urls]

    def object_action_url(self, obj: Any, name: str) -> str:
        meta = self.model._meta
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_do", args=[obj.pk, name])

    def offered_actions(self, request: HttpRequest, obj: Any) -> list[ObjectAction]:
        """The buttons this reader may press on this row, in declaration order."""
        return [a for a in self.object_actions if self._may(request, a.verb) and a.applies(obj)]

    def buttons(self, request: HttpRequest, obj: Any) -> SafeString:
        offered = self.offered_actions(request, obj)
        if not offered:
            return format_html("{}", "")
        links = format_html_join(
            "",
            '<a class="gv-button" data-action="{}" href="{}">{}</a>',
            ((a.name, self.object_action_url(obj, a.name), a.label) for a in offered),
        )
        return format_html('<div class="gv-buttons">{}</div>', links)

    def object_action_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponseBase:
        action = next((a for a in self.object_actions if a.name == name), None)
        if action is None:
            raise Http404(name)
        if not self.has_view_permission(request) or not self._may(request, action.verb):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(object_id)
        form = action.form(request.POST if request.method == "POST" else None) if action.form else None
        status = 200
        if request.method == "POST" and (form is None or form.is_valid()):
            try:
                result = action.run(request, obj, form.cleaned_data if form is not None else {})
            except DomainError as exc:
                # The API's code and status; the row is untouched (services refuse before writing).
                messages.error(request, f"{exc.message} ({exc.code})")
                status = exc.status
            else:
                if action.response:
                    return result  # type: ignore[no-any-return]
                messages.success(request, f"{action.label}: {obj}")
                meta = self.model._meta
                return HttpResponseRedirect(
                    reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
                )
        elif request.method == "POST":
            status = 400
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action.label}: {obj}",
            "intro": action.intro,
            "form": form,
            "submit": action.label,
            "opts": self.model._meta,
            "original": obj,
            "back": ui.admin_url(obj),
        }
        return TemplateResponse(request, "admin/governance/object_action.html", context, status=status)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> Any:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused as refused:  # the transaction of the save is rolled back by now
            return self._refused_form(request, object_id, form_url, extra_context, refused)

    def _refused_form(
        self,
        request: HttpRequest,
        object_id: str | None,
        form_url: str,
        extra_context: Any,
        refused: _Refused,
    ) -> HttpResponse:
        form, error = refused.form, refused.error
        form.add_error(None, f"{error.message} ({error.code})")
        add = object_id is None
        obj = None if add else self.get_object(request, unquote(object_id or ""))
        fieldsets = self.get_fieldsets(request, obj)
        admin_form = helpers.AdminForm(
            form,
            list(fieldsets),  # type: ignore[arg-type]
            {},
            self.get_readonly_fields(request, obj),
            model_admin=self,
        )
        meta = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": (_("Add %s") if add else _("Change %s")) % meta.verbose_name,
            "subtitle": str(obj) if obj else None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        response = self.render_change_form(
            request, context, add=add, change=not add, obj=obj, form_url=form_url
        )
        response.status_code = error.status
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if obj is not None and self.has_view_permission(request, obj):
            extra["object_buttons"] = self.buttons(request, obj)
            extra["object_panels"] = [getattr(self, name)(request, obj) for name in self.panels]
        return super().change_view(request, object_id, form_url, extra)

    def fragment_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        if name not in self.fragments:
            raise Http404(name)
        if not self.has_view_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(object_id)
        response = HttpResponse(getattr(self, name)(obj))
        response["Cache-Control"] = "no-store"
        return response

    def live(self, obj: Any, name: str, *, every_s: int = 3, done: bool = False) -> SafeString:
        meta = self.model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_fragment", args=[obj.pk, name])
        return ui.live(url, getattr(self, name)(obj), every_s=every_s, done=done, reload_when_done=True)


class PolicyTabularInline(PolicyMixin, admin.TabularInline):  # type: ignore[type-arg]
    """Read-only rows shown inside a parent page (versions of a dataset, events of a job)."""

    offers_add = False
    offers_change = False
    extra = 0
    can_delete = False
