"""Write services for datasets and their immutable versions."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from array import array
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance.choices import RecordSplit
from governance.enqueue import enqueue_on_commit
from governance.errors import Conflict, TooLarge, ValidationFailed
from governance.jsonl import (
    RecordError,
    RecordInvalid,
    canonical,
    invalid_file,
    iter_lines,
    parse_line,
    record_format,
)
from governance.models import Dataset, DatasetRecord, DatasetVersion
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from governance.services.common import save_unique

DATASET_FIELDS = ("name", "purpose", "legal_basis", "provenance", "retention_until", "owner")
MAX_REPORTED_ERRORS = 50


def _check_retention(value: Any) -> None:
    """A retention date already past is refused: the data would be unlawfully kept from the start."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date) and value < timezone.localdate():
        raise ValidationFailed(
            "retention_until is in the past: data past its retention may not be kept",
            code="retention_in_past",
            details={"field": "retention_until"},
        )


@transaction.atomic
def dataset_create(*, actor: User, ai_systems: list[Any] | None = None, **fields: Any) -> Dataset:
    """Register a dataset."""
    _check_retention(fields.get("retention_until"))
    dataset = Dataset(
        created_by=user_or_none(actor), **{k: v for k, v in fields.items() if k in DATASET_FIELDS}
    )
    if fields.get("contains_personal_data"):
        dataset.contains_personal_data = True
    dataset.full_clean()
    save_unique(dataset)
    if ai_systems:
        dataset.ai_systems.set(ai_systems)
    audit_record(
        actor=actor,
        action="dataset.created",
        obj=dataset,
        payload={
            "purpose": dataset.purpose,
            "legal_basis": dataset.legal_basis,
            "ai_systems": sorted(s.pk for s in ai_systems or []),
        },
    )
    return dataset


@transaction.atomic
def dataset_update(*, actor: User, dataset: Dataset, **fields: Any) -> Dataset:
    """Change a dataset's description. contains_personal_data can be raised here, never lowered."""
    changed = sorted(k for k in DATASET_FIELDS if k in fields and getattr(dataset, k) != fields[k])
    if "retention_until" in changed:
        _check_retention(fields["retention_until"])
    for key in changed:
        setattr(dataset, key, fields[key])
    if "contains_personal_data" in fields:
        if not fields["contains_personal_data"] and dataset.contains_personal_data:
            raise Conflict("contains_personal_data cannot be lowered", code="personal_data_flag_cannot_lower")
        if fields["contains_personal_data"] and not dataset.contains_personal_data:
            dataset.contains_personal_data = True
            changed.append("contains_personal_data")
    if "ai_systems" in fields:
        dataset.ai_systems.set(fields["ai_systems"])
        changed.append("ai_systems")
    if not changed:
        return dataset
    dataset.full_clean()
    save_unique(dataset)
    audit_record(actor=actor, action="dataset.updated", obj=dataset, payload={"changed": sorted(changed)})
    return dataset


@dataclass
class _Parsed:
    """What a pass over an upload produced: the normalised file and one entry per kept record."""

    path: Path
    sha256: str
    source_sha256: str
    size: int
    hashes: list[str] = field(default_factory=list)
    offsets: array = field(default_factory=lambda: array("q"))
    duplicates: int = 0
    formats: set[str] = field(default_factory=set)


def validate_filename(name: str) -> None:
    """Refuse names that try to walk the filesystem or smuggle control characters."""
    if not name or "\x00" in name or "/" in name or "\\" in name or name in {".", ".."} or ".." in name:
        raise ValidationFailed(
            "the file name must be a plain name without path parts", code="invalid_filename"
        )
    if not all(ch.isprintable() for ch in name):
        raise ValidationFailed("the file name contains control characters", code="invalid_filename")


def validate_holdout(fraction: float) -> float:
    """The hold-out must be a finite fraction between 10% and 20%."""
    if not isinstance(fraction, int | float) or not 0.1 <= float(fraction) <= 0.2:
        raise ValidationFailed(
            "holdout_fraction must be between 0.1 and 0.2",
            code="invalid_holdout_fraction",
            details={"field": "holdout_fraction", "allowed": [0.1, 0.2]},
        )
    return float(fraction)


def _parse_upload(stream: IO[bytes], size: int) -> _Parsed:
    if size > settings.DATASET_MAX_BYTES:
        raise TooLarge(
            f"the file is {size} bytes; the limit is {settings.DATASET_MAX_BYTES}",
            code="file_too_large",
            details={"limit_bytes": settings.DATASET_MAX_BYTES},
        )
    work_dir = Path(settings.MEDIA_ROOT) / "datasets" / "incoming"
    work_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(suffix=".jsonl", dir=work_dir)
    parsed = _Parsed(path=Path(name), sha256="", source_sha256="", size=0)
    try:
        with os.fdopen(handle, "wb") as out:
            _write_normalised(stream, out, parsed)
    except BaseException:
        parsed.path.unlink(missing_ok=True)
        raise
    return parsed


def _write_normalised(stream: IO[bytes], out: IO[bytes], parsed: _Parsed) -> None:
    source_hash, stored_hash = hashlib.sha256(), hashlib.sha256()
    seen: set[bytes] = set()
    errors: list[RecordError] = []
    stream.seek(0)
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        source_hash.update(chunk)
    stream.seek(0)
    offset = 0
    for number, raw in iter_lines(stream, max_line_bytes=settings.DATASET_MAX_LINE_BYTES):
        try:
            record = parse_line(raw, line=number, max_depth=settings.DATASET_MAX_JSON_DEPTH)
        except RecordInvalid as exc:
            errors.append(RecordError(number, exc.field, exc.code, exc.message))
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
            continue
        if errors:
            continue  # keep validating to report more errors, but stop writing
        line = (canonical(record) + "\n").encode()
        digest = hashlib.sha256(line[:-1]).digest()
        if digest in seen:
            parsed.duplicates += 1
            continue
        seen.add(digest)
        if len(seen) > settings.DATASET_MAX_RECORDS:
            raise TooLarge(
                f"the file holds more than {settings.DATASET_MAX_RECORDS} records",
                code="too_many_records",
                details={"limit_records": settings.DATASET_MAX_RECORDS},
            )
        parsed.formats.add(record_format(record))
        parsed.hashes.append(digest.hex())
        parsed.offsets.append(offset)
        out.write(line)
        stored_hash.update(line)
        offset += len(line)
    if errors:
        raise invalid_file(errors)
    if not parsed.hashes:
        raise ValidationFailed("the file holds no records", code="empty_file")
    parsed.sha256, parsed.source_sha256, parsed.size = (
        stored_hash.hexdigest(),
        source_hash.hexdigest(),
        offset,
    )


def holdout_score(record_hash: str, *, seed: int) -> float:
    """A record's place in [0, 1), from sha256(seed:record hash) alone."""
    digest = hashlib.sha256(f"{seed}:{record_hash}".encode()).hexdigest()
    return int(digest[:16], 16) / 2**64


def holdout_ordinals(
    hashes: list[str], *, fraction: float, seed: int, parent: DatasetVersion | None = None
) -> set[int]:
    """The hold-out: each record on its own score, so removing others never moves it (DESIGN 9).

    A record is held out iff its score is below the fraction. A child version split with its parent's
    seed and fraction keeps the parent's split for every record the parent held, so a version rewritten
    without some records (erasure) never moves a hold-out record into training or back.
    """
    if len(hashes) < 2:
        return set()
    inherited = _parent_splits(hashes, parent, fraction=fraction, seed=seed)
    chosen: set[int] = set()
    fresh: list[int] = []
    for ordinal, digest in enumerate(hashes):
        if digest in inherited:
            if inherited[digest]:
                chosen.add(ordinal)
        else:
            fresh.append(ordinal)
            if holdout_score(digest, seed=seed) < fraction:
                chosen.add(ordinal)
    if not chosen and fresh:
        # A tiny upload may have no record under the threshold; hold out its lowest-scored new record
        # so it can still be evaluated. Records the parent held keep their split even then: a record
        # the parent trained on never becomes evaluation data.
        chosen.add(min(fresh, key=lambda i: holdout_score(hashes[i], seed=seed)))
    return chosen


def _parent_splits(
    hashes: list[str], parent: DatasetVersion | None, *, fraction: float, seed: int
) -> dict[str, bool]:
    """Record hash -> held out, for the records of the parent split the same way; empty otherwise."""
    if parent is None or parent.split_seed != seed or parent.holdout_fraction != fraction:
        return {}  # a new seed or fraction asks for a new split
    found: dict[str, bool] = {}
    rows = DatasetRecord.objects.filter(version=parent)
    for start in range(0, len(hashes), 10_000):
        chunk = rows.filter(sha256__in=hashes[start : start + 10_000]).values_list("sha256", "split")
        found.update((digest, split == RecordSplit.HOLDOUT) for digest, split in chunk)
    return found


def _copy_records(version: DatasetVersion, parsed: _Parsed, holdout: set[int]) -> None:
    table = DatasetRecord._meta.db_table
    columns = "(version_id, ordinal, sha256, split, byte_offset, subject_keys, pii_summary)"
    with connection.cursor() as cursor:
        # COPY: a million records load in seconds instead of minutes of INSERTs.
        with cursor.cursor.copy(f"COPY {table} {columns} FROM STDIN") as copy:  # type: ignore[attr-defined]
            for ordinal, digest in enumerate(parsed.hashes):
                split = RecordSplit.HOLDOUT if ordinal in holdout else RecordSplit.TRAIN
                copy.write_row((version.pk, ordinal, digest, split, parsed.offsets[ordinal], [], "{}"))


def dataset_version_create(
    *,
    actor: User,
    dataset: Dataset,
    stream: IO[bytes],
    filename: str,
    size: int,
    holdout_fraction: float | None = None,
    split_seed: int = 0,
    reason: str = "",
    parent: DatasetVersion | None = None,
) -> DatasetVersion:
    """Validate, normalise, de-duplicate and split an upload, then store it as the next version."""
    validate_filename(filename)
    fraction = validate_holdout(
        settings.DATASET_DEFAULT_HOLDOUT if holdout_fraction is None else holdout_fraction
    )
    parsed = _parse_upload(stream, size)  # slow I/O stays outside the transaction
    try:
        return _store_version(actor, dataset, parsed, fraction, split_seed, reason, parent)
    finally:
        parsed.path.unlink(missing_ok=True)


@transaction.atomic
def _store_version(
    actor: User,
    dataset: Dataset,
    parsed: _Parsed,
    fraction: float,
    seed: int,
    reason: str,
    parent: DatasetVersion | None,
) -> DatasetVersion:
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)  # serialises version numbering
    last = locked.versions.order_by("-number").first()
    number = last.number + 1 if last else 1
    relative = Path("datasets") / str(dataset.pk) / f"v{number}-{parsed.sha256[:12]}.jsonl"
    parent = parent or last
    holdout = holdout_ordinals(parsed.hashes, fraction=fraction, seed=seed, parent=parent)
    version = DatasetVersion.objects.create(
        dataset=locked,
        number=number,
        file=str(relative),
        sha256=parsed.sha256,
        source_sha256=parsed.source_sha256,
        size_bytes=parsed.size,
        record_count=len(parsed.hashes),
        duplicates_removed=parsed.duplicates,
        holdout_fraction=fraction,
        split_seed=seed,
        holdout_count=len(holdout),
        record_format="mixed" if len(parsed.formats) > 1 else parsed.formats.pop(),
        parent=parent,
        reason=reason,
        created_by=user_or_none(actor),
    )
    _copy_records(version, parsed, holdout)
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(parsed.path, target)
    enqueue_on_commit("governance.tasks.scan_dataset_version", version.pk)
    audit_record(
        actor=actor,
        action="dataset_version.created",
        obj=version,
        payload={
            "dataset": dataset.pk,
            "number": number,
            "sha256": parsed.sha256,
            "records": len(parsed.hashes),
            "duplicates_removed": parsed.duplicates,
            "holdout": len(holdout),
            "holdout_fraction": fraction,
            "split_seed": seed,
        },
    )
    return version


def dataset_version_path(version: DatasetVersion) -> Path:
    return Path(settings.MEDIA_ROOT) / version.file


@dataclass
class Rewritten:
    """A version's file written again without some records: where it is and what it hashes to."""

    relative: Path
    sha256: str
    size: int
    kept: int


def write_without_records(version: DatasetVersion, drop: set[int], *, number: int) -> Rewritten:
    """Copy a version's stored file without the records at `drop` (ordinals), byte for byte.

    The stored file is already normalised and de-duplicated, one record per line in ordinal order, so
    the kept lines are streamed as they are: no JSON is parsed or validated again and every kept
    record keeps its sha256. The new file is named like an upload's (`v<number>-<sha256[:12]>`).
    """
    source = dataset_version_path(version)
    directory = Path(settings.MEDIA_ROOT) / "datasets" / str(version.dataset_id)
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(suffix=".jsonl", dir=directory)
    digest, size, kept = hashlib.sha256(), 0, 0
    try:
        with source.open("rb") as src, os.fdopen(handle, "wb", buffering=1 << 20) as out:
            for ordinal, line in enumerate(src):
                if ordinal in drop:
                    continue
                out.write(line)
                digest.update(line)
                size += len(line)
                kept += 1
        sha = digest.hexdigest()
        relative = Path("datasets") / str(version.dataset_id) / f"v{number}-{sha[:12]}.jsonl"
        os.replace(name, Path(settings.MEDIA_ROOT) / relative)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Rewritten(relative=relative, sha256=sha, size=size, kept=kept)


_KEPT_ROWS_SQL = f"""
    SELECT ordinal, sha256, split, subject_keys, pii_summary,
           row_number() OVER (ORDER BY ordinal) - 1 AS new_ordinal,
           COALESCE(SUM(length) OVER (ORDER BY ordinal ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
               AS new_offset
      FROM (SELECT ordinal, sha256, split, subject_keys, pii_summary,
                   COALESCE(LEAD(byte_offset) OVER (ORDER BY ordinal), %s) - byte_offset AS length
              FROM {DatasetRecord._meta.db_table} WHERE version_id = %s) AS r
     WHERE NOT (ordinal = ANY(%s::int[]))
"""  # noqa: S608 - the table name comes from the model; every value is a parameter


def copy_records_without(source: DatasetVersion, target: DatasetVersion, drop: set[int]) -> int:
    """Copy the record rows of `source` into `target` without `drop`, renumbered, in one statement.

    Each row keeps its sha256, split, subject keys and PII summary; ordinals and byte offsets are
    recomputed from the lengths of the kept lines (the difference of neighbouring offsets), so they
    point into the file `write_without_records` wrote.
    """
    table = DatasetRecord._meta.db_table
    sql = f"""
        INSERT INTO {table} (version_id, ordinal, sha256, split, byte_offset, subject_keys, pii_summary)
        SELECT %s, new_ordinal, sha256, split, new_offset, subject_keys, pii_summary
          FROM ({_KEPT_ROWS_SQL}) AS kept
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [target.pk, source.size_bytes, source.pk, sorted(drop)])
        return int(cursor.rowcount)


def renumber_records_without(version: DatasetVersion, drop: set[int]) -> int:
    """Delete the rows at `drop` from a version still being formed and renumber the rest in place."""
    table = DatasetRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH kept AS ({_KEPT_ROWS_SQL})
            UPDATE {table} AS r SET ordinal = kept.new_ordinal + %s, byte_offset = kept.new_offset
              FROM kept WHERE r.version_id = %s AND r.ordinal = kept.ordinal
            """,  # noqa: S608
            # Shifted first: (version, ordinal) is unique and checked row by row while renumbering.
            [version.size_bytes, version.pk, sorted(drop), _SHIFT, version.pk],
        )
        kept = int(cursor.rowcount)
        cursor.execute(
            f"DELETE FROM {table} WHERE version_id = %s AND ordinal < %s",  # noqa: S608
            [version.pk, _SHIFT],
        )
        cursor.execute(
            f"UPDATE {table} SET ordinal = ordinal - %s WHERE version_id = %s",  # noqa: S608
            [_SHIFT, version.pk],
        )
    return kept


_SHIFT = 1_500_000_000  # above any ordinal (DATASET_MAX_RECORDS), below the integer column's limit


def records_summary(version: DatasetVersion) -> tuple[dict[str, int], int]:
    """(PII counts per entity type, hold-out count) summed over a version's record rows."""
    table = DatasetRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT e.key, SUM(e.value::bigint) FROM {table} AS r, jsonb_each_text(r.pii_summary) AS e
                 WHERE r.version_id = %s GROUP BY e.key""",  # noqa: S608
            [version.pk],
        )
        summary = {str(key): int(total) for key, total in cursor.fetchall() if total}
    holdout = DatasetRecord.objects.filter(version=version, split=RecordSplit.HOLDOUT).count()
    return summary, holdout
