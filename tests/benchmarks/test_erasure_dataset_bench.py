"""Erasure's new-version write against a plain upload of the same file (target: at least half as fast).

make bench PYTEST_ARGS="-k erasure_dataset"                 # 100,000 records, the subject in 50
ERASURE_BENCH_RECORDS=20000 make bench PYTEST_ARGS="-k erasure_dataset"
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from governance.choices import DatasetVersionStatus
from governance.models import DatasetRecord, DatasetVersion
from governance.participants import ErasureScope
from governance.services import datasets, erasure_datasets
from tests.factories import DatasetFactory, UserFactory

RECORDS = int(os.environ.get("ERASURE_BENCH_RECORDS", "100000"))
SUBJECT_RECORDS = 50
KEY = "k" * 64  # the subject's key, set on their records as a scan would
RESULTS = Path(__file__).resolve().parents[2] / "bench-results"


def _records(count: int) -> list[dict[str, str]]:
    return [
        {
            "input": f"Ticket {n}: the invoice for order {n * 7919} was charged twice.",
            "output": f"billing {n}",
        }
        for n in range(count)
    ]


@pytest.mark.django_db
def test_erasure_rewrites_a_version_at_least_half_as_fast_as_an_upload() -> None:
    payload = "".join(json.dumps(r) + "\n" for r in _records(RECORDS)).encode()
    user = UserFactory(username="bench")
    dataset: Any = DatasetFactory(owner=user)

    started = time.perf_counter()
    version = datasets.dataset_version_create(
        actor=user, dataset=dataset, stream=io.BytesIO(payload), filename="bench.jsonl", size=len(payload)
    )
    upload_s = time.perf_counter() - started

    # The scan's outcome, without the scan: every record scanned, the subject's 50 carrying their key.
    subject = list(range(0, RECORDS, RECORDS // SUBJECT_RECORDS))[:SUBJECT_RECORDS]
    DatasetRecord.objects.filter(version=version, ordinal__in=subject).update(
        subject_keys=[KEY], pii_summary={"EMAIL_ADDRESS": 1}
    )
    DatasetVersion.objects.filter(pk=version.pk).update(
        status=DatasetVersionStatus.READY,
        scanned_records=RECORDS,
        pii_summary={"EMAIL_ADDRESS": SUBJECT_RECORDS},
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE governance_datasetrecord")

    scope = ErasureScope(request_id=1, reference="ER-BENCH", keys=(KEY,))
    started = time.perf_counter()
    result = erasure_datasets.erase(scope)
    erase_s = time.perf_counter() - started
    assert result["counts"] == {"dataset_versions_replaced": 1, "records_removed": SUBJECT_RECORDS}
    new = DatasetVersion.objects.get(parent=version)
    assert new.record_count == RECORDS - SUBJECT_RECORDS and new.pii_summary == {}

    figures = {
        "records": RECORDS,
        "bytes": len(payload),
        "upload_s": round(upload_s, 3),
        "erasure_write_s": round(erase_s, 3),
        "upload_records_per_s": round(RECORDS / upload_s),
        "erasure_records_per_s": round(RECORDS / erase_s),
        "erasure_over_upload": round(upload_s / erase_s, 3),
    }
    print(json.dumps(figures, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "erasure_dataset.json").write_text(json.dumps(figures, indent=2) + "\n")
    assert figures["erasure_over_upload"] >= 0.5, figures
