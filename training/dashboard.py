"""Training's part of the dashboard and of an AI system's story page.

Cards: tainted adapters, adapters whose hold-out evaluation fell below the threshold while still awaiting
a decision, jobs in flight and jobs failed in the last 30 days. Officers and auditors see every job;
an engineer sees the jobs they started ("My jobs ..."), since those are the ones they can act on. Each
card links to the admin list filtered to exactly the rows it counts, so the number and the list agree.

Story section: an AI system's fine-tune jobs and adapters, each adapter's scores beside the baseline.
Registered in training/apps.py; governance only calls the sources (governance/dashboard.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from governance import ui
from governance.dashboard import Card, Section
from governance.policy import READ, allowed
from governance.roles import AUDITOR, COMPLIANCE_OFFICER, has_role
from training.choices import ACTIVE_JOB_STATUSES, AdapterStatus, EvaluationSubject, JobStatus
from training.models import AdapterVersion, Evaluation, FineTuneJob
from training.services.evaluations import KNOWN_METRICS

LINES = 5  # rows named on a card; the link opens the rest
FAILED_WINDOW = timedelta(days=30)
# Evaluations that still ask for a decision: the adapter is neither approved (or deployed), retired nor
# tainted, i.e. a candidate. An approved one's failure was overridden in writing already.
UNDECIDED = (AdapterStatus.CANDIDATE,)


# --- Evaluations beside their baseline (also used by training/admin.py) ----------------------------


def split_evaluations(rows: Iterable[Evaluation]) -> tuple[Evaluation | None, Evaluation | None]:
    """The adapter's evaluation and the baseline, the first of each (by id), from one job's rows."""
    ordered = sorted(rows, key=lambda e: e.pk)
    mine = next((e for e in ordered if e.subject == EvaluationSubject.ADAPTER), None)
    base = next((e for e in ordered if e.subject == EvaluationSubject.BASELINE), None)
    return mine, base


def _metric_names(mine: Evaluation | None, base: Evaluation | None) -> list[str]:
    present = [e for e in (mine, base) if e is not None]
    primary = present[0].primary_metric if present else None
    names = [primary] if primary else []
    for name in (*KNOWN_METRICS, *sorted({k for e in present for k in e.metrics})):
        numeric = any(_number(e.metrics.get(name)) is not None for e in present)
        if name not in names and numeric:
            names.append(name)
    return names


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def evaluation_bars(mine: Evaluation | None, base: Evaluation | None) -> SafeString:
    """Each metric as bars, adapter beside baseline, coloured pass/fail against the AI system's threshold."""
    if mine is None and base is None:
        return format_html("<em>{}</em>", _("not evaluated yet"))
    judged = mine or base
    assert judged is not None  # for mypy: one of them is set
    rows = [
        (
            f"{name} ({_('primary')})" if name == judged.primary_metric else name,
            _number(mine.metrics.get(name)) if mine else None,
            _number(base.metrics.get(name)) if base else None,
        )
        for name in _metric_names(mine, base)
    ]
    verdict = format_html(
        "<p>{} {} {}, {} {}</p>",
        ui.badge("passed" if judged.passed else "failed", _("passed") if judged.passed else _("failed")),
        judged.primary_metric,
        f"{judged.score:.3f}",
        _("threshold"),
        f"{judged.threshold:.2f}",
    )
    return format_html("{}{}", verdict, ui.metric_bars(rows, threshold=judged.threshold))


# --- Cards ---------------------------------------------------------------------------------------


def _changelist(model: type[Any], **filters: Any) -> str:
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def oversees(user: Any) -> bool:
    """Officers and auditors see everyone's jobs; anyone else (engineers) their own."""
    return has_role(user, COMPLIANCE_OFFICER, AUDITOR)


def tainted_adapters() -> QuerySet[AdapterVersion]:
    return AdapterVersion.objects.filter(status=AdapterStatus.TAINTED)


def evaluations_below_threshold() -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(
        subject=EvaluationSubject.ADAPTER, passed=False, adapter_version__status__in=UNDECIDED
    )


def jobs_running(user: Any) -> QuerySet[FineTuneJob]:
    rows = FineTuneJob.objects.filter(status__in=ACTIVE_JOB_STATUSES)
    return rows if oversees(user) else rows.filter(created_by=user)


def jobs_failed(user: Any, since: Any) -> QuerySet[FineTuneJob]:
    rows = FineTuneJob.objects.filter(status=JobStatus.FAILED, finished_at__gte=since)
    return rows if oversees(user) else rows.filter(created_by=user)


def cards(user: Any) -> list[Card]:
    """Training's cards for this user: each only where the policy lets them read what it counts."""
    out: list[Card] = []
    if allowed(user, "adapter", READ):
        out.append(_adapters_tainted())
    if allowed(user, "evaluation", READ):
        out.append(_evaluations_below())
    if allowed(user, "fine_tune_job", READ):
        out.extend(_job_cards(user))
    return out


def _adapters_tainted() -> Card:
    rows = tainted_adapters().order_by("-created_at", "-id")
    count = rows.count()
    return Card(
        key="adapters_tainted",
        title=_("Adapters tainted"),
        count=count,
        url=_changelist(AdapterVersion, status__exact=AdapterStatus.TAINTED),
        tone=ui.BAD if count else ui.OK,
        lines=tuple(ui.link(a) for a in rows[:LINES]),
        order=40,
    )


def _evaluations_below() -> Card:
    rows = evaluations_below_threshold().select_related("adapter_version").order_by("-created_at", "-id")
    count = rows.count()
    return Card(
        key="evaluations_below_threshold",
        title=_("Evaluations below threshold"),
        count=count,
        url=_changelist(
            Evaluation,
            subject__exact=EvaluationSubject.ADAPTER,
            passed__exact=0,
            adapter_version__status__in=",".join(UNDECIDED),
        ),
        tone=ui.WAIT if count else ui.OK,
        lines=tuple(
            format_html(
                "{}: {} {} &lt; {}",
                ui.link(e.adapter_version),
                e.primary_metric,
                f"{e.score:.3f}",
                f"{e.threshold:.2f}",
            )
            for e in rows[:LINES]
        ),
        order=41,
    )


def _job_cards(user: Any) -> list[Card]:
    mine = not oversees(user)
    own = {"created_by__id__exact": user.pk} if mine else {}
    running = jobs_running(user).select_related("ai_system").order_by("-created_at", "-id")
    since = timezone.now() - FAILED_WINDOW
    failed = jobs_failed(user, since).select_related("ai_system").order_by("-finished_at", "-id")
    n_running, n_failed = running.count(), failed.count()
    return [
        Card(
            key="jobs_running",
            title=_("My jobs running") if mine else _("Jobs running"),
            count=n_running,
            url=_changelist(FineTuneJob, status__in=",".join(ACTIVE_JOB_STATUSES), **own),
            tone=ui.WAIT if n_running else ui.OK,
            lines=tuple(
                format_html(
                    "{} {} {} {}%", ui.link(j), ui.badge(j.status), j.ai_system.name, round(j.progress * 100)
                )
                for j in running[:LINES]
            ),
            order=42,
        ),
        Card(
            key="jobs_failed",
            title=_("My jobs failed") if mine else _("Jobs failed"),
            count=n_failed,
            url=_changelist(
                FineTuneJob, status__exact=JobStatus.FAILED, finished_at__gte=since.isoformat(), **own
            ),
            tone=ui.BAD if n_failed else ui.OK,
            lines=tuple(
                format_html("{} {} {}", ui.link(j), j.ai_system.name, ui.when(j.finished_at))
                for j in failed[:LINES]
            ),
            order=43,
        ),
    ]


# --- Story section ---------------------------------------------------------------------------------


def story_section(system: Any, user: Any) -> Section | None:
    """An AI system's fine-tune jobs and adapters; None for a reader who may see neither."""
    may_jobs = allowed(user, "fine_tune_job", READ)
    may_adapters = allowed(user, "adapter", READ)
    if not (may_jobs or may_adapters):
        return None
    parts: list[SafeString] = []
    jobs: list[FineTuneJob] = []
    if may_jobs:
        jobs = list(
            FineTuneJob.objects.filter(ai_system=system)
            .select_related("dataset_version__dataset")
            .order_by("-created_at", "-id")
        )
        parts.append(_jobs_table(jobs))
    if may_adapters:
        adapters = list(
            AdapterVersion.objects.filter(ai_system=system)
            .select_related("base_model")
            .order_by("-created_at", "-id")
        )
        parts.append(_adapters_table(system, adapters, may_scores=allowed(user, "evaluation", READ)))
    return Section(
        key="training",
        title=_("Training"),
        html=format_html_join("", "{}", ((p,) for p in parts)),
        order=40,
        count=len(jobs),
    )


def _jobs_table(jobs: list[FineTuneJob]) -> SafeString:
    if not jobs:
        return format_html("<h3>{}</h3><p><em>{}</em></p>", _("Fine-tune jobs"), _("No fine-tune job yet."))
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (ui.link(j, j.pk), ui.badge(j.status, j.get_status_display()), ui.link(j.dataset_version), when)
            for j in jobs
            for when in (ui.when(j.created_at),)
        ),
    )
    return format_html(
        '<h3>{}</h3><table class="gv-grid" data-story="jobs"><thead><tr><th scope="col">{}</th>'
        '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        _("Fine-tune jobs"),
        _("job"),
        _("status"),
        _("dataset version"),
        _("created"),
        rows,
    )


def _adapters_table(system: Any, adapters: list[AdapterVersion], *, may_scores: bool) -> SafeString:
    if not adapters:
        return format_html("<h3>{}</h3><p><em>{}</em></p>", _("Adapters"), _("No adapter yet."))
    by_adapter: dict[int, list[Evaluation]] = {}
    by_job: dict[int, list[Evaluation]] = {}
    if may_scores:
        # One query for every adapter's scores and the baselines its job measured on the same hold-out.
        job_ids = [a.job_id for a in adapters]
        for e in Evaluation.objects.filter(Q(ai_system=system) | Q(job_id__in=job_ids)):
            if e.adapter_version_id is not None:
                by_adapter.setdefault(e.adapter_version_id, []).append(e)
            if e.job_id is not None:
                by_job.setdefault(e.job_id, []).append(e)

    def scores(adapter: AdapterVersion) -> SafeString:
        if not may_scores:
            return format_html("{}", "-")
        rows = {e.pk: e for e in (*by_adapter.get(adapter.pk, []), *by_job.get(adapter.job_id, []))}
        return evaluation_bars(*split_evaluations(rows.values()))

    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (ui.link(a, a.name), ui.badge(a.status, a.get_status_display()), ui.link(a.base_model), scores(a))
            for a in adapters
        ),
    )
    return format_html(
        '<h3>{}</h3><table class="gv-grid" data-story="adapters"><thead><tr><th scope="col">{}</th>'
        '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        _("Adapters"),
        _("adapter"),
        _("status"),
        _("base model"),
        _("hold-out scores vs baseline"),
        body,
    )
