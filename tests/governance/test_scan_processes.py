"""Scanner processes (governance/pii/processes.py): the same findings as one process, in order, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from governance import pii
from governance.choices import DatasetVersionStatus
from governance.models import DatasetRecord
from governance.pii.processes import ScannerFailed, ScannerPool
from governance.services import scanning
from tests.conftest import wait_for
from tests.factories import DatasetFactory
from tests.governance.pii_corpus import make_corpus, texts
from tests.training.helpers import ticket_records, upload_version

ROOT = Path(__file__).resolve().parents[2]


def _batches(items: list[str], size: int) -> list[tuple[int, list[str]]]:
    return [(first, items[first : first + size]) for first in range(0, len(items), size)]


@pytest.fixture
def spacy_engine(settings: Any) -> None:
    settings.PII_ENGINE = "spacy"


def test_two_scanner_processes_find_exactly_what_one_process_finds_in_order(spacy_engine: None) -> None:
    # The recall corpus plants every identifier type, Polish names included; the odd batch size makes
    # the processes' batches uneven, so an out-of-order reply would shift every result after it.
    corpus = texts(make_corpus(120)) + ["", "   ", "no identifiers at all"]
    expected = pii.scan_texts(corpus)

    with ScannerPool(2) as pool:
        scanned = list(pool.scan(_batches(corpus, 7)))

    assert [first for first, _ in scanned] == list(range(0, len(corpus), 7))
    assert [result for _, results in scanned for result in results] == expected
    assert sum(len(r.findings) for r in expected) > 300


def test_the_processes_take_the_parents_pii_settings(settings: Any) -> None:
    # Another secret gives other subject keys, and the regex engine finds no names: both reach the child.
    settings.PII_ENGINE = "regex"
    settings.SUBJECT_KEY_SECRET = "another secret for this test"
    corpus = ["Jan Kowalski, jan.kowalski@example.com, +48 601 234 567"]

    with ScannerPool(1) as pool:
        [(_, results)] = list(pool.scan([(0, corpus)]))

    assert results == pii.scan_texts(corpus)
    assert results[0].summary() == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}


def test_the_secret_is_in_neither_the_command_line_nor_the_environment_of_a_scanner(settings: Any) -> None:
    settings.PII_ENGINE = "regex"
    settings.SUBJECT_KEY_SECRET = "secret-that-must-stay-in-memory"

    with ScannerPool(1) as pool:
        [process] = [scanner.process for scanner in pool._scanners]
        list(pool.scan([(0, ["jan@example.com"])]))
        exposed = (
            Path(f"/proc/{process.pid}/cmdline").read_bytes()
            + Path(f"/proc/{process.pid}/environ").read_bytes()
        )

    assert b"secret-that-must-stay-in-memory" not in exposed


def test_a_scanner_that_dies_fails_the_scan_with_its_exit_code_and_the_others_are_stopped(
    settings: Any,
) -> None:
    settings.PII_ENGINE = "regex"
    pool = ScannerPool(2)
    processes = [scanner.process for scanner in pool._scanners]

    with pytest.raises(ScannerFailed, match="exited with code -9"), pool:
        scanned = pool.scan(_batches(["jan@example.com"] * 40, 5))
        next(scanned)
        processes[1].kill()
        list(scanned)

    assert all(process.poll() is not None for process in processes)


def test_scanners_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    # A worker SIGKILLed mid-scan leaves no scanner behind (PR_SET_PDEATHSIG), so its redelivery does
    # not compete with orphans for the cores.
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, time, django
            os.environ["DJANGO_SETTINGS_MODULE"] = "governance.settings"
            django.setup()
            from django.conf import settings
            settings.PII_ENGINE = "regex"
            from governance.pii.processes import ScannerPool
            pool = ScannerPool(1)
            print(pool._scanners[0].process.pid, flush=True)
            time.sleep(600)
            """
        )
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        assert wait_for(lambda: not _alive(child), timeout=10, interval=0.05)
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.django_db
def test_a_dataset_scan_in_scanner_processes_stores_what_a_scan_in_one_process_stores(
    engineer: Any, settings: Any
) -> None:
    settings.PII_ENGINE = "spacy"
    settings.DATASET_SCAN_BATCH = 40
    records = ticket_records(300, email=True)

    def scanned(processes: int) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
        settings.DATASET_SCAN_PROCESSES = processes
        settings.DATASET_SCAN_PARALLEL_MIN_RECORDS = 1
        version = upload_version(DatasetFactory(owner=engineer), records, actor=engineer, scan=False)
        assert scanning.scan_processes(version.record_count) == (processes if processes > 1 else 0)
        scanning.dataset_version_claim_scan(version_id=version.pk)
        version = scanning.dataset_version_scan(version_id=version.pk)
        assert version.status == DatasetVersionStatus.READY
        assert version.scanned_records == 300
        keys = list(
            DatasetRecord.objects.filter(version=version)
            .order_by("ordinal")
            .values_list("ordinal", "subject_keys")
        )
        return version.pii_summary, keys

    in_one = scanned(1)
    in_two = scanned(2)

    assert in_two == in_one
    assert in_one[0]["EMAIL_ADDRESS"] == 300


def test_only_a_scan_with_enough_records_left_starts_processes(settings: Any) -> None:
    settings.DATASET_SCAN_BATCH = 500
    settings.DATASET_SCAN_PARALLEL_MIN_RECORDS = 5000
    settings.DATASET_SCAN_PROCESSES = 4

    assert scanning.scan_processes(4999) == 0
    assert scanning.scan_processes(5000) == 4
    settings.DATASET_SCAN_PARALLEL_MIN_RECORDS = 1
    assert scanning.scan_processes(700) == 2  # no more processes than batches
    settings.DATASET_SCAN_PROCESSES = 1
    assert scanning.scan_processes(100_000) == 0
