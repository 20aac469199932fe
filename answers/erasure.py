"""The answer register as an erasure participant: a subject's answers are redacted, not deleted.

An answer record names its subject by the keys of the identifiers found in the question, the answer
or the correction. The row stays (the deployment answered at that time, with those fragments: the
Art. 12 record of the system's operation) but its texts become the redaction marker and its keys go.
A row carrying only a name key of the subject is listed for the officer to confirm (kind "answer").
The purge vacuums the table and rebuilds its indexes, so no dead tuple, GIN entry or statistics
sample keeps an identifier. The export (access and portability requests) reads the same rows erase
would redact, with the stored masked texts and the deployment's processing facts.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Q, QuerySet

from answers.models import AnswerRecord
from governance.participants import ErasureScope, NameOnlyMatch
from governance.services.audit import audit_record
from governance.services.processing_contexts import deployment_context, unique

logger = logging.getLogger(__name__)

KIND = "answer"
COUNT_NAMES = ("answers",)
TABLE = AnswerRecord._meta.db_table
TEXT_FIELDS = ("question_masked", "answer_masked", "feedback_correction_masked")


def redaction(scope: ErasureScope) -> str:
    return f"[erased under request {scope.reference}]"


def _subject(scope: ErasureScope) -> QuerySet[AnswerRecord]:
    where = Q(pk__in=scope.confirmed_ids(KIND))
    if scope.keys:
        where |= Q(subject_keys__overlap=list(scope.keys))
    return AnswerRecord.objects.filter(where)


def _pending(scope: ErasureScope) -> QuerySet[AnswerRecord]:
    """The subject's rows not redacted yet under this request (a redacted row has no keys left)."""
    return _subject(scope).exclude(question_masked=redaction(scope), subject_keys=[])


def _name_only(scope: ErasureScope) -> list[NameOnlyMatch]:
    if not scope.name_keys:
        return []
    rows = AnswerRecord.objects.filter(subject_keys__overlap=list(scope.name_keys))
    if scope.keys:
        rows = rows.exclude(subject_keys__overlap=list(scope.keys))
    return [
        NameOnlyMatch(kind=KIND, object_id=pk, label=f"answer {pk} of deployment #{deployment}")
        for pk, deployment in rows.order_by("pk").values_list("pk", "deployment_id")
    ]


def erasure_find(scope: ErasureScope) -> dict[str, Any]:
    return {"counts": {"answers": _pending(scope).count()}, "name_only": _name_only(scope)}


def erasure_export(scope: ErasureScope) -> dict[str, Any]:
    """The subject's answer records as stored (masked texts), with their deployments' facts; reads only."""
    rows = list(_subject(scope).select_related("deployment__ai_system").order_by("created_at", "pk"))
    items = [
        {
            "kind": KIND,
            "id": row.pk,
            "portable": True,
            "deployment": str(row.deployment),
            "deployment_id": row.deployment_id,
            "created_at": row.created_at.isoformat(),
            "question": row.question_masked,
            "answer": row.answer_masked,
            "feedback_rating": row.feedback_rating,
            "feedback_correction": row.feedback_correction_masked,
            "handoff": row.handoff,
            "pii_types": sorted(row.pii_summary or {}),
        }
        for row in rows
    ]
    return {"items": items, "processing": unique(deployment_context(row.deployment) for row in rows)}


@transaction.atomic  # the orchestrator's transaction when it calls; its own when called alone
def erasure_erase(scope: ErasureScope) -> dict[str, Any]:
    started = time.monotonic()
    marker = redaction(scope)
    ids = list(_pending(scope).select_for_update().values_list("pk", flat=True))
    AnswerRecord.objects.filter(pk__in=ids).update(
        question_masked=marker, answer_masked=marker, subject_keys=[], pii_summary={}
    )
    AnswerRecord.objects.filter(pk__in=ids).exclude(feedback_correction_masked="").update(
        feedback_correction_masked=marker
    )
    if ids:
        audit_record(
            actor=None,
            action="answers.erased",
            object_type="governance.erasurerequest",
            object_id=str(scope.request_id),
            payload={"request": scope.request_id, "counts": {"answers": len(ids)}},
        )
    return {"counts": {"answers": len(ids)}, "seconds": round(time.monotonic() - started, 4)}


def _execute(sql: str) -> float:
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(sql)
    return round(time.monotonic() - started, 4)


def erasure_purge(scope: ErasureScope, erased: dict[str, Any]) -> dict[str, Any]:
    """VACUUM the table, rebuild its indexes from the live rows, re-ANALYZE: outside a transaction.

    Reads and writes go on meanwhile (plain VACUUM, REINDEX CONCURRENTLY): answering never waits on it.
    """
    if connection.in_atomic_block:
        raise RuntimeError("the purge runs VACUUM, which cannot run inside a transaction")
    if not erased.get("counts", {}).get("answers"):
        return {"answers_table": None}
    table = connection.ops.quote_name(TABLE)
    timings = {"vacuum_s": _execute(f"VACUUM (INDEX_CLEANUP ON) {table}")}
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY indexname", [TABLE])
        indexes = [row[0] for row in cursor.fetchall()]
    step = time.monotonic()
    for index in indexes:
        _execute(f"REINDEX INDEX CONCURRENTLY {connection.ops.quote_name(index)}")
    timings["reindex_s"] = round(time.monotonic() - step, 4)
    timings["analyze_s"] = _execute(f"ANALYZE {table}")
    return {"answers_table": timings}


def erasure_verify(scope: ErasureScope) -> dict[str, Any]:
    """No answer carries the subject's keys, and (with the identifiers) no text contains them."""
    by_keys = _pending(scope).count()
    result: dict[str, Any] = {"answers_by_keys": by_keys}
    unsearchable: list[str] = []
    if scope.identifiers:
        patterns = [f"%{_escape_like(value)}%" for value in scope.identifiers if value]
        select = ", ".join(f"count(*) FILTER (WHERE {field} ILIKE ANY(%s))" for field in TEXT_FIELDS)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SELECT {select} FROM {connection.ops.quote_name(TABLE)}", [patterns] * 3)  # noqa: S608
                row = cursor.fetchone()
        except DatabaseError as exc:
            logger.warning("erasure verify could not search the answer register: %s", type(exc).__name__)
            unsearchable.extend(TEXT_FIELDS)
        else:
            result["answer_texts"] = {field: int(n) for field, n in zip(TEXT_FIELDS, row, strict=True)}
    else:
        unsearchable.append("text: no identifiers were given")  # never ok without the text search
    left = by_keys + sum(result.get("answer_texts", {}).values())
    result["unsearchable"] = unsearchable
    result["ok"] = left == 0 and not unsearchable
    return result


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
