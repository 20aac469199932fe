"""Reports for officers and auditors: the audit report, the DPIA report, the GDPR Art. 30 records.

Every report names the audit chain head it was generated against (the head just before the report's own
`report.generated` event), and that event is written in a short transaction before any byte is sent.
CSV and JSON are streamed from a server-side cursor, so a million events export in bounded memory, and
stop at the head they name: events appended while the export streams belong to the next report. A PDF
is rendered whole (WeasyPrint does not stream), so it prints at most `settings.REPORT_PDF_MAX_EVENTS`
events; its summary tables count every event of the period, and the CSV holds them all.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from governance.errors import ValidationFailed
from governance.models import DPIA, AuditEvent
from governance.models.dpia import RISKS
from governance.policy import DOWNLOAD, require
from governance.selectors import reports as selectors
from governance.selectors.reports import AUDIT_COLUMNS, AuditFilter
from governance.services.audit import (
    Actor,
    actor_name,
    audit_chain_head,
    audit_record,
    audit_verify_chain,
    canonical_json,
)

POLICY_RESOURCE = "report"
GENERATED = "report.generated"
AUDIT_TEMPLATE = "reports/audit_report.html"
DPIA_TEMPLATE = "reports/dpia_report.html"
RECORDS_TEMPLATE = "reports/records_of_processing.html"
# Filters end up in the audit chain's payload, which must never hold personal data: object types and
# actions are dotted identifiers, object ids are primary keys or references (no `@`, no spaces).
_IDENTIFIER = re.compile(r"^[a-z0-9_.]{1,100}$")
_OBJECT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_PLUS_AS_SPACE = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LEVELS = ("negligible", "limited", "significant", "maximum")
RISK_CODES = {"illegitimate_access": "A", "unwanted_modification": "M", "disappearance": "D"}
RISK_NAMES = {
    "illegitimate_access": "Illegitimate access to data",
    "unwanted_modification": "Unwanted modification of data",
    "disappearance": "Disappearance of data",
}
RECORDS_COLUMNS = (
    "ai_system",
    "intended_purpose",
    "risk_class",
    "dataset",
    "dataset_purpose",
    "legal_basis",
    "contains_personal_data",
    "personal_data_categories",
    "categories_from_version",
    "retention_until",
    "recipients",
)


class ReportOutput(models.TextChoices):
    """What a report is delivered as."""

    PDF = "pdf", "PDF"
    CSV = "csv", "CSV"
    JSON = "json", "JSON"


CONTENT_TYPES = {
    ReportOutput.PDF: "application/pdf",
    ReportOutput.CSV: "text/csv; charset=utf-8",
    ReportOutput.JSON: "application/json",
}


@dataclass(frozen=True)
class ReportFile:
    """A generated report: whole bytes (PDF) or a stream of chunks (CSV, JSON), and the facts to label it."""

    filename: str
    content_type: str
    head_sequence: int
    head_hash: str
    event_sequence: int
    content: bytes | None = None
    chunks: Iterator[bytes] | None = field(default=None, compare=False)
    sha256: str = ""


def _report_file(
    filename: str, output: str, head: tuple[int, str], event: AuditEvent, **body: Any
) -> ReportFile:
    """The report labelled with the chain head it covers and its own `report.generated` event."""
    return ReportFile(
        filename=filename,
        content_type=CONTENT_TYPES[ReportOutput(output)],
        head_sequence=head[0],
        head_hash=head[1],
        event_sequence=event.sequence,
        **body,
    )


# --- Inputs ----------------------------------------------------------------------------------------


def report_period(*, start: str, end: str) -> tuple[datetime, datetime]:
    """The period [start, end) from ISO dates or datetimes; a date as `end` includes that whole day."""
    since = _moment(start, name="start", end_of_day=False)
    until = _moment(end, name="end", end_of_day=True)
    if until <= since:
        raise ValidationFailed(
            "the period's end must come after its start",
            code="period_end_before_start",
            details={"start": since.isoformat(), "end": until.isoformat()},
        )
    limit = settings.REPORT_MAX_PERIOD_DAYS
    if until - since > timedelta(days=limit):
        raise ValidationFailed(
            f"a report covers at most {limit} days",
            code="period_too_long",
            details={"days": (until - since).days, "max_days": limit},
        )
    return since, until


def _moment(value: str, *, name: str, end_of_day: bool) -> datetime:
    # An unencoded "+02:00" in a query string arrives as " 02:00": read it as the offset it was.
    value = _PLUS_AS_SPACE.sub(r"\1+\2", value)
    try:
        # The date first: parse_datetime also reads a bare date (as midnight), which would lose the
        # end-of-day meaning of a date given as `end`.
        day = parse_date(value)
        moment = None if day is not None else parse_datetime(value)
    except ValueError:  # well-formed but impossible, such as 2026-02-30
        moment = day = None
    if moment is None and day is None:
        raise ValidationFailed(
            f"{name} must be an ISO 8601 date or date and time",
            code="invalid_period",
            details={"field": name},
        )
    try:
        if day is not None:
            # A date names a whole day: the period starts at its first instant or ends after its last.
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time.min)
        assert moment is not None
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
    except OverflowError:  # the day after 9999-12-31, or an offset past the calendar's edge
        raise ValidationFailed(
            f"{name} lies outside the calendar this platform reads (years 1 to 9999)",
            code="invalid_period",
            details={"field": name},
        ) from None


def report_audit_filter(
    *, start: str, end: str, object_type: str = "", object_id: str = "", action: str = ""
) -> AuditFilter:
    """The validated period and filters of an audit report."""
    since, until = report_period(start=start, end=end)
    for name, value, pattern in (
        ("object_type", object_type, _IDENTIFIER),
        ("action", action, _IDENTIFIER),
        ("object_id", object_id, _OBJECT_ID),
    ):
        if value and not pattern.match(value):
            raise ValidationFailed(
                f"{name} is not a valid filter value", code="invalid_filter", details={"field": name}
            )
    return AuditFilter(since, until, object_type, object_id, action)


# --- The audit report ------------------------------------------------------------------------------


def report_audit_generate(*, actor: Actor, where: AuditFilter, output: str) -> ReportFile:
    """The audit report of a period as PDF (with the chain's verification), CSV or JSON (streamed)."""
    require(actor, POLICY_RESOURCE, DOWNLOAD)
    stem = f"audit-report-{where.start:%Y%m%dT%H%M%S}-{where.end:%Y%m%dT%H%M%S}"
    if output == ReportOutput.PDF:
        return _audit_pdf(actor, where, stem)
    with transaction.atomic():
        event = _record(actor, "audit", output, period_and_filters=where.as_dict())
    head_sequence, head_hash = event.sequence - 1, event.prev_hash
    events = selectors.audit_events_for_report(where=where, up_to_sequence=head_sequence)
    meta = _audit_meta(where, head_sequence, head_hash, event)
    if output == ReportOutput.CSV:
        chunks = _csv_chunks(AUDIT_COLUMNS, _audit_csv_rows(events))
    else:
        chunks = _audit_json_chunks(meta, selectors.audit_summary(events), events)
    return _report_file(f"{stem}.{output}", output, (head_sequence, head_hash), event, chunks=chunks)


def _audit_pdf(actor: Actor, where: AuditFilter, stem: str) -> ReportFile:
    # The verification walks the whole chain (it cannot start mid-chain); its head bounds the report.
    verification = audit_verify_chain()
    head_sequence, head_hash = verification.head_sequence, verification.head_hash
    events = selectors.audit_events_for_report(where=where, up_to_sequence=head_sequence)
    summary = selectors.audit_summary(events)
    cap = settings.REPORT_PDF_MAX_EVENTS
    printed = [_event_row(row) for row in selectors.audit_event_rows(events[:cap])]
    created = timezone.now()
    context = {
        "report": _footer(actor, created, head_sequence, head_hash),
        "period": where.as_dict(),
        "summary": summary,
        "events": printed,
        "truncated": summary["count"] > len(printed),
        "cap": cap,
        "verification": verification.as_dict(),
    }
    from governance.rendering import render_pdf  # WeasyPrint: 1.7 s to import, only when rendering

    pdf = render_pdf(AUDIT_TEMPLATE, context, title="Audit report", created=created)
    sha256 = hashlib.sha256(pdf).hexdigest()
    with transaction.atomic():
        event = _record(
            actor,
            "audit",
            ReportOutput.PDF,
            period_and_filters=where.as_dict(),
            head=(head_sequence, head_hash),
            sha256=sha256,
            extra={"events": summary["count"], "chain_ok": verification.ok},
        )
    return _report_file(
        f"{stem}.pdf", ReportOutput.PDF, (head_sequence, head_hash), event, content=pdf, sha256=sha256
    )


def _event_row(row: tuple[Any, ...]) -> dict[str, Any]:
    values = dict(zip(AUDIT_COLUMNS, row, strict=True))
    values["timestamp"] = values["timestamp"].isoformat()
    values["payload"] = canonical_json(values["payload"])
    return values


def _audit_meta(where: AuditFilter, head_sequence: int, head_hash: str, event: AuditEvent) -> dict[str, Any]:
    return {
        "kind": "audit",
        "generated_at": event.timestamp.isoformat(),
        "requested_by": event.actor,
        "report_event": event.sequence,
        "period": {"start": where.start.isoformat(), "end": where.end.isoformat()},
        "filters": {k: v for k, v in where.as_dict().items() if k not in ("start", "end") and v},
        "chain_head": {"sequence": head_sequence, "hash": head_hash},
    }


def _audit_csv_rows(events: Any) -> Iterator[list[str]]:
    # Unpacked by position (the order of AUDIT_COLUMNS): this loop runs once per event of the export.
    for (
        sequence,
        moment,
        actor,
        action,
        object_type,
        object_id,
        payload,
        prev_hash,
        hash_,
    ) in selectors.audit_event_rows(events):
        yield [
            str(sequence),
            moment.isoformat(),
            _cell(actor),
            _cell(action),
            _cell(object_type),
            _cell(object_id),
            canonical_json(payload),  # an object: starts with "{", never read as a formula
            prev_hash,
            hash_,
        ]


def _audit_json_chunks(meta: dict[str, Any], summary: dict[str, Any], events: Any) -> Iterator[bytes]:
    # One valid JSON document, written piece by piece: the head and summary, the events, then the count.
    head = json.dumps({"report": meta, "summary": summary}, ensure_ascii=False)
    yield (head[:-1] + ', "events": [').encode()
    count = 0
    batch: list[str] = []
    for row in selectors.audit_event_rows(events):
        values = _event_row(row)
        values["payload"] = row[AUDIT_COLUMNS.index("payload")]  # the object itself, not its JSON text
        batch.append(json.dumps(values, ensure_ascii=False))
        count += 1
        if len(batch) == 500:
            yield _json_batch(batch, first=count == len(batch))
            batch = []
    if batch:
        yield _json_batch(batch, first=count == len(batch))
    yield f'], "events_count": {count}}}'.encode()


def _json_batch(items: list[str], *, first: bool) -> bytes:
    return (("" if first else ",") + ",".join(items)).encode()


# --- The DPIA report -------------------------------------------------------------------------------


def report_dpia_generate(*, actor: Actor, dpia: DPIA) -> ReportFile:
    """The DPIA after the CNIL PIA structure, with its risk map, as a PDF."""
    require(actor, POLICY_RESOURCE, DOWNLOAD)
    head_sequence, head_hash = audit_chain_head()
    created = timezone.now()
    context = {
        "report": _footer(actor, created, head_sequence, head_hash),
        "dpia": dpia,
        "datasets": sorted(d.name for d in dpia.datasets.all()),
        "risks": dpia_risks(dpia),
        "risk_map": dpia_risk_map(dpia),
    }
    from governance.rendering import render_pdf

    pdf = render_pdf(DPIA_TEMPLATE, context, title=f"DPIA report: {dpia.title}", created=created)
    sha256 = hashlib.sha256(pdf).hexdigest()
    with transaction.atomic():
        event = _record(
            actor, "dpia", ReportOutput.PDF, obj=dpia, head=(head_sequence, head_hash), sha256=sha256
        )
    return _report_file(
        f"dpia-{dpia.pk}-report.pdf",
        ReportOutput.PDF,
        (head_sequence, head_hash),
        event,
        content=pdf,
        sha256=sha256,
    )


def dpia_risks(dpia: DPIA) -> list[dict[str, str]]:
    """The three CNIL risks with their code, likelihood and severity ("" when not assessed)."""
    return [
        {
            "key": risk,
            "code": RISK_CODES[risk],
            "name": RISK_NAMES[risk],
            "likelihood": getattr(dpia, f"{risk}_likelihood"),
            "severity": getattr(dpia, f"{risk}_severity"),
        }
        for risk in RISKS
    ]


def dpia_risk_map(dpia: DPIA) -> list[dict[str, Any]]:
    """The 4x4 map, severity rows from maximum down, likelihood columns from negligible up; each cell
    lists the codes of the risks placed in it and a zone (low, medium, high) for its shading."""
    placed = [r for r in dpia_risks(dpia) if r["likelihood"] and r["severity"]]
    rows = []
    for severity in reversed(LEVELS):
        cells = []
        for likelihood in LEVELS:
            score = LEVELS.index(severity) + LEVELS.index(likelihood)
            codes = [r["code"] for r in placed if (r["severity"], r["likelihood"]) == (severity, likelihood)]
            zone = "high" if score >= 4 else "medium" if score >= 2 else "low"
            cells.append({"likelihood": likelihood, "codes": codes, "zone": zone})
        rows.append({"severity": severity, "cells": cells})
    return rows


# --- Records of processing (GDPR Art. 30) ----------------------------------------------------------


def report_records_of_processing_generate(*, actor: Actor, output: str) -> ReportFile:
    """The Art. 30 records from the governance registers, as CSV, JSON or PDF."""
    require(actor, POLICY_RESOURCE, DOWNLOAD)
    rows = selectors.processing_records()
    head_sequence, head_hash = audit_chain_head()
    created = timezone.now()
    stem = f"records-of-processing-{created:%Y%m%d}"
    if output == ReportOutput.PDF:
        context = {"report": _footer(actor, created, head_sequence, head_hash), "rows": rows}
        from governance.rendering import render_pdf

        content = render_pdf(RECORDS_TEMPLATE, context, title="Records of processing", created=created)
    elif output == ReportOutput.CSV:
        content = b"".join(_csv_chunks(RECORDS_COLUMNS, (_records_csv_row(row) for row in rows)))
    else:
        meta = {
            "kind": "records_of_processing",
            "generated_at": created.isoformat(),
            "chain_head": {"sequence": head_sequence, "hash": head_hash},
        }
        content = json.dumps({"report": meta, "records": rows}, ensure_ascii=False).encode()
    sha256 = hashlib.sha256(content).hexdigest()
    with transaction.atomic():
        event = _record(
            actor,
            "records_of_processing",
            output,
            head=(head_sequence, head_hash),
            sha256=sha256,
            extra={"rows": len(rows)},
        )
    return _report_file(
        f"{stem}.{output}", output, (head_sequence, head_hash), event, content=content, sha256=sha256
    )


def _records_csv_row(row: dict[str, Any]) -> list[str]:
    categories = "; ".join(f"{c['name']} ({c['count']})" for c in row["personal_data_categories"])
    values = {**row, "personal_data_categories": categories}
    values["contains_personal_data"] = "yes" if row["contains_personal_data"] else "no"
    return [_cell(values[column]) for column in RECORDS_COLUMNS]


# --- Shared ----------------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def _csv_chunks(columns: Iterable[str], rows: Iterable[list[str]], *, batch: int = 500) -> Iterator[bytes]:
    writer = csv.writer(_Echo())
    yield writer.writerow(list(columns)).encode()
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow(row))
        if len(lines) == batch:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


def _cell(value: Any) -> str:
    text = "" if value is None else canonical_json(value) if isinstance(value, dict | list) else str(value)
    # Prefix a would-be formula so a spreadsheet shows it as text (the JSON export keeps exact values).
    return "'" + text if text.startswith(_FORMULA_START) else text


def _footer(actor: Actor, created: datetime, head_sequence: int, head_hash: str) -> dict[str, Any]:
    return {
        "generated_at": created.isoformat(timespec="seconds"),
        "requested_by": actor_name(actor),
        "chain_head": {"sequence": head_sequence, "hash": head_hash},
    }


def _record(
    actor: Actor,
    kind: str,
    output: str,
    *,
    obj: models.Model | None = None,
    period_and_filters: dict[str, str] | None = None,
    head: tuple[int, str] | None = None,
    sha256: str = "",
    extra: dict[str, Any] | None = None,
) -> AuditEvent:
    payload: dict[str, Any] = {"kind": kind, "output": str(output)}
    if period_and_filters is not None:
        payload["period"] = {"start": period_and_filters["start"], "end": period_and_filters["end"]}
        payload["filters"] = {k: v for k, v in period_and_filters.items() if k not in ("start", "end") and v}
    if head is not None:
        payload["chain_head"] = {"sequence": head[0], "hash": head[1]}
    if sha256:
        payload["sha256"] = sha256
    payload.update(extra or {})
    if obj is not None:
        return audit_record(actor=actor, action=GENERATED, obj=obj, payload=payload)
    return audit_record(actor=actor, action=GENERATED, object_type="report", object_id=kind, payload=payload)
