"""The datasets side of an erasure request (DESIGN section 9): versions are rewritten, never edited.

A dataset version is immutable, so a version holding the subject's records is replaced: a child
version is written without those records (same seed and fraction, so every kept record keeps its
split), and the old version becomes `erased`: its file is deleted, its record rows stay with hashes
and subject keys only, which is what training's participant needs to taint the adapters trained on it.

The export (access and portability requests) reads the records erase would remove, from every version
that still holds them (the file of an erased version is gone), each parsed from its version's file.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance.choices import DatasetVersionStatus
from governance.models import Dataset, DatasetRecord, DatasetVersion
from governance.participants import ErasureParticipant, ErasureScope, NameOnlyMatch, ParticipantNotReady
from governance.services.audit import audit_record
from governance.services.datasets import (
    copy_records_without,
    dataset_version_path,
    records_summary,
    write_without_records,
)
from governance.services.processing_contexts import dataset_context, unique

KIND = "dataset_record"
COUNT_NAMES = ("dataset_versions_replaced", "records_removed")
UNSCANNED = (DatasetVersionStatus.PENDING, DatasetVersionStatus.SCANNING)


def _subject_records(scope: ErasureScope) -> Q:
    """The records that are the subject's: any of their keys, or a confirmed name-only record."""
    query = Q(subject_keys__overlap=list(scope.keys)) if scope.keys else Q(pk__in=[])
    confirmed = scope.confirmed_ids(KIND)
    if confirmed:
        query |= Q(pk__in=confirmed)
    return query


def _require_scanned() -> None:
    # Any record of a version not scanned yet could be the subject's: its keys are not known.
    waiting = sorted(DatasetVersion.objects.filter(status__in=UNSCANNED).values_list("pk", flat=True))
    if waiting:
        raise ParticipantNotReady(f"dataset versions {waiting} are still being scanned")


def _ordinals_by_version(scope: ErasureScope) -> dict[int, set[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    rows = (
        DatasetRecord.objects.filter(_subject_records(scope))
        .exclude(version__status=DatasetVersionStatus.ERASED)
        .values_list("version_id", "ordinal")
    )
    for version_id, ordinal in rows.iterator(chunk_size=10_000):
        found[version_id].add(ordinal)
    return found


def find(scope: ErasureScope) -> dict[str, Any]:
    """How many versions would be replaced and records removed; name-only records for the officer."""
    _require_scanned()
    found = _ordinals_by_version(scope)
    name_only: list[NameOnlyMatch] = []
    if scope.name_keys:
        rows = (
            DatasetRecord.objects.filter(subject_keys__overlap=list(scope.name_keys))
            .exclude(_subject_records(scope))
            .exclude(version__status=DatasetVersionStatus.ERASED)
            .select_related("version__dataset")
            .order_by("version_id", "ordinal")
        )
        name_only = [
            NameOnlyMatch(
                kind=KIND,
                object_id=r.pk,
                label=f"dataset '{r.version.dataset.name}' v{r.version.number} record #{r.ordinal}",
            )
            for r in rows
        ]
    return {
        "counts": {
            "dataset_versions_replaced": len(found),
            "records_removed": sum(len(ordinals) for ordinals in found.values()),
        },
        "name_only": name_only,
    }


@transaction.atomic
def erase(scope: ErasureScope) -> dict[str, Any]:
    """Replace every version holding the subject's records; the old ones become `erased`.

    Runs inside the orchestrator's transaction: the new files are written under their final names
    before the commit (a rollback leaves an unreferenced file that holds none of the subject's
    records), the replaced files are deleted only after it.
    """
    _require_scanned()
    _lock_datasets(scope)
    found = _ordinals_by_version(scope)
    replaced: list[dict[str, int]] = []
    for version_id in sorted(found):
        old = DatasetVersion.objects.select_related("dataset").get(pk=version_id)
        new = _replace(old, found[version_id], scope) if old.status == DatasetVersionStatus.READY else None
        _mark_erased(old, scope, replacement=new, removed=len(found[version_id]))
        replaced.append({"old": old.pk, "new": new.pk if new else 0, "removed": len(found[version_id])})
    return {
        "counts": {
            "dataset_versions_replaced": len(replaced),
            "records_removed": sum(item["removed"] for item in replaced),
        },
        "versions": replaced,
        "erased_files": [str(DatasetVersion.objects.get(pk=v["old"]).file) for v in replaced],
    }


def _lock_datasets(scope: ErasureScope) -> None:
    """Lock the datasets holding the subject's records before reading which versions hold them.

    Retention (governance/services/retention.py) rewrites a dataset under the same row lock, so an
    erasure and a retention run on one dataset take turns: the second waits here, then reads the
    versions the first one left, never a version the first one has just replaced (and whose file is gone).
    """
    holding = (
        DatasetRecord.objects.filter(_subject_records(scope))
        .exclude(version__status=DatasetVersionStatus.ERASED)
        .values("version__dataset_id")
    )
    list(
        Dataset.objects.select_for_update().filter(pk__in=holding).order_by("pk").values_list("pk", flat=True)
    )


def _replace(old: DatasetVersion, drop: set[int], scope: ErasureScope) -> DatasetVersion:
    """Write the child version without `drop`; it is ready at once, carrying the parent's scan."""
    locked = Dataset.objects.select_for_update().get(pk=old.dataset_id)  # serialises version numbering
    last = locked.versions.order_by("-number").first()
    number = last.number + 1 if last else 1
    written = write_without_records(old, drop, number=number)
    now = timezone.now()
    new = DatasetVersion.objects.create(
        dataset=locked,
        number=number,
        file=str(written.relative),
        sha256=written.sha256,
        # Nothing was uploaded: the source of this version is its parent's stored file.
        source_sha256=old.sha256,
        size_bytes=written.size,
        record_count=written.kept,
        duplicates_removed=0,
        holdout_fraction=old.holdout_fraction,
        split_seed=old.split_seed,
        holdout_count=0,
        record_format=old.record_format,
        parent=old,
        reason=f"erasure request {scope.reference}",
        # The kept records are byte-identical to the parent's, whose scan found their keys: no rescan.
        status=DatasetVersionStatus.READY,
        scanned_records=written.kept,
        scan_started_at=now,
        scan_finished_at=now,
    )
    copied = copy_records_without(old, new, drop)
    if copied != written.kept:
        raise RuntimeError(f"dataset version {old.pk}: {copied} record rows for {written.kept} lines")
    new.pii_summary, new.holdout_count = records_summary(new)
    new.contains_personal_data = bool(new.pii_summary)
    new.save(update_fields=["pii_summary", "holdout_count", "contains_personal_data"])
    audit_record(
        actor=None,
        action="dataset_version.created",
        obj=new,
        payload={
            "dataset": old.dataset_id,
            "number": number,
            "sha256": written.sha256,
            "records": written.kept,
            "holdout": new.holdout_count,
            "holdout_fraction": new.holdout_fraction,
            "split_seed": new.split_seed,
            "parent": old.pk,
            "records_removed": len(drop),
            "erasure_request": scope.request_id,
        },
    )
    return new


def _mark_erased(
    old: DatasetVersion, scope: ErasureScope, *, replacement: DatasetVersion | None, removed: int
) -> None:
    old.status = DatasetVersionStatus.ERASED
    old.erased_at = timezone.now()
    old.erasure_reference = scope.reference
    old.save(update_fields=["status", "erased_at", "erasure_reference"])
    path = dataset_version_path(old)
    transaction.on_commit(lambda: path.unlink(missing_ok=True))
    audit_record(
        actor=None,
        action="dataset_version.erased",
        obj=old,
        payload={
            "erasure_request": scope.request_id,
            "records_removed": removed,
            "replaced_by": replacement.pk if replacement else None,
        },
    )


def purge(scope: ErasureScope, erased: dict[str, Any]) -> dict[str, Any]:
    """Delete any erased version's file still on disk (the commit hook may not have run); idempotent."""
    deleted = 0
    files = set(erased.get("erased_files", []))
    files.update(
        DatasetVersion.objects.filter(status=DatasetVersionStatus.ERASED).values_list("file", flat=True)
    )
    for relative in sorted(files):
        path = Path(settings.MEDIA_ROOT) / relative
        if path.exists():
            path.unlink(missing_ok=True)
            deleted += 1
    return {"dataset_files_deleted": deleted}


def verify(scope: ErasureScope) -> dict[str, Any]:
    """Nothing of the subject is left in any dataset version that can still be read.

    Checks, in this order: no record of a non-erased version carries the subject's keys (or is a
    confirmed name-only record); no erased version's file is on disk; and, when the raw identifiers
    are given, none occurs (case-insensitive) in the files of the non-erased versions of the datasets
    the subject's records were in. The text search covers those datasets only, not every dataset: a
    record the scanner did not key to the subject, in a dataset where no keyed record of them ever
    was, is outside what it can find. A hit inside a record the officer left as a name-only match
    (another person of the same name) is reported, not failed.
    """
    remaining = (
        DatasetRecord.objects.filter(_subject_records(scope))
        .exclude(version__status=DatasetVersionStatus.ERASED)
        .count()
    )
    files_left = sorted(
        v.pk
        for v in DatasetVersion.objects.filter(status=DatasetVersionStatus.ERASED)
        if dataset_version_path(v).exists()
    )
    affected = sorted(
        set(
            DatasetRecord.objects.filter(_subject_records(scope)).values_list(
                "version__dataset_id", flat=True
            )
        )
    )
    text_hits: dict[int, int] = {}
    name_only_hits = 0
    needles = [value.lower() for value in scope.identifiers if value]
    if needles:
        versions = DatasetVersion.objects.filter(dataset_id__in=affected).exclude(
            status=DatasetVersionStatus.ERASED
        )
        for version in versions:
            hits, excused = _text_hits(version, needles, scope)
            if hits:
                text_hits[version.pk] = hits
            name_only_hits += excused
    return {
        "ok": not remaining and not files_left and not text_hits,
        "records_with_keys": remaining,
        "erased_files_left": files_left,
        "datasets_searched": len(affected),
        "text_hits": {str(k): v for k, v in sorted(text_hits.items())},
        "name_only_text_hits": name_only_hits,
    }


def _text_hits(version: DatasetVersion, needles: list[str], scope: ErasureScope) -> tuple[int, int]:
    """(lines holding an identifier, of which in records left as name-only matches) of one file."""
    path = dataset_version_path(version)
    if not path.exists():
        return 0, 0
    excused: set[int] = set()
    if scope.name_keys:
        excused = set(
            DatasetRecord.objects.filter(version=version, subject_keys__overlap=list(scope.name_keys))
            .exclude(_subject_records(scope))
            .values_list("ordinal", flat=True)
        )
    hits = name_only = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for ordinal, line in enumerate(handle):
            lowered = line.lower()  # str.lower: non-ASCII letters fold too
            if any(needle in lowered for needle in needles):
                if ordinal in excused:
                    name_only += 1
                else:
                    hits += 1
    return hits, name_only


def export(scope: ErasureScope) -> dict[str, Any]:
    """The subject's records, as stored, in every version still holding them; reads only.

    Like erase, it waits for every scan (ParticipantNotReady): an unscanned record may be theirs.
    """
    _require_scanned()
    found = _ordinals_by_version(scope)
    items: list[dict[str, Any]] = []
    contexts: list[dict[str, Any]] = []
    versions = DatasetVersion.objects.select_related("dataset").prefetch_related("dataset__ai_systems")
    for version in versions.filter(pk__in=list(found)).order_by("dataset__name", "number"):
        records = DatasetRecord.objects.filter(version=version, ordinal__in=found[version.pk])
        items += _record_items(version, list(records.order_by("ordinal")))
        contexts.append(dataset_context(version.dataset))
    return {"items": items, "processing": unique(contexts)}


def _record_items(version: DatasetVersion, records: list[DatasetRecord]) -> list[dict[str, Any]]:
    """One item per record, its JSON line read at its offset and checked against its sha256."""
    path = dataset_version_path(version)
    lines: dict[int, bytes | None] = {}
    if path.exists():
        with path.open("rb") as handle:
            for record in records:
                handle.seek(record.byte_offset)
                read = handle.readline().rstrip(b"\n")
                lines[record.ordinal] = read if hashlib.sha256(read).hexdigest() == record.sha256 else None
    items = []
    for record in records:
        line = lines.get(record.ordinal)
        items.append(
            {
                "kind": KIND,
                "id": record.pk,
                "portable": True,
                "dataset": version.dataset.name,
                "dataset_id": version.dataset_id,
                "version": version.number,
                "version_id": version.pk,
                "split": record.split,
                "ordinal": record.ordinal,
                "pii_types": sorted(record.pii_summary or {}),
                # None only where the stored file is missing or no longer matches the register's hash.
                "record": json.loads(line) if line is not None else None,
            }
        )
    return items


participant = ErasureParticipant(
    name="datasets",
    find=find,
    erase=erase,
    purge=purge,
    verify=verify,
    order=10,
    count_names=COUNT_NAMES,
    export=export,
)
