"""The one enqueue helper: tasks by name, after commit, and services that never import tasks."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from governance.celery import app
from governance.enqueue import enqueue_on_commit
from tests.conftest import ROOT


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any], dict[str, Any]]]:
    calls: list[tuple[str, list[Any], dict[str, Any]]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args, **options: calls.append((name, args, options)))
    return calls


@pytest.mark.django_db(transaction=True)
def test_a_task_is_sent_by_name_with_its_keys_once_the_transaction_commits(sent):
    with transaction.atomic():
        enqueue_on_commit("training.tasks.run_fine_tune_job", 7, queue="gpu")
        assert sent == []
    assert sent == [("training.tasks.run_fine_tune_job", [7], {"queue": "gpu"})]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_sends_nothing(sent):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit("governance.tasks.scan_dataset_version", 3)
        raise RuntimeError
    assert sent == []


def test_no_service_module_imports_a_tasks_module():
    offenders = []
    for path in ROOT.glob("*/services/*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            if any(name.endswith(".tasks") or name == "tasks" for name in names):
                offenders.append(str(Path(path).relative_to(ROOT)))
    assert offenders == []
