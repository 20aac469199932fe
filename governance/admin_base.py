"""The admin's base classes: every page and action asks governance/policy.py, as the API does.

The admin site itself still needs `is_staff` to log in; what a staff user then sees and does is decided
by their role, never by Django's per-model permissions. Actions declare policy verbs:
`@admin.action(permissions=["review"])` makes Django call `has_review_permission`, which asks the policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

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


class PolicyAdmin(PolicyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Base of every ModelAdmin in governance, retrieval and training.

    `object_actions` are buttons on a row's page (`<id>/do/<name>/`), each guarded by its policy verb;
    `panels` names methods `(request, obj) -> html` shown above the row's fields (a risk map, gates,
    progress). Both read the same services and selectors as the API.

    `fragments` names methods `(obj) -> html` served at `<id>/fragment/<name>/` to whoever may read the
    row: `self.live(obj, name)` puts one on the page in a box that refreshes itself (progress of a scan,
    a job, an erasure) until the fragment says its work is done.
    """

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
        return ui.live(url, getattr(self, name)(obj), every_s=every_s, done=done)


class PolicyTabularInline(PolicyMixin, admin.TabularInline):  # type: ignore[type-arg]
    """Read-only rows shown inside a parent page (versions of a dataset, events of a job)."""

    offers_add = False
    offers_change = False
    extra = 0
    can_delete = False
