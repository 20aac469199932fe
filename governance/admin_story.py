"""An AI system's story page: everything the registers know about it, on one page, every id a link.

Its parts come from every app (governance/dashboard.py `story_sections`): overview and advisor,
datasets and versions with what the scan found, DPIAs, collections, fine-tune jobs and adapters with
their evaluation against the baseline, deployments with their gates, documentation, and the audit trail.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from governance.dashboard import story_sections


class StoryMixin:
    """Adds `<id>/story/` to the AI system's admin, a link to it in the list and a button on the page."""

    def get_urls(self) -> list[URLPattern]:
        story = path(
            "<path:object_id>/story/",
            self.admin_site.admin_view(self.story_view),  # type: ignore[attr-defined]
            name="governance_aisystem_story",
        )
        return [story, *super().get_urls()]  # type: ignore[misc]

    def story_view(self, request: HttpRequest, object_id: str) -> TemplateResponse:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        system = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if system is None:
            raise Http404(object_id)
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": system.name,
            "subtitle": _("The whole story"),
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "original": system,
            "sections": story_sections(system, request.user),
        }
        return TemplateResponse(request, "admin/governance/aisystem/story.html", context)

    def story(self, obj: Any) -> SafeString:
        url = reverse("admin:governance_aisystem_story", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("story"))

    def story_panel(self, request: HttpRequest, obj: Any) -> SafeString:
        url = reverse("admin:governance_aisystem_story", args=[obj.pk])
        return format_html(
            '<div class="gv-buttons"><a class="gv-button" href="{}">{}</a></div>',
            url,
            _("Read the whole story: data, DPIAs, models, deployments, audit trail"),
        )
