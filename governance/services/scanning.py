"""PII scan of a dataset version: streams the stored file in batches and resumes where it stopped."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance import claim, pii, suppression
from governance.choices import DatasetVersionStatus
from governance.jsonl import record_text
from governance.models import Dataset, DatasetRecord, DatasetVersion
from governance.pii import processes as processes_module
from governance.services.audit import audit_record
from governance.services.datasets import (
    dataset_version_path,
    records_summary,
    renumber_records_without,
    write_without_records,
)

logger = logging.getLogger(__name__)


def dataset_version_claim_scan(*, version_id: int) -> bool:
    """Claim a version for scanning: a redelivery stands down beside a live owner, resumes a dead one's."""
    return (
        claim.claim_row(
            DatasetVersion,
            version_id,
            claimable_statuses=[DatasetVersionStatus.PENDING, DatasetVersionStatus.SCANNING],
            running_status=DatasetVersionStatus.SCANNING,
            on_exhausted=_exhausted,
            scan_started_at=timezone.now(),
        )
        is not None
    )


def _exhausted(version_id: int, attempts: int) -> None:
    _finish_failed(
        version_id,
        f"worker_lost (the worker stopped during each of {attempts} attempts; CLAIM_MAX_ATTEMPTS)",
        held=False,
    )


class ClaimLost(Exception):
    """Another worker took the scan over (ours was thought dead); stop without writing anything."""


def _batches(version: DatasetVersion, start: int, size: int) -> Iterator[tuple[int, list[str]]]:
    """Yield (first ordinal, texts) for each batch of records from `start` on."""
    if start >= version.record_count:
        return  # resumed after the last batch was stored: nothing left to scan, only to finish
    offset = 0
    if start:
        offset = DatasetRecord.objects.get(version=version, ordinal=start).byte_offset
    with open(dataset_version_path(version), "rb") as handle:
        handle.seek(offset)
        batch: list[str] = []
        first = start
        for line in handle:
            batch.append(record_text(json.loads(line)))
            if len(batch) == size:
                yield first, batch
                first, batch = first + size, []
        if batch:
            yield first, batch


def scan_processes(remaining: int) -> int:
    """Scanner processes for `remaining` records: 0 (scan in this process) unless enough are left.

    A scanner process takes 2-3 s to start, which a few thousand records repay on two cores.
    """
    processes = int(settings.DATASET_SCAN_PROCESSES) or processes_module.usable_cores()
    if processes < 2 or remaining < int(settings.DATASET_SCAN_PARALLEL_MIN_RECORDS):
        return 0
    return min(processes, -(-remaining // int(settings.DATASET_SCAN_BATCH)))


@contextmanager
def _scanned_batches(version: DatasetVersion) -> Iterator[Iterator[tuple[int, list[pii.ScanResult]]]]:
    """(first ordinal, results) per batch from the resume point on, in order: here or in scanner processes."""
    batches = _batches(version, version.scanned_records, settings.DATASET_SCAN_BATCH)
    processes = scan_processes(version.record_count - version.scanned_records)
    if not processes:
        yield ((first, pii.scan_texts(texts)) for first, texts in batches)
        return
    logger.info("scan of dataset version %s runs in %d scanner processes", version.pk, processes)
    with processes_module.ScannerPool(processes) as pool:
        yield pool.scan(batches)


# The table name comes from the model; every value is a query parameter.
_UPDATE_SQL = f"""
    UPDATE {DatasetRecord._meta.db_table} AS r
       SET subject_keys = ARRAY(SELECT jsonb_array_elements_text(v.keys)), pii_summary = v.summary
      FROM unnest(%s::int[], %s::jsonb[], %s::jsonb[]) AS v(ordinal, keys, summary)
     WHERE r.version_id = %s AND r.ordinal = v.ordinal
"""  # noqa: S608


@transaction.atomic
def _store_batch(version: DatasetVersion, first: int, results: list[pii.ScanResult], total: Counter) -> None:
    # The heartbeat doubles as the fence: if another worker took the scan over, nothing is written.
    if not claim.heartbeat(
        DatasetVersion, [version.pk], scanned_records=first + len(results), pii_summary=dict(total)
    ):
        raise ClaimLost
    ordinals = list(range(first, first + len(results)))
    keys = [json.dumps(r.subject_keys()) for r in results]
    summaries = [json.dumps(r.summary()) for r in results]
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_SQL, [ordinals, keys, summaries, version.pk])


def dataset_version_scan(*, version_id: int) -> DatasetVersion:
    """Scan every record for PII, store keys per record, then mark the version ready (or failed)."""
    version = DatasetVersion.objects.select_related("dataset").get(pk=version_id)
    total: Counter[str] = Counter(version.pii_summary or {})
    try:
        with _scanned_batches(version) as scanned:
            for first, results in scanned:
                # The scan itself runs outside any transaction; each batch commits on its own, in order,
                # so `scanned_records` is always a resumable cursor.
                for result in results:
                    total.update(result.summary())
                _store_batch(version, first, results, total)
    except ClaimLost:
        logger.warning("scan of dataset version %s was taken over by another worker", version_id)
        return DatasetVersion.objects.get(pk=version_id)
    except Exception as exc:
        logger.exception("scan of dataset version %s failed", version_id)
        return _finish_failed(version_id, type(exc).__name__)
    return _finish_ready(version_id, dict(total))


@transaction.atomic
def _finish_ready(version_id: int, summary: dict[str, int]) -> DatasetVersion:
    version = DatasetVersion.objects.select_for_update().get(pk=version_id)
    if version.status != DatasetVersionStatus.SCANNING or not claim.is_mine(version):
        return version  # someone else finished it first, or took it over from us
    dropped = _drop_suppressed(version)
    if dropped:
        summary = records_summary(version)[0]
    if not version.record_count:
        version.save()
        return _finish_failed(version_id, "every record carries a suppressed subject key")
    version.status = DatasetVersionStatus.READY
    version.pii_summary = summary
    version.contains_personal_data = bool(summary)
    version.scan_finished_at = timezone.now()
    version.save()
    if version.contains_personal_data:
        # Raised, never lowered: one clean version does not make the dataset free of personal data.
        Dataset.objects.filter(pk=version.dataset_id).update(contains_personal_data=True)
    audit_record(
        actor=None,
        action="dataset_version.scanned",
        obj=version,
        payload={
            "pii_summary": summary,
            "records": version.record_count,
            "contains_personal_data": version.contains_personal_data,
            "suppressed_records": version.suppressed_records,
        },
    )
    return version


def _drop_suppressed(version: DatasetVersion) -> int:
    """Drop the records carrying a suppressed subject key (an earlier erasure request's) from the version.

    The version is not ready yet, so it is still being formed: its file, hashes, record rows, counts
    and hold-out count are written again without those records, and how many were dropped is kept in
    `suppressed_records`. Every kept record keeps its split. Runs in the finishing transaction.
    """
    if not suppression.any_suppressed():
        return 0
    records = DatasetRecord.objects.filter(version=version)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT unnest(subject_keys) FROM {DatasetRecord._meta.db_table} WHERE version_id = %s",  # noqa: S608
            [version.pk],
        )
        blocked = suppression.suppressed(str(key) for (key,) in cursor.fetchall())
    if not blocked:
        return 0
    drop = set(records.filter(subject_keys__overlap=sorted(blocked)).values_list("ordinal", flat=True))
    old_path = dataset_version_path(version)
    written = write_without_records(version, drop, number=version.number)
    kept = renumber_records_without(version, drop)
    if kept != written.kept:
        raise RuntimeError(f"dataset version {version.pk}: {kept} record rows for {written.kept} lines")
    version.file, version.sha256, version.size_bytes = str(written.relative), written.sha256, written.size
    version.record_count = version.scanned_records = written.kept
    version.holdout_count = records_summary(version)[1]
    version.suppressed_records += len(drop)
    if old_path != dataset_version_path(version):
        transaction.on_commit(lambda: old_path.unlink(missing_ok=True))
    return len(drop)


@transaction.atomic
def _finish_failed(version_id: int, error: str, *, held: bool = True) -> DatasetVersion:
    version = DatasetVersion.objects.select_for_update().get(pk=version_id)
    if version.status in (DatasetVersionStatus.READY, DatasetVersionStatus.FAILED):
        return version
    if held and not claim.is_mine(version):
        return version  # another worker took the scan over; its outcome stands
    version.status = DatasetVersionStatus.FAILED
    # Only the exception's class: its message could quote the record that broke the scanner.
    version.scan_error = f"scan failed: {error}"
    version.scan_finished_at = timezone.now()
    version.save()
    audit_record(actor=None, action="dataset_version.scan_failed", obj=version, payload={"error": error})
    return version
