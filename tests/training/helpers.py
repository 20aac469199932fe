"""Helpers shared by the training tests and the training benchmark."""

from __future__ import annotations

import io
import json
import random
from typing import Any

from governance.choices import DatasetVersionStatus
from governance.models import Dataset, DatasetVersion
from governance.services import datasets, scanning
from tests.conftest import wait_for

LABELS = {
    "billing": ["My invoice for {m} is wrong", "I was charged twice in {m}", "Where is my invoice from {m}?"],
    "delivery": ["The parcel from {m} never arrived", "Can I change the delivery address for the {m} order?"],
    "account": ["I cannot log in since {m}", "How do I reset my password? It expired in {m}"],
    "technical": ["The app crashes when I open it since {m}", "The page shows an error since {m}"],
}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]


def ticket_records(count: int, *, seed: int = 1, email: bool = False) -> list[dict[str, str]]:
    """Support tickets labelled with their category: short, repeating outputs (a classification task)."""
    rng = random.Random(seed)
    records = []
    for n in range(count):
        label = rng.choice(sorted(LABELS))
        text = rng.choice(LABELS[label]).format(m=rng.choice(MONTHS))
        contact = f" Contact me at client{n}@example.com." if email else ""
        records.append({"input": f"Ticket {n}: {text}.{contact} Category?", "output": label})
    return records


def corpus_texts() -> list[str]:
    """Texts the demo tokenizer learns its merges from, so tickets tokenize compactly."""
    return [r["input"] + " " + r["output"] for r in ticket_records(200, seed=99)]


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def upload_version(
    dataset: Dataset,
    records: list[dict[str, Any]],
    *,
    actor: Any,
    scan: bool = True,
    holdout_fraction: float = 0.1,
) -> DatasetVersion:
    """A dataset version stored through the dataset service, scanned here (regex engine) when asked."""
    data = jsonl(records)
    version = datasets.dataset_version_create(
        actor=actor,
        dataset=dataset,
        stream=io.BytesIO(data),
        filename="tickets.jsonl",
        size=len(data),
        holdout_fraction=holdout_fraction,
        split_seed=7,
    )
    if scan:
        if scanning.dataset_version_claim_scan(version_id=version.pk):
            version = scanning.dataset_version_scan(version_id=version.pk)
        else:
            # In a transactional test the commit already sent the scan task, and the real worker
            # claimed the row first: it scans the version, so wait for it instead of racing it.
            version = wait_for(lambda: _finished_scan(version.pk), timeout=120)
        assert version.status == DatasetVersionStatus.READY, version.scan_error
    return DatasetVersion.objects.get(pk=version.pk)


def _finished_scan(version_id: int) -> DatasetVersion | None:
    version = DatasetVersion.objects.get(pk=version_id)
    done = (DatasetVersionStatus.READY, DatasetVersionStatus.FAILED)
    return version if version.status in done else None
