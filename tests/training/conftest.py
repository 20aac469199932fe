"""Training fixtures: the tiny demo model (built once), a registered base model, scanned dataset versions.

The worker is the session's real Celery worker (tests/conftest.py). It inherits this process's
environment when it starts, so the settings below are set at import time, before any worker exists:
artifacts in a temporary directory, frequent events and checkpoints, and the test-only hooks directory
(a per-job file there makes the worker's process sleep per step or kill itself at a step).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(tempfile.mkdtemp(prefix="training-tests-"))
TEST_SETTINGS = {
    "TRAINING_ARTIFACTS_ROOT": str(ROOT / "artifacts"),
    "TRAINING_EVENT_EVERY": "2",
    "TRAINING_CHECKPOINT_EVERY": "4",
    "TRAINING_MAX_ATTEMPTS": "3",
    "TRAINING_EVAL_MAX_NEW_TOKENS": "4",
}
os.environ.update(TEST_SETTINGS)
os.environ["TRAINING_TEST_HOOKS_DIR"] = str(ROOT / "hooks")
(ROOT / "hooks").mkdir(parents=True, exist_ok=True)
atexit.register(shutil.rmtree, ROOT, True)

from governance.choices import DatasetPurpose, DPIAStatus, LegalBasis  # noqa: E402
from governance.roles import ENGINEER  # noqa: E402
from tests.factories import AISystemFactory, DatasetFactory, DPIAFactory, UserFactory  # noqa: E402
from tests.training.helpers import corpus_texts, ticket_records, upload_version  # noqa: E402

# What every training test runs under (this process loaded its settings before the lines above).
FIXTURE_SETTINGS = {
    **TEST_SETTINGS,
    "TRAINING_TEST_HOOKS_DIR": str(ROOT / "hooks"),
    "PII_ENGINE": "regex",  # in-process scans in fixtures; the worker keeps its own engine
    # The users of every fixture get a password; PBKDF2 would spend seconds per test on it.
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
}


@pytest.fixture(autouse=True)
def _training_settings(settings: Any) -> None:
    for name, value in FIXTURE_SETTINGS.items():
        setattr(settings, name, value)


@pytest.fixture(autouse=True)
def _clear_hooks() -> Any:
    yield
    for hook in (ROOT / "hooks").glob("*.json"):
        hook.unlink()


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    from training.demo import build_demo_model

    # Test modules outside tests/training import this fixture by name, which makes a second
    # session-scoped copy of it: the second finds the model the first built.
    target = ROOT / "models" / "tiny"
    if (target / "config.json").is_file():
        return target
    return build_demo_model(target, extra_texts=corpus_texts())


# The fixtures' rows are made by these functions, so a module can make the same rows once for all its
# tests (tests.conftest.built_once) where they cost far more than the tests.


def register_base_model(engineer: Any, model_dir: Path) -> Any:
    from training.services import base_models

    model = base_models.base_model_register(actor=engineer, name="tiny", path=str(model_dir), licence="demo")
    computed = base_models.base_model_compute_manifest(base_model_id=model.pk)
    if computed.status != "pending":
        return computed
    # A transactional test sends the manifest task at once: a session worker may be hashing it.
    from tests.conftest import wait_for

    return wait_for(
        lambda: (m := type(model).objects.get(pk=model.pk)).status != "pending" and m, timeout=240
    )


def new_ai_system(engineer: Any) -> Any:
    return AISystemFactory(name="Helpdesk", owner=engineer, evaluation_threshold=0.5)


def new_version(
    engineer: Any,
    ai_system: Any,
    records: list[dict[str, Any]] | None = None,
    *,
    scan: bool = True,
    **dataset_fields: Any,
) -> Any:
    fields = {
        "purpose": DatasetPurpose.TRAINING,
        "legal_basis": LegalBasis.LEGITIMATE_INTERESTS,
        **dataset_fields,
    }
    dataset = DatasetFactory(owner=engineer, **fields)
    dataset.ai_systems.add(ai_system)
    return upload_version(dataset, records or ticket_records(40), actor=engineer, scan=scan)


@pytest.fixture
def base_model(db: None, engineer: Any, demo_model_dir: Path) -> Any:
    return register_base_model(engineer, demo_model_dir)


@pytest.fixture
def ai_system(db: None, engineer: Any) -> Any:
    return new_ai_system(engineer)


@pytest.fixture
def make_version(db: None, engineer: Any, ai_system: Any) -> Callable[..., Any]:
    """make_version(records=..., purpose=..., legal_basis=..., scan=True) -> a DatasetVersion."""

    def make(records: list[dict[str, Any]] | None = None, *, scan: bool = True, **dataset_fields: Any) -> Any:
        return new_version(engineer, ai_system, records, scan=scan, **dataset_fields)

    return make


@pytest.fixture
def version(make_version: Callable[..., Any]) -> Any:
    return make_version()


@pytest.fixture
def approved_dpia(db: None, officer: Any, ai_system: Any) -> Callable[[Any], Any]:
    def make(dataset: Any, **fields: Any) -> Any:
        import datetime as dt

        from django.utils import timezone

        values = {
            "status": DPIAStatus.APPROVED,
            "reviewer": officer,
            "approved_at": timezone.now(),
            "review_due": timezone.localdate() + dt.timedelta(days=100),
            **fields,
        }
        dpia = DPIAFactory(
            ai_system=ai_system, created_by=UserFactory(username="dpia-author", role=ENGINEER), **values
        )
        dpia.datasets.add(dataset)
        return dpia

    return make


@pytest.fixture
def job_payload(ai_system: Any, base_model: Any, version: Any) -> dict[str, Any]:
    return {
        "ai_system": ai_system.pk,
        "base_model": base_model.pk,
        "dataset_version": version.pk,
        "seed": 3,
        "hyperparameters": {
            "rank": 4,
            "alpha": 8,
            "epochs": 1,
            "batch_size": 4,
            "learning_rate": 0.003,
            "max_seq_length": 64,
        },
    }


def set_hooks(job_id: int, **hooks: Any) -> None:
    """Test-only behaviour of the worker for one job (read when the job starts training)."""
    (ROOT / "hooks" / f"job-{job_id}.json").write_text(json.dumps(hooks))


@pytest.fixture
def trained_job(db: None, engineer: Any, ai_system: Any, base_model: Any, version: Any) -> Any:
    return train_job(engineer, ai_system, base_model, version)


def train_job(engineer: Any, ai_system: Any, base_model: Any, version: Any) -> Any:
    """A job created through the service and run to the end in this process (no worker needed).

    The first one trains; later ones start from a copy of its finished adapter directory, the path a
    job takes when its worker died after writing the adapter but before recording it.
    """
    from training.services import jobs, runs

    job, _ = jobs.fine_tune_job_create(
        actor=engineer,
        ai_system=ai_system,
        base_model=base_model,
        dataset_version=version,
        seed=5,
        hyperparameters={
            "rank": 4,
            "alpha": 8,
            "batch_size": 8,
            "learning_rate": 0.003,
            "max_seq_length": 64,
        },
    )
    assert jobs.fine_tune_job_claim(job_id=job.pk)
    output_dir = runs.job_dirs(job.pk)[1]
    cache = ROOT / "trained-adapter-cache"
    if cache.is_dir():
        shutil.copytree(cache, output_dir)
    runs.fine_tune_job_run(job_id=job.pk)
    if not cache.is_dir():
        shutil.copytree(output_dir, cache)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return job


@pytest.fixture
def adapter(trained_job: Any) -> Any:
    return trained_job.adapter
