"""The admin site: its index is the dashboard, and it verifies the audit chain on request.

Officers and auditors see every card (what is waiting for review, late, blocked or failing); engineers
see their own work. The cards box refreshes itself (governance/ui.py `live`), and a chart shows the
audit chain's activity over the last 30 days. "Verify now" recomputes the whole chain and records the
outcome as an audit event, so the dashboard's "last verification" is itself in the chain.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance import dashboard, ui
from governance.models import AuditEvent
from governance.policy import DOWNLOAD, READ, allowed
from governance.services import audit


def last_verification() -> AuditEvent | None:
    return AuditEvent.objects.filter(action=audit.VERIFIED_ACTION).order_by("-sequence").first()


def activity(days: int = 30) -> list[tuple[str, int]]:
    """Audit events per day over the last `days` days (the reader's dates), empty days included."""
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(start, time.min))
    rows = (
        AuditEvent.objects.filter(timestamp__gte=since)
        .annotate(day=TruncDate("timestamp", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("sequence"))
    )
    counts = {row["day"]: row["n"] for row in rows}
    return [
        ((start + timedelta(days=i)).isoformat(), counts.get(start + timedelta(days=i), 0))
        for i in range(days)
    ]


class GovernanceAdminSite(admin.AdminSite):
    site_header = "AI Governance"
    site_title = "AI Governance"
    index_title = gettext_lazy("Dashboard")
    index_template = "admin/governance/dashboard.html"

    def get_urls(self) -> list[URLResolver | URLPattern]:
        return [
            path("dashboard/cards/", self.admin_view(self.cards_view), name="dashboard_cards"),
            path(
                "dashboard/verify-chain/",
                self.admin_view(self.verify_view),
                name="verify_chain",
            ),
            *super().get_urls(),
        ]

    def _cards_html(self, request: HttpRequest) -> str:
        return render_to_string(
            "admin/governance/dashboard_cards.html", {"cards": dashboard.cards_for(request.user)}, request
        )

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        may_audit = allowed(request.user, "audit_event", READ)
        context = {
            "may_report": allowed(request.user, "report", DOWNLOAD),
            "cards": ui.live(reverse("admin:dashboard_cards"), self._render_safe(request), every_s=15),
            "may_audit": may_audit,
            "verification": last_verification() if may_audit else None,
            "activity": ui.column_chart(activity(), title=_("Audit events per day, last 30 days"))
            if may_audit
            else None,
            **(extra_context or {}),
        }
        return super().index(request, context)

    def _render_safe(self, request: HttpRequest) -> Any:
        from django.utils.safestring import mark_safe

        return mark_safe(self._cards_html(request))  # noqa: S308 - a rendered template, escaped there

    def cards_view(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(self._cards_html(request))
        response["Cache-Control"] = "no-store"
        return response

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        """Recompute the chain now; the outcome (with the first broken sequence) becomes an audit event."""
        if not allowed(request.user, "audit_event", READ):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:index"))  # the button is on the dashboard
        result = audit.audit_verify_and_record(actor=request.user)
        if result.ok:
            messages.success(
                request, _("The audit chain holds: %(n)d events checked.") % {"n": result.events_checked}
            )
        else:
            messages.error(
                request,
                _("The audit chain is broken at sequence %(seq)s: %(reason)s")
                % {"seq": result.first_broken_sequence, "reason": result.reason},
            )
        return HttpResponseRedirect(reverse("admin:index"))
