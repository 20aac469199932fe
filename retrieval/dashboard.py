"""Retrieval's dashboard cards and its part of an AI system's story page.

Governance cannot import retrieval, so retrieval contributes these through governance/dashboard.py
(registered in RetrievalConfig.ready()). A failed or rejected document means an upload did not reach
the index (the AI system answers without it); documents still pending or processing mean the index is
not yet what was uploaded. Both are shown to whoever the policy lets read documents, each card linking
to the document list filtered exactly as counted (DocumentAdmin's "attention" filter).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from governance import ui
from governance.dashboard import Card, Section, register_cards, register_story_section, tone_for
from governance.policy import READ, allowed
from retrieval import selectors
from retrieval.choices import IN_FLIGHT, DocumentStatus
from retrieval.models import Collection, Document

LINES = 5  # rows named on a card; the link shows them all
ATTENTION_PARAM = "attention"  # DocumentAdmin's list filter; the cards link to it
FAILED, INDEXING = "failed", "indexing"
# A version replaced by a newer upload before it was indexed is recorded as failed, but nobody has
# anything to do about it: the newer one is on its way in.
SUPERSEDED = "superseded"


# The filter behind each card, shared by the card's count and the document list it links to.
ATTENTION: dict[str, Q] = {
    FAILED: Q(status__in=[DocumentStatus.FAILED, DocumentStatus.REJECTED]) & ~Q(error_code=SUPERSEDED),
    INDEXING: Q(status__in=IN_FLIGHT),
}


def failed_documents() -> QuerySet[Document]:
    """Documents that did not reach the index and need someone to look (failed or rejected)."""
    return selectors.document_list().filter(ATTENTION[FAILED])


def indexing_documents() -> QuerySet[Document]:
    """Documents accepted but not yet searchable (pending or processing)."""
    return selectors.document_list().filter(ATTENTION[INDEXING])


def document_list_url(**filters: Any) -> str:
    """The admin's document list, filtered (`attention="failed"`, `status__exact=...`)."""
    from urllib.parse import urlencode

    url = reverse("admin:retrieval_document_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def status_badge(status: str, label: Any = None) -> SafeString:
    """A document status as a badge: processing waits like pending (ui's table has no 'processing')."""
    text = label if label is not None else DocumentStatus(status).label
    return ui.badge(status, text, tone_of=ui.WAIT if status in IN_FLIGHT else None)


def _reason(document: Document) -> str:
    reason = document.error_code or _("no reason recorded")
    if document.error:
        reason = f"{reason}: {Truncator(document.error).chars(90)}"
    return reason


def retrieval_cards(user: Any) -> list[Card]:
    """documents_failed (red while any) and documents_indexing (amber while any)."""
    if not allowed(user, "document", READ):
        return []
    failed = failed_documents().select_related("collection").order_by("-finished_at", "-created_at", "-pk")
    n_failed = failed.count()
    indexing = indexing_documents().select_related("collection").order_by("created_at", "pk")
    n_indexing = indexing.count()
    return [
        Card(
            key="documents_failed",
            title=_("Documents that failed or were rejected"),
            count=n_failed,
            url=document_list_url(**{ATTENTION_PARAM: FAILED}),
            tone=tone_for(n_failed, late=True),
            lines=tuple(
                format_html("{} ({}) {}", ui.link(d), d.collection, _reason(d)) for d in failed[:LINES]
            ),
            order=40,
        ),
        Card(
            key="documents_indexing",
            title=_("Documents being indexed"),
            count=n_indexing,
            url=document_list_url(**{ATTENTION_PARAM: INDEXING}),
            tone=tone_for(n_indexing),
            lines=tuple(
                format_html(
                    "{} ({}) {} {}%",
                    ui.link(d),
                    d.collection,
                    status_badge(d.status),
                    round(d.progress * 100),
                )
                for d in indexing[:LINES]
            ),
            order=45,
        ),
    ]


def status_counts(collection: Collection) -> SafeString:
    """Per-status badges of a collection (from collection_list's n_<status>), each a filtered list link."""
    parts = []
    for status in DocumentStatus:
        n = int(getattr(collection, f"n_{status.value}", 0) or 0)
        if not n:
            continue
        url = document_list_url(collection__id__exact=collection.pk, status__exact=status.value)
        parts.append(
            format_html('<a href="{}">{}</a>', url, status_badge(status.value, f"{status.label}: {n}"))
        )
    if not parts:
        return format_html("<em>{}</em>", _("no documents"))
    return format_html_join(" ", "{}", ((p,) for p in parts))


def retrieval_section(system: Any, user: Any) -> Section | None:
    """The AI system's collections: settings that matter to a reader and documents per status."""
    if not allowed(user, "collection", READ):
        return None
    rows = [
        (
            ui.link(c),
            ui.badge(c.pii_policy, c.get_pii_policy_display(), tone_of=ui.INFO),
            c.embedding_model,
            ui.badge(
                c.index_state,
                c.get_index_state_display(),
                tone_of=ui.OK if c.index_state == "ready" else ui.WAIT,
            ),
            status_counts(c),
        )
        for c in selectors.collection_list().filter(ai_system=system)
    ]
    if rows:
        head = format_html_join(
            "",
            "<th scope='col'>{}</th>",
            (
                (h,)
                for h in (_("collection"), _("PII policy"), _("embedding model"), _("index"), _("documents"))
            ),
        )
        body = format_html_join(
            "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows)
        )
        html = format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)
    else:
        html = format_html("<p><em>{}</em></p>", _("This system has no document collections."))
    return Section(
        key="retrieval", title=_("Document collections (RAG)"), html=html, order=30, count=len(rows)
    )


def register() -> None:
    register_cards(retrieval_cards)
    register_story_section(retrieval_section)
