"""Write services for documents: accept an upload, run the ingestion pipeline, delete.

The pipeline (DESIGN section 5) runs in Celery: PII scan -> policy -> chunk -> embed -> write. No
transaction is open while scanning or embedding; each document's chunks are written, and the
version it replaces removed, in one transaction, so a failure at any step leaves the previous
version searchable and the new one `failed` with its error.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from governance import claim, pii
from governance.enqueue import enqueue_on_commit
from governance.errors import DomainError, NotFound
from governance.policy import WRITE, require
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from governance.suppression import any_suppressed, suppressed
from retrieval import embedding, passages, storage
from retrieval.choices import IN_FLIGHT, DocumentStatus, IndexState, PiiPolicy
from retrieval.chunking import chunk_text
from retrieval.intake import IncomingDocument
from retrieval.models import Collection, Document
from retrieval.services.collections import collection_defer_index

logger = logging.getLogger(__name__)

# While the PII scan runs, chunks are embedded in slices of a quarter batch (RETRIEVAL_EMBED_BATCH) on one
# thread fewer, so the embedding takes every core soon after the scan ends (a whole batch on one thread
# took three times as long as the scan, leaving a core idle); then a batch at a time, and after each
# slice the documents it completed go to the writer thread.
SHARING_SLICE_SHARE = 4

INGEST_TASK = "retrieval.tasks.ingest_documents"
# Rough characters per token for English text, used only to decide whether an upload is a bulk load.
CHARS_PER_TOKEN = 4


# --- Accepting an upload -------------------------------------------------------------------------


@dataclass
class Accepted:
    """The documents of one upload: new versions queued, and identical ones left as they were."""

    documents: list[Document] = field(default_factory=list)
    unchanged: set[int] = field(default_factory=set)
    bulk_load: bool = False


def documents_ingest(*, actor: User, collection: Collection, items: Sequence[IncomingDocument]) -> Accepted:
    """Store validated documents as pending versions and queue their ingestion after commit."""
    accepted = _store_pending(actor, collection, items)
    return accepted


@transaction.atomic
def _store_pending(actor: User, collection: Collection, items: Sequence[IncomingDocument]) -> Accepted:
    # Uploads to one collection are serialised, so versions and the one-in-flight rule never race.
    locked = Collection.objects.select_for_update().get(pk=collection.pk)
    external_ids = [item.external_id for item in items]
    live = _live_versions(locked, external_ids)
    versions = dict(
        Document.objects.filter(collection=locked, external_id__in=external_ids)
        .values("external_id")
        .annotate(last=Max("version"))
        .values_list("external_id", "last")
    )
    accepted = Accepted()
    new: list[Document] = []
    superseded: list[int] = []
    for item in items:
        same = next((d for d in live.get(item.external_id, []) if d.sha256 == item.sha256), None)
        if same is not None:
            accepted.documents.append(same)
            accepted.unchanged.add(same.pk)
            continue
        superseded += [d.pk for d in live.get(item.external_id, []) if d.status in IN_FLIGHT]
        document = Document(
            collection=locked,
            external_id=item.external_id,
            version=versions.get(item.external_id, 0) + 1,
            title=item.title,
            source=item.source,
            metadata=item.metadata,
            source_type=item.source_type,
            sha256=item.sha256,
            size_bytes=item.size_bytes,
            text=item.text,
            created_by=user_or_none(actor),
        )
        # The collection is locked above and the user is the caller: skip two queries per document.
        document.full_clean(exclude=["collection", "created_by"], validate_constraints=False)
        new.append(document)
    if superseded:
        # A newer upload of the same external id wins; the older one never reaches the index.
        Document.objects.filter(pk__in=superseded).update(
            status=DocumentStatus.FAILED,
            error_code="superseded",
            text="",
            finished_at=timezone.now(),
            error="a newer version was uploaded before this one was indexed",
        )
    created = Document.objects.bulk_create(new)
    accepted.documents.extend(created)
    accepted.bulk_load = (
        bool(created) and _is_bulk_load(locked, created) and collection_defer_index(collection=locked)
    )
    ids = [d.pk for d in created]
    if ids:
        for group in task_groups(ids, [len(d.text) for d in created]):
            enqueue_on_commit(INGEST_TASK, group)
    audit_record(
        actor=actor,
        action="documents.accepted",
        obj=locked,
        payload={
            "documents": ids,
            "unchanged": sorted(accepted.unchanged),
            "superseded": superseded,
            "bulk_load": accepted.bulk_load,
        },
    )
    return accepted


def _live_versions(collection: Collection, external_ids: list[str]) -> dict[str, list[Document]]:
    live: dict[str, list[Document]] = defaultdict(list)
    statuses = [DocumentStatus.INDEXED, *IN_FLIGHT]
    for document in Document.objects.filter(
        collection=collection, external_id__in=external_ids, status__in=statuses
    ).defer("text"):
        live[document.external_id].append(document)
    return live


def _existing_chunks(collection: Collection) -> int:
    counts = Document.objects.filter(collection=collection, status=DocumentStatus.INDEXED)
    return sum(counts.values_list("chunk_count", flat=True))


def _is_bulk_load(collection: Collection, created: list[Document]) -> bool:
    """Building the index after loading beats inserting into it when the load is large for its collection.

    DESIGN section 5: inserts into a live HNSW index ran at ~110 rows/s, COPY without it at 61k rows/s
    plus a build of 100k rows in 58 s. The index is rebuilt over the whole partition, so a load only
    qualifies when it is at least RETRIEVAL_BULK_MIN_CHUNKS and at least RETRIEVAL_BULK_RATIO times
    what the collection already holds (queries meanwhile run as exact search: correct, slower).
    """
    if collection.index_state != IndexState.READY:
        return False
    estimate = sum(
        max(
            1, math.ceil(len(d.text) / (CHARS_PER_TOKEN * (collection.chunk_size - collection.chunk_overlap)))
        )
        for d in created
    )
    minimum = int(settings.RETRIEVAL_BULK_MIN_CHUNKS)
    ratio = float(settings.RETRIEVAL_BULK_RATIO)
    return estimate >= minimum and estimate >= ratio * _existing_chunks(collection)


def task_groups(ids: Sequence[int], sizes: Sequence[int]) -> list[list[int]]:
    """Split documents into tasks of at most RETRIEVAL_TASK_DOCUMENTS documents and RETRIEVAL_TASK_CHARS."""
    max_docs = int(settings.RETRIEVAL_TASK_DOCUMENTS)
    max_chars = int(settings.RETRIEVAL_TASK_CHARS)
    groups: list[list[int]] = []
    current: list[int] = []
    chars = 0
    for pk, size in zip(ids, sizes, strict=True):
        if current and (len(current) >= max_docs or chars + size > max_chars):
            groups.append(current)
            current, chars = [], 0
        current.append(pk)
        chars += size
    if current:
        groups.append(current)
    return groups


# --- The pipeline --------------------------------------------------------------------------------


def documents_claim(*, document_ids: Sequence[int]) -> list[int]:
    """Claim documents: a redelivery stands down beside a live owner and takes over from a dead one."""
    claims = claim.claim_rows(
        Document,
        sorted(document_ids),
        claimable_statuses=list(IN_FLIGHT),
        running_status=DocumentStatus.PROCESSING,
        on_exhausted=_exhausted,
        started_at=timezone.now(),
        progress=0.05,
    )
    return [c.pk for c in claims]


def _exhausted(document_id: int, attempts: int) -> None:
    _fail(
        document_id,
        "worker_lost",
        f"the worker stopped during each of {attempts} attempts (killed or out of memory); "
        "giving up after CLAIM_MAX_ATTEMPTS",
        held=False,
    )


@dataclass
class _Work:
    """A document on its way through the pipeline."""

    document: Document
    text: str = ""
    title: str = ""
    keys: list[str] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    spans: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, subject key) in `text`
    title_keys: list[str] = field(default_factory=list)  # keys of the title and the other stored fields
    rows: list[storage.ChunkRow] = field(default_factory=list)
    vectors: np.ndarray | None = None


def documents_process(*, document_ids: Sequence[int]) -> set[int]:
    """Scan, apply the policy, chunk, embed and write each claimed document; returns the collections."""
    documents = list(
        claim.owned(Document.objects.filter(pk__in=document_ids, status=DocumentStatus.PROCESSING))
        .select_related("collection")
        .order_by("pk")
    )
    by_collection: dict[int, list[Document]] = defaultdict(list)
    for document in documents:
        by_collection[document.collection_id].append(document)
    for group in by_collection.values():
        _process(group[0].collection, group)
    return set(by_collection)


def _process(collection: Collection, documents: list[Document]) -> None:
    work = [_Work(document=d, text=d.text, title=d.title) for d in documents]
    try:
        loaded = embedding.load_model(collection.embedding_model)
        if collection.pii_policy == PiiPolicy.MASK:
            # Masking changes the text that is chunked and embedded: the scan must come first.
            work = _apply_scan(collection, work, _scan(work))
            work = _embed(loaded, _chunk(loaded, collection, work))
            for item in work:
                _assign_chunk_keys(item)
            for item in work:
                _write_or_fail(collection, item)
            return
        # The scan (spaCy) and the embedding (torch, which releases the GIL) do not depend on each
        # other here, so they run side by side; each document is written as soon as its vectors and
        # the scan are done, while the next ones embed: ingestion then costs about the embedding alone.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pii-scan") as pool:
            scanning = pool.submit(_scan, list(work))
            chunked = _chunk(loaded, collection, work)
            with _writer() as write:
                _embed(
                    loaded, chunked, beside=scanning, embedded=lambda item: write(collection, item, scanning)
                )
            scanning.result()  # a failed scan failed every document in the writer; raised here to log it
    except DomainError as exc:
        for item in work:
            _fail(item.document.pk, exc.code, exc.message)
    except Exception as exc:
        logger.exception("ingestion of %d document(s) failed", len(work))
        for item in work:
            _fail(item.document.pk, "ingestion_failed", f"ingestion failed: {type(exc).__name__}")


_Write = Callable[[Collection, _Work, "Future[dict[int, _Scanned]]"], None]


@contextmanager
def _writer() -> Iterator[_Write]:
    """Finish documents (policy, keys, write) in a thread beside the embedding, in the order given.

    Inside a caller's transaction (a test, a management command in atomic()) another thread's connection
    would not see the caller's rows, so the documents are finished in this thread once all are embedded.
    """
    if connection.in_atomic_block:
        pending: list[tuple[Collection, _Work, Future[dict[int, _Scanned]]]] = []
        yield lambda *job: pending.append(job)
        for job in pending:
            _finish(*job)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-write") as pool:

        def submit(collection: Collection, item: _Work, scanning: Future[dict[int, _Scanned]]) -> None:
            pool.submit(_finish, collection, item, scanning)

        try:
            yield submit
        finally:
            # The thread's own database connection is closed by the thread, after its last write.
            pool.submit(lambda: connection.close())


def _finish(collection: Collection, item: _Work, scanning: Future[dict[int, _Scanned]]) -> None:
    """Apply the scan's outcome to an embedded document and write it (or fail it, alone)."""
    try:
        results = scanning.result()
    except DomainError as exc:
        _fail(item.document.pk, exc.code, exc.message)
        return
    except Exception as exc:
        _fail(item.document.pk, "ingestion_failed", f"ingestion failed: {type(exc).__name__}")
        return
    try:
        applied = _apply_scan(collection, [item], results, progress=False)
    except Exception as exc:
        logger.exception("applying the scan to document %s failed", item.document.pk)
        _fail(item.document.pk, "ingestion_failed", f"ingestion failed: {type(exc).__name__}")
        return
    for kept in applied:
        _assign_chunk_keys(kept)
        _write_or_fail(collection, kept)


def _write_or_fail(collection: Collection, item: _Work) -> None:
    try:
        _write(collection, item)
    except Exception as exc:
        # The class only: a database error's message can quote the row, i.e. the document's text.
        logger.exception("writing document %s failed", item.document.pk)
        _fail(item.document.pk, "write_failed", f"writing the chunks failed: {type(exc).__name__}")


def _progress(work: list[_Work], value: float) -> None:
    # Progress is the heartbeat too: a document whose progress stops moving is one whose owner died.
    # Only documents still in the pipeline: one the writer thread already indexed keeps progress 1.0.
    claim.owned(
        Document.objects.filter(pk__in=[w.document.pk for w in work], status=DocumentStatus.PROCESSING)
    ).update(heartbeat_at=timezone.now(), progress=value)


def _masked(text: str, result: pii.ScanResult) -> tuple[str, list[tuple[int, int, str]]]:
    """The masked text and each finding's span and key in it (placeholders shift what follows)."""
    masked = pii.mask_text(text, result)
    spans: list[tuple[int, int, str]] = []
    shift = 0
    for finding in result.findings:
        placeholder = f"<{finding.entity_type}>"
        start = finding.start + shift
        spans.append((start, start + len(placeholder), finding.subject_key))
        shift += len(placeholder) - (finding.end - finding.start)
    if any(masked[s:e] != f"<{f.entity_type}>" for (s, e, _), f in zip(spans, result.findings, strict=True)):
        # Never expected; if the anonymizer placed text differently, every chunk carries every key.
        spans = [(0, len(masked), key) for _, _, key in spans]
    return masked, spans


def stored_fields(document: Document) -> list[str]:
    """The document's other stored strings, scanned like its text: external id, source, metadata values.

    Each is scanned on its own (a match never spans two fields); numbers are scanned as their digits,
    since a PESEL or a phone number sent as a JSON number is still one.
    """
    values = [document.external_id, document.source]
    values += [_flatten(value) for value in (document.metadata or {}).values()]
    return [value for value in values if value and value.strip()]


def _flatten(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, dict):
        return "\n".join(_flatten(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(_flatten(v) for v in value)
    return str(value)


_Scanned = tuple[pii.ScanResult, pii.ScanResult, list[pii.ScanResult]]


def _scan(work: list[_Work]) -> dict[int, _Scanned]:
    """PII findings in each document's text, title and other stored fields, by id (no database access)."""
    fields = [stored_fields(w.document) for w in work]
    texts = [w.document.text for w in work] + [w.document.title for w in work]
    texts += [value for values in fields for value in values]
    results = pii.scan_texts(texts)
    scanned: dict[int, _Scanned] = {}
    offset = 2 * len(work)
    for i, item in enumerate(work):
        own = results[offset : offset + len(fields[i])]
        offset += len(fields[i])
        scanned[item.document.pk] = (results[i], results[len(work) + i], own)
    return scanned


def _apply_scan(
    collection: Collection, work: list[_Work], results: dict[int, _Scanned], *, progress: bool = True
) -> list[_Work]:
    """Apply suppression and the collection's policy: reject, mask, or keep; record keys and where.

    A document naming a suppressed subject (a completed erasure request) is rejected whatever the
    policy: indexing it would bring back what the request erased. Under `mask` only the text and the
    title are masked (they are what is chunked, embedded and quoted); the external id, source and
    metadata are stored as sent (the id names versions, filters match metadata exactly) but their keys
    sit on the document and on every chunk, so an erasure request finds and deletes them.
    """
    kept: list[_Work] = []
    suppression = any_suppressed()
    for item in work:
        body, title, others = results[item.document.pk]
        outside = [f for result in others for f in result.findings]
        findings = body.findings + title.findings + tuple(outside)
        item.summary = dict(Counter(f.entity_type for f in findings))
        item.keys = sorted({f.subject_key for f in findings})
        if suppression and suppressed(item.keys):
            _reject(item.document.pk, item.summary, code="suppressed_subject")
            continue
        if findings and collection.pii_policy == PiiPolicy.REJECT:
            _reject(item.document.pk, item.summary)
            continue
        if collection.pii_policy == PiiPolicy.MASK:
            item.text, item.spans = _masked(item.document.text, body)
            item.title = pii.mask_text(item.document.title, title)
        else:
            item.spans = [(f.start, f.end, f.subject_key) for f in body.findings]
        # The title's and the fields' identifiers are in no chunk's text, but a citation shows them with
        # every chunk: erasure must find all of the document's chunks by them.
        item.title_keys = sorted({f.subject_key for f in title.findings + tuple(outside)})
        kept.append(item)
    if progress:
        _progress(kept, 0.2)
    return kept


def _chunk(loaded: embedding.LoadedModel, collection: Collection, work: list[_Work]) -> list[_Work]:
    kept: list[_Work] = []
    for item in work:
        # The title here is the masked one under the mask policy (the scan ran first), the stored one
        # otherwise: the heading holds no identifier the chunk's keys do not already carry.
        heading, heading_tokens = passages.fit_heading(
            loaded.tokenizer,
            passages.heading(
                header=collection.chunk_header, title=item.title, embed_title=collection.embed_title
            ),
            loaded.max_tokens,
        )
        size, overlap = passages.window(
            chunk_size=collection.chunk_size,
            chunk_overlap=collection.chunk_overlap,
            max_tokens=loaded.max_tokens,
            heading_tokens=heading_tokens,
        )
        pieces = chunk_text(loaded.tokenizer, item.text, size=size, overlap=overlap)
        if not pieces:
            _fail(item.document.pk, "no_chunks", "the document's text gives no tokens to index")
            continue
        item.rows = [
            storage.ChunkRow(
                piece.ordinal,
                item.text[piece.start : piece.end],
                piece.start,
                piece.end,
                piece.token_count,
                [],
                heading,
            )
            for piece in pieces
        ]
        kept.append(item)
    _progress(kept, 0.3)
    return kept


def _assign_chunk_keys(item: _Work) -> None:
    """Each chunk carries the keys of the identifiers inside its span, and those of the title."""
    title_keys = set(item.title_keys)
    item.rows = [
        replace(
            row,
            subject_keys=sorted(
                {key for s, e, key in item.spans if s < row.end and e > row.start} | title_keys
            ),
        )
        for row in item.rows
    ]


def _embed(
    loaded: embedding.LoadedModel,
    work: list[_Work],
    *,
    beside: Future[Any] | None = None,
    embedded: Callable[[_Work], None] | None = None,
) -> list[_Work]:
    """Embed every chunk, in document order; `embedded` gets each document as soon as its vectors are in.

    While `beside` (the PII scan in another thread) runs, the embedding uses one torch thread fewer, a
    batch at a time: torch's threads wait for each other by spinning, and with as many of them as cores
    a scan thread beside them made both slower (the scan took 3.6 times as long as alone). Once the scan
    is done it takes every core, a batch at a time, so documents keep reaching the writer.
    """
    texts = [passages.passage(row.heading, row.text) for item in work for row in item.rows]
    ends = list(itertools.accumulate(len(item.rows) for item in work))
    every = int(settings.RETRIEVAL_EMBED_PROGRESS_EVERY)
    batch = int(settings.RETRIEVAL_EMBED_BATCH)
    cores = embedding.ingest_threads()
    matrix = np.zeros((len(texts), loaded.dimension), dtype=np.float32)
    kept: list[_Work] = []
    start = reported = finished = 0
    while finished < len(work):
        if start < len(texts):
            sharing = beside is not None and not beside.done() and cores > 1
            size = max(1, batch // SHARING_SLICE_SHARE) if sharing else batch
            with embedding.torch_threads(cores - 1 if sharing else cores):
                vectors = loaded.model.encode(
                    texts[start : start + size],
                    batch_size=batch,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            matrix[start : start + size] = np.asarray(vectors, dtype=np.float32)
            start = min(start + size, len(texts))
            if start - reported >= every or start >= len(texts):
                reported = start
                _progress(work[finished:], 0.3 + 0.6 * start / max(1, len(texts)))
        while finished < len(work) and ends[finished] <= start:
            item = work[finished]
            finished += 1
            item.vectors = matrix[ends[finished - 1] - len(item.rows) : ends[finished - 1]]
            try:
                # Per document, so one document's bad vectors do not fail its neighbours.
                embedding.check_finite(item.vectors)
            except embedding.NonFiniteEmbedding as exc:
                _fail(item.document.pk, "non_finite_embedding", str(exc))
                continue
            kept.append(item)
            if embedded is not None:
                embedded(item)
    return kept


@transaction.atomic
def _write(collection: Collection, item: _Work) -> Document | None:
    """Write a document's chunks and retire the version it replaces, in one transaction."""
    document = Document.objects.select_for_update().filter(pk=item.document.pk).first()
    if document is None or document.status != DocumentStatus.PROCESSING or not claim.is_mine(document):
        return document  # deleted, superseded, finished or taken over by another run of the same task
    previous = list(
        Document.objects.select_for_update()
        .filter(collection=collection, external_id=document.external_id, status=DocumentStatus.INDEXED)
        .values_list("pk", flat=True)
    )
    assert item.vectors is not None
    storage.copy_chunks(collection, document.pk, item.rows, item.vectors)
    if previous:
        storage.delete_document_chunks(collection, previous)
        Document.objects.filter(pk__in=previous).delete()
    now = timezone.now()
    # Only what indexing changed is written: the text goes back only when the policy masked it.
    fields = ["subject_keys", "pii_summary", "chunk_count", "status", "progress", "indexed_at", "finished_at"]
    fields += [name for name in ("text", "title") if getattr(document, name) != getattr(item, name)]
    document.text, document.title = item.text, item.title
    document.subject_keys, document.pii_summary = item.keys, item.summary
    document.chunk_count, document.status, document.progress = len(item.rows), DocumentStatus.INDEXED, 1.0
    document.indexed_at = document.finished_at = now
    document.save(update_fields=fields)
    audit_record(
        actor=None,
        action="document.replaced" if previous else "document.indexed",
        obj=document,
        payload={
            "collection": collection.pk,
            "version": document.version,
            "sha256": document.sha256,
            "chunks": len(item.rows),
            "pii_summary": item.summary,
            "subject_keys": len(item.keys),
            "replaced": previous,
            "policy": collection.pii_policy,
        },
    )
    return document


@transaction.atomic
def _fail(document_id: int, code: str, message: str, *, held: bool = True) -> None:
    document = Document.objects.select_for_update().filter(pk=document_id).first()
    if document is None or document.status not in IN_FLIGHT:
        return
    if held and (document.status != DocumentStatus.PROCESSING or not claim.is_mine(document)):
        return  # another run took the document over; its outcome stands
    # A document that never reaches the index keeps no text: nothing personal lingers un-indexed.
    document.status, document.error_code, document.error = DocumentStatus.FAILED, code, message
    document.text, document.subject_keys, document.finished_at = "", [], timezone.now()
    document.save()
    audit_record(
        actor=None,
        action="document.failed",
        obj=document,
        payload={"collection": document.collection_id, "code": code},
    )


@transaction.atomic
def _reject(document_id: int, summary: dict[str, int], *, code: str = "pii_rejected") -> None:
    document = Document.objects.select_for_update().filter(pk=document_id).first()
    if document is None or document.status != DocumentStatus.PROCESSING:
        return
    types = sorted(summary)
    document.status, document.error_code = DocumentStatus.REJECTED, code
    if code == "suppressed_subject":
        # Types only: which subject it was is the erasure register's business, not the uploader's.
        document.error = "the document names a subject whose data was erased on request; found: " + ", ".join(
            types
        )
    else:
        document.error = "the collection's policy rejects personal data; found: " + ", ".join(types)
    # Found personal data goes with the text: title, source and metadata too (the external id stays: it
    # is how the uploader tells which document was refused).
    document.pii_summary, document.text, document.subject_keys = summary, "", []
    document.title, document.source, document.metadata = "", "", {}
    document.finished_at = timezone.now()
    document.save()
    audit_record(
        actor=None,
        action="document.rejected",
        obj=document,
        payload={"collection": document.collection_id, "pii_summary": summary, "code": code},
    )


# --- Delete --------------------------------------------------------------------------------------


@transaction.atomic
def document_delete(*, actor: User, document: Document) -> None:
    """Delete a document and its chunks; no query returns them afterwards."""
    require(actor, "document", WRITE)
    locked = Document.objects.select_for_update().filter(pk=document.pk).select_related("collection").first()
    if locked is None:
        raise NotFound("the document does not exist", code="not_found")
    chunks = storage.delete_document_chunks(locked.collection, [locked.pk])
    payload = {
        "collection": locked.collection_id,
        "version": locked.version,
        "status": locked.status,
        "chunks": chunks,
        "sha256": locked.sha256,
    }
    audit_record(actor=actor, action="document.deleted", obj=locked, payload=payload)
    Document.objects.filter(pk=locked.pk).delete()
