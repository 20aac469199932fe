"""The governance cards of the dashboard and the governance parts of an AI system's story page.

Officers and auditors see the registers' state (what waits for review, what is late or blocked);
engineers see their own DPIAs and deployment requests. Each card links to the filtered register.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.apps import apps as django_apps
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from governance import ui
from governance.choices import DeploymentStatus, DPIAStatus, ErasureStatus
from governance.dashboard import Card, Section, register_cards, register_story_section, tone_for
from governance.models import DPIA, AISystem, AuditEvent, Dataset, DatasetVersion, Deployment, ErasureRequest
from governance.policy import DOWNLOAD, READ, allowed
from governance.roles import AUDITOR, COMPLIANCE_OFFICER, has_role
from governance.selectors.erasure import OPEN_STATUSES

EXPIRY_WINDOW_DAYS = 30
LINES = 5  # rows named on a card; the link shows them all


def _list_url(model: Any, **filters: Any) -> str:
    from urllib.parse import urlencode

    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def oversees(user: Any) -> bool:
    """Officers and auditors see every row; engineers see the rows they started."""
    return has_role(user, COMPLIANCE_OFFICER, AUDITOR)


def days_left(request: ErasureRequest) -> Any:
    """'12 days left' or 'overdue by 3 days' (red), to the legal deadline (Art. 12(3))."""
    from governance.admin_erasure import deadline

    return deadline(request)


def governance_cards(user: Any) -> list[Card]:
    cards: list[Card] = []
    mine = not oversees(user)
    if allowed(user, "dpia", READ):
        dpias = DPIA.objects.select_related("ai_system")
        if mine:
            dpias = dpias.filter(created_by=user)
        waiting = dpias.filter(status=DPIAStatus.IN_REVIEW).order_by("submitted_at")
        n = waiting.count()
        cards.append(
            Card(
                key="dpias_in_review",
                title=_("My DPIAs in review") if mine else _("DPIAs waiting for review"),
                count=n,
                url=_list_url(DPIA, status__exact=DPIAStatus.IN_REVIEW),
                tone=tone_for(n),
                lines=tuple(ui.link(d) for d in waiting[:LINES]),
                order=10,
            )
        )
        horizon = timezone.localdate() + timedelta(days=EXPIRY_WINDOW_DAYS)
        expiring = dpias.filter(status=DPIAStatus.APPROVED, review_due__lte=horizon).order_by("review_due")
        n = expiring.count()
        cards.append(
            Card(
                key="dpias_expiring",
                title=_("DPIAs expiring within %(days)d days") % {"days": EXPIRY_WINDOW_DAYS},
                count=n,
                url=_list_url(DPIA, status__exact=DPIAStatus.APPROVED, review_due__lte=horizon.isoformat()),
                tone=tone_for(n),
                lines=tuple(format_html("{} ({})", ui.link(d), d.review_due) for d in expiring[:LINES]),
                order=20,
            )
        )
        if mine:
            returned = dpias.filter(status=DPIAStatus.REJECTED)
            n = returned.count()
            cards.append(
                Card(
                    key="dpias_rejected",
                    title=_("My DPIAs returned for changes"),
                    count=n,
                    url=_list_url(DPIA, status__exact=DPIAStatus.REJECTED),
                    tone=tone_for(n),
                    lines=tuple(ui.link(d) for d in returned[:LINES]),
                    order=25,
                )
            )
    if allowed(user, "erasure_request", READ):
        cards.append(_erasure_card())
    if allowed(user, "deployment", READ):
        cards.extend(_deployment_cards(user, mine))
    return cards


def _erasure_card() -> Card:
    open_requests = ErasureRequest.objects.filter(status__in=OPEN_STATUSES).order_by("due_at")
    by_status = dict(
        open_requests.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    overdue = open_requests.filter(due_at__lt=timezone.now()).count()
    counts = format_html_join(
        " ",
        "{}",
        (
            (ui.badge(status, f"{ErasureStatus(status).label}: {n}"),)
            for status, n in sorted(by_status.items())
        ),
    )
    lines = [counts] if by_status else []
    lines += [
        format_html("{} ({}, {}) {}", ui.link(r), r.get_kind_display(), r.get_status_display(), days_left(r))
        for r in open_requests[:LINES]
    ]
    total = sum(by_status.values())
    return Card(
        key="erasure_requests",
        title=_("Open data subject requests"),
        count=total,
        url=_list_url(ErasureRequest, status__in=",".join(OPEN_STATUSES)),
        tone=tone_for(total, late=bool(overdue)),
        lines=tuple(lines),
        order=5,
    )


def _deployment_cards(user: Any, mine: bool) -> list[Card]:
    deployments = Deployment.objects.select_related("ai_system")
    if mine:
        deployments = deployments.filter(requested_by=user)
    blocked = deployments.filter(status=DeploymentStatus.BLOCKED).order_by("-blocked_at")
    n = blocked.count()
    lines = tuple(
        format_html(
            "{}: {}",
            ui.link(d),
            format_html_join(
                "; ", "{}", ((r.get("reason") or r.get("code"),) for r in (d.blocked_reasons or []))
            ),
        )
        for d in blocked[:LINES]
    )
    requested = deployments.filter(status=DeploymentStatus.REQUESTED).order_by("created_at")
    waiting = requested.count()
    return [
        Card(
            key="deployments_blocked",
            title=_("My deployments blocked") if mine else _("Deployments blocked"),
            count=n,
            url=_list_url(Deployment, status__exact=DeploymentStatus.BLOCKED),
            tone=tone_for(n, late=True),
            lines=lines,
            order=8,
        ),
        Card(
            key="deployments_requested",
            title=_("My deployment requests") if mine else _("Deployments waiting for approval"),
            count=waiting,
            url=_list_url(Deployment, status__exact=DeploymentStatus.REQUESTED),
            tone=tone_for(waiting),
            lines=tuple(ui.link(d) for d in requested[:LINES]),
            order=12,
        ),
    ]


# --- The AI system's story: governance parts -----------------------------------------------------


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Any:
    if not rows:
        return format_html("<p><em>{}</em></p>", _("none yet"))
    header = format_html_join("", "<th scope='col'>{}</th>", ((h,) for h in head))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", header, body)


def overview_section(system: AISystem, user: Any) -> Section:
    advice = system.advisor_assessment or {}
    rows = [
        (
            _("Risk class"),
            ui.badge(
                system.risk_class or "not recorded", system.get_risk_class_display() or _("not recorded")
            ),
        ),
        (_("Approach"), system.get_approach_display()),
        (_("Status"), ui.badge(system.status, system.get_status_display())),
        (_("Owner"), system.owner or "-"),
        (_("Intended purpose"), system.intended_purpose or "-"),
        (_("Human oversight"), system.human_oversight or _("not recorded")),
        (
            _("Advisor's recommendation"),
            format_html("<strong>{}</strong> ({})", advice["recommendation"], advice.get("recorded_at", ""))
            if advice
            else _("not assessed"),
        ),
    ]
    html = format_html(
        '<table class="gv-kv">{}</table>',
        format_html_join("", "<tr><th scope='row'>{}</th><td>{}</td></tr>", rows),
    )
    return Section(key="overview", title=_("Overview"), html=html, order=0)


def datasets_section(system: AISystem, user: Any) -> Section | None:
    if not allowed(user, "dataset", READ):
        return None
    datasets = Dataset.objects.filter(ai_systems=system).order_by("name")
    versions = (
        DatasetVersion.objects.filter(dataset__in=datasets)
        .select_related("dataset")
        .order_by("dataset__name", "-number")
    )
    rows = [
        (
            ui.link(v),
            ui.link(v.dataset, v.dataset.name),
            v.dataset.get_legal_basis_display()
            if v.dataset.legal_basis
            else ui.badge("failed", _("no legal basis")),
            ui.badge(v.status, v.get_status_display()),
            v.record_count,
            v.holdout_count,
            ui.json_table(v.pii_summary or {}),
            ui.short_hash(v.sha256),
        )
        for v in versions
    ]
    head = (
        _("version"),
        _("dataset"),
        _("legal basis"),
        _("status"),
        _("records"),
        _("hold-out"),
        _("personal data found"),
        "sha256",
    )
    return Section(
        key="datasets", title=_("Datasets and versions"), html=_table(head, rows), order=20, count=len(rows)
    )


def dpias_section(system: AISystem, user: Any) -> Section | None:
    if not allowed(user, "dpia", READ):
        return None
    rows = [
        (
            ui.link(d, d.title),
            ui.badge(d.status, d.get_status_display()),
            d.reviewer or "-",
            d.review_due or "-",
        )
        for d in system.dpias.select_related("reviewer").order_by("-created_at")
    ]
    head = (_("DPIA"), _("status"), _("reviewer"), _("review due"))
    return Section(key="dpias", title=_("DPIAs"), html=_table(head, rows), order=25, count=len(rows))


def deployments_section(system: AISystem, user: Any) -> Section | None:
    if not allowed(user, "deployment", READ):
        return None
    from governance.services.deployments import gate_report

    may_download = allowed(user, "deployment", DOWNLOAD)
    parts = []
    deployments = system.deployments.select_related(
        "adapter_version", "collection", "documentation"
    ).order_by("-created_at")
    for d in deployments:
        live_gates = d.status in (
            DeploymentStatus.REQUESTED,
            DeploymentStatus.APPROVED,
            DeploymentStatus.ACTIVE,
            DeploymentStatus.BLOCKED,
        )
        gates = gate_report(d) if live_gates else (d.gate_results or [])
        lights = format_html_join(
            "",
            "<li>{} <code>{}</code> {}</li>",
            (
                (
                    ui.badge(g["status"], _("pass") if g["status"] == "passed" else _("fail")),
                    g.get("code", ""),
                    " ".join(x for x in (g.get("message", ""), g.get("remedy", "")) if x),
                )
                for g in gates
            ),
        )
        docs = d.documentation_versions.order_by("-version") if may_download else []
        pdf = reverse("deployment-documentation-pdf", args=[d.pk])
        doc_links = (
            format_html_join(
                ", ", '<a href="{}?version={}">v{} PDF</a>', ((pdf, doc.version, doc.version) for doc in docs)
            )
            if docs
            else format_html("{}", "-")
        )
        parts.append(
            format_html(
                "<h3>{} {} ({})</h3><ul class='gv-lights'>{}</ul><p>{}: {}</p>",
                ui.link(d),
                ui.badge(d.status, d.get_status_display()),
                d.get_environment_display(),
                lights,
                _("Documentation"),
                doc_links,
            )
        )
    html = (
        format_html_join("", "{}", ((p,) for p in parts))
        if parts
        else format_html("<p><em>{}</em></p>", _("none yet"))
    )
    return Section(
        key="deployments", title=_("Deployments and their gates"), html=html, order=50, count=len(parts)
    )


def audit_section(system: AISystem, user: Any) -> Section | None:
    """The latest events on the system and on the governance rows that hang off it."""
    if not allowed(user, "audit_event", READ):
        return None
    related = {
        "governance.aisystem": [system.pk],
        "governance.dpia": list(system.dpias.values_list("pk", flat=True)),
        "governance.deployment": list(system.deployments.values_list("pk", flat=True)),
        "governance.dataset": list(Dataset.objects.filter(ai_systems=system).values_list("pk", flat=True)),
        "governance.datasetversion": list(
            DatasetVersion.objects.filter(dataset__ai_systems=system).values_list("pk", flat=True)
        ),
    }
    # Training and retrieval rows of the system, looked up by name (governance does not import them).
    for label in (
        "training.FineTuneJob",
        "training.AdapterVersion",
        "training.Evaluation",
        "retrieval.Collection",
    ):
        try:
            model = django_apps.get_model(label)
        except LookupError:
            continue
        related[model._meta.label_lower] = list(
            model.objects.filter(ai_system=system).values_list("pk", flat=True)
        )
    where = Q()
    for object_type, ids in related.items():
        if ids:
            where |= Q(object_type=object_type, object_id__in=[str(pk) for pk in ids])
    events = AuditEvent.objects.filter(where).order_by("-sequence")[:50]
    rows = [
        (
            ui.link(e, e.sequence),
            ui.when(e.timestamp),
            e.actor,
            e.action,
            e.object_type,
            ui.short_hash(e.hash),
        )
        for e in events
    ]
    head = (_("sequence"), _("time"), _("actor"), _("action"), _("object"), _("hash"))
    return Section(
        key="audit", title=_("Audit trail (latest 50)"), html=_table(head, rows), order=90, count=len(rows)
    )


def register() -> None:
    register_cards(governance_cards)
    for source in (overview_section, datasets_section, dpias_section, deployments_section, audit_section):
        register_story_section(source)
