"""Dataset upload and PII scan throughput (records/s) against presidio alone on the same texts.

make bench PYTEST_ARGS="-k dataset_scan"            # 5,000 records
DATASET_BENCH_RECORDS=100000 make bench PYTEST_ARGS="-k dataset_scan"
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest

from governance import pii
from governance.choices import DatasetVersionStatus
from governance.jsonl import record_text
from governance.services import datasets, scanning
from governance.services.demo import demo_records
from tests.factories import DatasetFactory, UserFactory

RECORDS = int(os.environ.get("DATASET_BENCH_RECORDS", "5000"))
RESULTS = Path(__file__).resolve().parents[2] / "bench-results"


@pytest.mark.django_db
def test_dataset_scan_throughput() -> None:
    records = demo_records(RECORDS, seed=11)
    payload = "\n".join(json.dumps(r) for r in records).encode()
    user = UserFactory(username="bench")
    dataset = DatasetFactory(owner=user)
    pii.warm_up()

    started = time.perf_counter()
    version = datasets.dataset_version_create(
        actor=user, dataset=dataset, stream=io.BytesIO(payload), filename="bench.jsonl", size=len(payload)
    )
    upload_s = time.perf_counter() - started

    started = time.perf_counter()
    scanning.dataset_version_claim_scan(version_id=version.pk)
    version = scanning.dataset_version_scan(version_id=version.pk)
    scan_s = time.perf_counter() - started
    assert version.status == DatasetVersionStatus.READY

    texts = [record_text(r) for r in records[: min(len(records), 2000)]]
    started = time.perf_counter()
    pii.scan_texts(texts)
    raw_s = time.perf_counter() - started

    figures = {
        "records": version.record_count,
        "bytes": len(payload),
        "engine": os.environ.get("PII_ENGINE", "spacy"),
        "upload_records_per_s": round(version.record_count / upload_s),
        "scan_records_per_s": round(version.record_count / scan_s),
        "scanner_alone_records_per_s": round(len(texts) / raw_s),
        "scan_over_scanner_alone": round((version.record_count / scan_s) / (len(texts) / raw_s), 3),
        "pii_summary": version.pii_summary,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dataset_scan.json").write_text(json.dumps(figures, indent=2))
    print("\n" + "\n".join(f"{k:32s} {v}" for k, v in figures.items()))
