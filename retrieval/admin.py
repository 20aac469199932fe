"""Admin pages for collections, documents and the query log, written to read like documents.

A collection's page shows its settings, its documents by status (refreshing while any is indexed) and
a "Try a query" box that runs the same cited search as the API (`search.collection_query`, guarded by
the same policy line, logged the same way). A document's page follows its ingestion live; the query
log is view-only and says in words whether a query was answered. Saves go through the services.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from governance import ui
from governance.admin_base import PolicyAdmin
from governance.errors import DomainError
from governance.policy import READ, allowed
from retrieval import selectors
from retrieval.choices import IN_FLIGHT, DocumentStatus, IndexState, RetrievalMode
from retrieval.dashboard import ATTENTION, ATTENTION_PARAM, FAILED, INDEXING, document_list_url
from retrieval.dashboard import status_badge as document_status
from retrieval.models import Collection, Document, QueryLog
from retrieval.services import collections, documents, search

CREATE_FIELDS = (
    "name", "ai_system", "description", "embedding_model", "embedding_dimension", "chunk_size",
    "chunk_overlap", "pii_policy", "hnsw_m", "hnsw_ef_construction", "min_score", "retrieval_mode",
    "text_search_config", "embed_title", "chunk_header", "document_retention_days",
)  # fmt: skip


class CollectionForm(forms.ModelForm):
    """On creation the model is loaded and checked here, so a bad path or dimension is a form error."""

    class Meta:
        model = Collection
        fields = list(CREATE_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("embedding_dimension", "chunk_size", "chunk_overlap"):
            if name in self.fields:
                self.fields[name].required = False
                self.fields[name].help_text = "Leave empty to take it from the model"
        for name in ("retrieval_mode", "text_search_config"):
            if name in self.fields:
                self.fields[name].required = False  # empty: the service's default (dense, english)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            collections.check_retention_days(data.get("document_retention_days"))
        except DomainError as exc:
            self.add_error("document_retention_days", forms.ValidationError(exc.message, code=exc.code))
        if self.instance.pk is None and not self.errors:
            try:
                collections.collection_check(
                    embedding_model=data.get("embedding_model") or "",
                    embedding_dimension=data.get("embedding_dimension"),
                    chunk_size=data.get("chunk_size"),
                    chunk_overlap=data.get("chunk_overlap"),
                    hnsw_m=data.get("hnsw_m"),
                    hnsw_ef_construction=data.get("hnsw_ef_construction"),
                    text_search_config=data.get("text_search_config") or "english",
                    chunk_header=data.get("chunk_header") or "",
                )
            except DomainError as exc:
                raise forms.ValidationError(exc.message, code=exc.code) from None
        return data

    def _post_clean(self) -> None:  # type: ignore[misc]
        if self.instance.pk is None:
            return  # the service validates and saves the new collection
        super()._post_clean()  # type: ignore[misc]


DOCUMENTS_ON_PAGE = 50  # a collection's page lists its newest documents; the link shows them all
EXCERPT_CHARS = 400
DONE = (DocumentStatus.INDEXED, DocumentStatus.FAILED, DocumentStatus.REJECTED)


def _kv(rows: list[tuple[Any, Any]]) -> SafeString:
    """A two-column table of labelled facts (the page reads top to bottom like a datasheet)."""
    body = format_html_join("", "<tr><th scope='row'>{}</th><td>{}</td></tr>", rows)
    return format_html('<table class="gv-kv">{}</table>', body)


def _grid(head: tuple[Any, ...], rows: list[tuple[Any, ...]], *, empty: Any) -> SafeString:
    if not rows:
        return format_html("<p><em>{}</em></p>", empty)
    header = format_html_join("", "<th scope='col'>{}</th>", ((h,) for h in head))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows)
    )
    return format_html(
        '<table class="gv-grid"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', header, body
    )


def _percent(document: Document) -> str:
    return f"{round(document.progress * 100)}%"


class TryQueryForm(forms.Form):
    """Only types are checked here: emptiness, length, k and threshold ranges are the service's rules,
    so the page answers with the same error codes as the API."""

    query = forms.CharField(
        label=_("Question"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
    )
    k = forms.IntegerField(label=_("Results (k)"), required=False, initial=5)
    min_score = forms.FloatField(
        label=_("Threshold"), required=False, help_text=_("Empty: the collection's own threshold")
    )
    mode = forms.ChoiceField(
        label=_("Ranking"),
        required=False,
        choices=[("", _("the collection's default")), *RetrievalMode.choices],
    )
    group_by_document = forms.BooleanField(
        label=_("One result per document"), required=False, help_text=_("The best chunk of each document")
    )


@admin.register(Collection)
class CollectionAdmin(PolicyAdmin):
    policy_resource = "collection"
    form = CollectionForm
    change_form_template = "admin/retrieval/collection_page.html"
    panels = ("settings_panel", "documents_panel")
    fragments = ("documents_box",)
    list_display = [
        "name",
        "ai_system",
        "pii_policy",
        "index_state",
        "indexed",
        "in_flight",
        "failed",
        "embedding_dimension",
        "chunk_size",
        "created_at",
    ]
    list_filter = ["pii_policy", "index_state"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Collection]:
        return selectors.collection_list()

    def get_urls(self) -> list[URLPattern]:
        query = path(
            "<path:object_id>/query/",
            self.admin_site.admin_view(require_http_methods(["GET", "POST"])(self.query_view)),
            name="retrieval_collection_query",
        )
        return [query, *super().get_urls()]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return list(CREATE_FIELDS)
        return [*collections.UPDATABLE, *self.get_readonly_fields(request, obj)]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        fixed = [f for f in CREATE_FIELDS if f not in collections.UPDATABLE]
        return [*fixed, "model_max_tokens", "index_state", "created_at", "created_by"]

    @admin.display(description=_("Indexed"))
    def indexed(self, obj: Collection) -> int:
        return int(getattr(obj, f"n_{DocumentStatus.INDEXED}", 0))

    @admin.display(description=_("Pending / processing"))
    def in_flight(self, obj: Collection) -> int:
        return int(getattr(obj, f"n_{DocumentStatus.PENDING}", 0)) + int(
            getattr(obj, f"n_{DocumentStatus.PROCESSING}", 0)
        )

    @admin.display(description=_("Failed / rejected"))
    def failed(self, obj: Collection) -> int:
        return int(getattr(obj, f"n_{DocumentStatus.FAILED}", 0)) + int(
            getattr(obj, f"n_{DocumentStatus.REJECTED}", 0)
        )

    # --- The page ------------------------------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        extra["query_form"] = TryQueryForm(initial={"k": 5})
        extra["query_url"] = reverse("admin:retrieval_collection_query", args=[object_id])
        return super().change_view(request, object_id, form_url, extra)

    def settings_panel(self, request: HttpRequest, obj: Collection) -> SafeString:
        """What the collection is: whose, embedded how, chunked how, what it does with personal data."""
        rows: list[tuple[Any, Any]] = [
            (_("AI system"), ui.link(obj.ai_system)),
            (_("Description"), obj.description or "-"),
            (
                _("Embedding model"),
                format_html(
                    "<code>{}</code> ({})",
                    obj.embedding_model,
                    gettext("%(dim)d dimensions, reads %(tokens)d tokens")
                    % {"dim": obj.embedding_dimension, "tokens": obj.model_max_tokens},
                ),
            ),
            (
                _("Chunking"),
                gettext("%(size)d tokens per chunk, %(overlap)d shared with the next")
                % {"size": obj.chunk_size, "overlap": obj.chunk_overlap},
            ),
            (_("Personal data"), ui.badge(obj.pii_policy, obj.get_pii_policy_display(), tone_of=ui.INFO)),
            (
                _("Retrieval"),
                format_html(
                    "{} {}",
                    ui.badge(obj.retrieval_mode, obj.get_retrieval_mode_display(), tone_of=ui.INFO),
                    gettext(
                        "full-text language: %(config)s; title embedded with each chunk: %(title)s%(header)s"
                    )
                    % {
                        "config": obj.text_search_config,
                        "title": gettext("yes") if obj.embed_title else gettext("no"),
                        "header": (gettext("; header: %(header)s") % {"header": obj.chunk_header})
                        if obj.chunk_header
                        else "",
                    },
                ),
            ),
            (
                _("Relevance threshold"),
                gettext("%(score)s (below it a query answers 'no relevant fragment')")
                % {"score": f"{obj.min_score:g}"},
            ),
            (
                _("Index"),
                format_html(
                    "{} HNSW m={}, ef_construction={}",
                    ui.badge(
                        obj.index_state,
                        obj.get_index_state_display(),
                        tone_of=ui.OK if obj.index_state == IndexState.READY else ui.WAIT,
                    ),
                    obj.hnsw_m,
                    obj.hnsw_ef_construction,
                ),
            ),
            (
                _("Created"),
                format_html("{} {} {}", ui.when(obj.created_at), gettext("by"), obj.created_by or "-"),
            ),
        ]
        if allowed(request.user, "query_log", READ):
            rows.append(
                (
                    _("Query log"),
                    ui.changelist_link(
                        QueryLog, gettext("queries on this collection"), collection__id__exact=obj.pk
                    ),
                )
            )
        return format_html("<h2>{}</h2>{}", gettext("Settings"), _kv(rows))

    def documents_panel(self, request: HttpRequest, obj: Collection) -> SafeString:
        box = self.live(obj, "documents_box", every_s=5, done=not self._indexing(obj))
        return format_html("<h2>{}</h2>{}", gettext("Documents"), box)

    def _indexing(self, obj: Collection) -> bool:
        return (
            obj.index_state != IndexState.READY
            or Document.objects.filter(collection=obj, status__in=IN_FLIGHT).exists()
        )

    def documents_box(self, obj: Collection) -> SafeString:
        """Counts per status (each a link to the filtered list) and the newest documents; polled while
        any document is on its way in or the index is being built."""
        counts = dict(
            Document.objects.filter(collection=obj)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        badges = format_html_join(
            " ",
            '<a href="{}">{}</a>',
            (
                (
                    document_list_url(collection__id__exact=obj.pk, status__exact=status.value),
                    document_status(status.value, f"{status.label}: {counts[status.value]}"),
                )
                for status in DocumentStatus
                if counts.get(status.value)
            ),
        )
        total = sum(counts.values())
        newest = selectors.document_list().filter(collection=obj)[:DOCUMENTS_ON_PAGE]
        rows = [
            (
                ui.link(d),
                d.title or "-",
                document_status(d.status),
                _percent(d) if d.status in IN_FLIGHT else d.chunk_count,
                d.error_code or "-",
                ui.when(d.indexed_at),
            )
            for d in newest
        ]
        head = (_("document"), _("title"), _("status"), _("chunks / progress"), _("error"), _("indexed at"))
        table = _grid(head, rows, empty=gettext("No documents yet: upload them through the API."))
        more = (
            format_html(
                "<p>{}</p>",
                ui.changelist_link(
                    Document,
                    gettext("All %(n)d documents") % {"n": total},
                    collection__id__exact=obj.pk,
                ),
            )
            if total > DOCUMENTS_ON_PAGE
            else ""
        )
        done = "" if self._indexing(obj) else ui.done_marker()
        return format_html(
            '<p class="gv-counts">{} {}</p>{}{}{}',
            gettext("%(n)d in all:") % {"n": total},
            badges,
            table,
            more,
            done,
        )

    # --- Try a query ---------------------------------------------------------------------------

    def query_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Run the API's cited search from the page: same policy line (a query reads the collection),
        same service, so the query is logged exactly as an API query is."""
        if not self._may(request, READ):
            raise PermissionDenied
        collection = self.get_object(request, unquote(object_id))
        if collection is None:
            raise Http404(object_id)
        form = TryQueryForm(request.POST if request.method == "POST" else None, initial={"k": 5})
        answer = error = None
        status = 200
        if request.method == "POST":
            if form.is_valid():
                data = form.cleaned_data
                try:
                    answer = search.collection_query(
                        actor=request.user,
                        collection=collection,
                        query=data["query"],
                        k=5 if data["k"] is None else data["k"],
                        min_score=data["min_score"],
                        mode=data["mode"] or None,
                        group_by_document=bool(data["group_by_document"]),
                    )
                except DomainError as exc:
                    error, status = exc, exc.status  # the API's code and status; nothing was logged
            else:
                status = 400
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Try a query: %(name)s") % {"name": collection.name},
            "opts": self.model._meta,
            "original": collection,
            "back": ui.admin_url(collection),
            "query_form": form,
            "query_url": request.path,
            "error": error,
            "answer": answer,
            "results": self._cited(answer.results) if answer is not None else [],
            "log_link": self._log_link(request, answer.log) if answer is not None else "",
        }
        return TemplateResponse(request, "admin/retrieval/collection_query.html", context, status=status)

    def _cited(self, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each result with its document as a link and its chunk shortened to an excerpt."""
        found = Document.objects.only("pk", "external_id", "version").in_bulk(
            {r["citation"]["document_id"] for r in results}
        )
        return [
            {
                **r,
                "rank": i,
                "document": ui.link(found.get(r["citation"]["document_id"])),
                "excerpt": Truncator(r["text"]).chars(EXCERPT_CHARS),
                "score_text": f"{r['score']:.3f}",
                "dense_rank": r["ranks"]["dense"] or "-",
                "lexical_rank": r["ranks"]["lexical"] or "-",
            }
            for i, r in enumerate(results, start=1)
        ]

    def _log_link(self, request: HttpRequest, log: QueryLog) -> SafeString:
        label = gettext("query log entry %(id)d") % {"id": log.pk}
        if allowed(request.user, "query_log", READ):
            return ui.link(log, label)
        return format_html("{}", label)

    def save_model(self, request: HttpRequest, obj: Collection, form: ModelForm, change: bool) -> None:
        if change:
            changed = {
                name: form.cleaned_data[name] for name in form.changed_data if name in collections.UPDATABLE
            }
            collections.collection_update(
                actor=request.user, collection=Collection.objects.get(pk=obj.pk), **changed
            )
        else:
            data = {k: v for k, v in form.cleaned_data.items() if v is not None and v != ""}
            obj.pk = collections.collection_create(actor=request.user, **data).pk

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        pass  # the service stored everything


class AttentionFilter(admin.SimpleListFilter):
    """What the dashboard's document cards count, so their links show exactly those rows."""

    title = _("needs attention")
    parameter_name = ATTENTION_PARAM

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(FAILED, _("failed or rejected")), (INDEXING, _("being indexed"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        q = ATTENTION.get(self.value() or "")
        return queryset.filter(q) if q is not None else queryset


DOCUMENT_FIELDS = (
    "external_id", "version", "title", "source", "collection_link", "status_badge", "source_type",
    "sha256_short", "size_bytes", "chunk_count", "error_code", "error", "pii_summary_table",
    "metadata_table", "subject_keys_short", "created_at", "created_by", "started_at", "indexed_at",
    "finished_at", "attempts", "worker_host", "worker_pid", "heartbeat_at",
)  # fmt: skip


@admin.register(Document)
class DocumentAdmin(PolicyAdmin):
    policy_resource = "document"
    offers_add = False  # documents arrive through the API upload, which extracts and validates them
    offers_change = False
    list_display = [
        "external_id",
        "version",
        "collection",
        "status_badge",
        "progress_percent",
        "chunk_count",
        "error_code",
        "created_at",
        "indexed_at",
    ]
    list_filter = [AttentionFilter, "status", "source_type", "collection"]
    search_fields = ["external_id", "title"]
    fields = DOCUMENT_FIELDS
    readonly_fields = DOCUMENT_FIELDS
    panels = ("progress_panel",)
    fragments = ("progress_box",)
    actions = ["delete_with_chunks"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return selectors.document_list().select_related("collection", "created_by")

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: Document) -> SafeString:
        return document_status(obj.status)

    @admin.display(description=_("progress"), ordering="progress")
    def progress_percent(self, obj: Document) -> str:
        return _percent(obj)

    @admin.display(description=_("collection"))
    def collection_link(self, obj: Document) -> SafeString:
        return ui.link(obj.collection)

    @admin.display(description="sha256")
    def sha256_short(self, obj: Document) -> SafeString:
        return ui.short_hash(obj.sha256)

    @admin.display(description=_("personal data found"))
    def pii_summary_table(self, obj: Document) -> SafeString:
        return ui.json_table(obj.pii_summary or {})

    @admin.display(description=_("metadata"))
    def metadata_table(self, obj: Document) -> SafeString:
        return ui.json_table(obj.metadata or {})

    @admin.display(description=_("subject keys"))
    def subject_keys_short(self, obj: Document) -> SafeString:
        return _keys(obj.subject_keys)

    def progress_panel(self, request: HttpRequest, obj: Document) -> SafeString:
        return self.live(obj, "progress_box", done=obj.status in DONE)

    def progress_box(self, obj: Document) -> SafeString:
        """The ingestion's state: refreshed every few seconds until the document is indexed, failed or
        rejected (then the fragment carries the done marker and the page stops asking)."""
        rows: list[tuple[Any, Any]] = [
            (_("Status"), document_status(obj.status)),
            (
                _("Progress"),
                format_html(
                    '<progress max="100" value="{}"></progress> {}', round(obj.progress * 100), _percent(obj)
                ),
            ),
            (_("Chunks"), obj.chunk_count),
        ]
        if obj.error_code or obj.error:
            rows.append(
                (_("Reason"), format_html("<code>{}</code> {}", obj.error_code or "-", obj.error or ""))
            )
        if obj.indexed_at:
            rows.append((_("Indexed at"), ui.when(obj.indexed_at)))
        return format_html("{}{}", _kv(rows), ui.done_marker() if obj.status in DONE else "")

    @admin.action(description=_("Delete the selected documents and their chunks"), permissions=["write"])
    def delete_with_chunks(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        done = 0
        for document in queryset:
            try:
                documents.document_delete(actor=request.user, document=document)
                done += 1
            except DomainError as exc:
                messages.error(request, f"{document}: {exc.message}")
        if done:
            messages.success(request, f"Deleted {done} document(s) and their chunks")


def _keys(keys: list[str] | None) -> SafeString:
    """Subject keys shortened (a keyed hash each); the count says how many there are in all."""
    if not keys:
        return format_html("<em>{}</em>", gettext("none"))
    shown = format_html_join(" ", "{}", ((ui.short_hash(k),) for k in keys[:10]))
    more = gettext(" and %(n)d more") % {"n": len(keys) - 10} if len(keys) > 10 else ""
    return format_html("{} {}", shown, more)


class OutcomeFilter(admin.SimpleListFilter):
    """Answered or not, in words (the boolean column's red cross read as an error)."""

    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("answered", _("answered")), ("none", _("no relevant fragment"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "answered":
            return queryset.filter(no_relevant_fragment=False)
        if self.value() == "none":
            return queryset.filter(no_relevant_fragment=True)
        return queryset


QUERY_LOG_FIELDS = (
    "created_at", "user", "collection_link", "query_masked", "query_pii_table", "subject_keys_short",
    "k", "min_score", "filters_table", "outcome", "results_table", "retrieval_mode", "group_by_document",
    "search_mode", "duration_ms",
)  # fmt: skip


@admin.register(QueryLog)
class QueryLogAdmin(PolicyAdmin):
    """The Art. 12 record of every query: view-only (no add, no save), for officers and auditors."""

    policy_resource = "query_log"
    offers_add = False
    offers_change = False
    list_display = [
        "created_at",
        "user",
        "collection",
        "query_excerpt",
        "results_count",
        "outcome",
        "retrieval_mode",
        "search_mode",
        "duration_ms",
    ]
    list_filter = [OutcomeFilter, "retrieval_mode", "search_mode", "collection"]
    fields = QUERY_LOG_FIELDS
    readonly_fields = QUERY_LOG_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[QueryLog]:
        return selectors.query_log_list().select_related("collection")

    @admin.display(description=_("query (masked)"))
    def query_excerpt(self, obj: QueryLog) -> str:
        return Truncator(obj.query_masked).chars(80)

    @admin.display(description=_("results"))
    def results_count(self, obj: QueryLog) -> int:
        return len(obj.results or [])

    @admin.display(description=_("outcome"), ordering="no_relevant_fragment")
    def outcome(self, obj: QueryLog) -> SafeString:
        if obj.no_relevant_fragment:
            return ui.badge("no_relevant_fragment", gettext("no relevant fragment"), tone_of=ui.OFF)
        return ui.badge("answered", gettext("answered"), tone_of=ui.OK)

    @admin.display(description=_("collection"))
    def collection_link(self, obj: QueryLog) -> SafeString:
        return ui.link(obj.collection)

    @admin.display(description=_("personal data in the query"))
    def query_pii_table(self, obj: QueryLog) -> SafeString:
        return ui.json_table(obj.query_pii_summary or {})

    @admin.display(description=_("subject keys"))
    def subject_keys_short(self, obj: QueryLog) -> SafeString:
        return _keys(obj.subject_keys)

    @admin.display(description=_("filters"))
    def filters_table(self, obj: QueryLog) -> SafeString:
        return ui.json_table(obj.filters or {})

    @admin.display(description=_("results"))
    def results_table(self, obj: QueryLog) -> SafeString:
        """Each returned chunk with its score and a link to its document (or the id, once deleted)."""
        results = [r for r in (obj.results or []) if isinstance(r, dict)]
        found = Document.objects.only("pk", "external_id", "version").in_bulk(
            {r.get("document_id") for r in results if isinstance(r.get("document_id"), int)}
        )
        rows = [
            (
                i,
                ui.link(found[r["document_id"]])
                if r.get("document_id") in found
                else gettext("document %(id)s (deleted)") % {"id": r.get("document_id")},
                r.get("chunk_id", "-"),
                f"{r['score']:.3f}" if isinstance(r.get("score"), int | float) else "-",
            )
            for i, r in enumerate(results, start=1)
        ]
        head = (_("rank"), _("document"), _("chunk"), _("score"))
        return _grid(head, rows, empty=gettext("no relevant fragment"))
