"""Dataset upload and PII scan throughput (records/s): one core against presidio alone on the same texts,
and two scanner processes against one core.

make bench PYTEST_ARGS="-k dataset_scan"            # 20,000 records
DATASET_BENCH_RECORDS=100000 make bench PYTEST_ARGS="-k dataset_scan"
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from governance import pii
from governance.choices import DatasetVersionStatus
from governance.jsonl import record_text
from governance.services import datasets, scanning
from governance.services.demo import demo_records
from tests.factories import DatasetFactory, UserFactory

RECORDS = int(os.environ.get("DATASET_BENCH_RECORDS", "20000"))
RESULTS = Path(__file__).resolve().parents[2] / "bench-results"


def _scan(user: Any, payload: bytes, processes: int) -> tuple[Any, float, float]:
    """Upload and scan one version with `processes` scanner processes (1: in this process)."""
    dataset = DatasetFactory(owner=user)
    started = time.perf_counter()
    version = datasets.dataset_version_create(
        actor=user, dataset=dataset, stream=io.BytesIO(payload), filename="bench.jsonl", size=len(payload)
    )
    upload_s = time.perf_counter() - started
    with override_settings(DATASET_SCAN_PROCESSES=processes, DATASET_SCAN_PARALLEL_MIN_RECORDS=1):
        started = time.perf_counter()
        scanning.dataset_version_claim_scan(version_id=version.pk)
        version = scanning.dataset_version_scan(version_id=version.pk)
        scan_s = time.perf_counter() - started
    assert version.status == DatasetVersionStatus.READY
    return version, upload_s, scan_s


@pytest.mark.django_db
def test_dataset_scan_throughput() -> None:
    records = demo_records(RECORDS, seed=11)
    payload = "\n".join(json.dumps(r) for r in records).encode()
    user = UserFactory(username="bench")
    pii.warm_up()

    # One core: the scan in the worker's process against presidio's batch alone on the same texts.
    version, upload_s, scan_s = _scan(user, payload, 1)
    texts = [record_text(r) for r in records[: min(len(records), 2000)]]
    started = time.perf_counter()
    pii.scan_texts(texts)
    raw_s = time.perf_counter() - started
    # Two cores: the same records in two scanner processes (their start included), against one core.
    two, _, two_s = _scan(user, payload, 2)
    assert two.pii_summary == version.pii_summary

    one_rate, two_rate = version.record_count / scan_s, two.record_count / two_s
    figures = {
        "records": version.record_count,
        "bytes": len(payload),
        "engine": os.environ.get("PII_ENGINE", "spacy"),
        "load_average": os.getloadavg()[0],
        "upload_records_per_s": round(version.record_count / upload_s),
        "scan_records_per_s": round(one_rate),
        "scanner_alone_records_per_s": round(len(texts) / raw_s),
        "scan_over_scanner_alone_one_core": round(one_rate / (len(texts) / raw_s), 3),
        "scan_two_cores_records_per_s": round(two_rate),
        "scan_two_cores_over_one_core": round(two_rate / one_rate, 3),
        "pii_summary": version.pii_summary,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dataset_scan.json").write_text(json.dumps(figures, indent=2))
    print("\n" + "\n".join(f"{k:32s} {v}" for k, v in figures.items()))
