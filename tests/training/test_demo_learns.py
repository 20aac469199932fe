"""The demo as a new user meets it: a DPIA waiting for an officer, and data the demo model can learn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from governance.choices import DPIAStatus
from governance.models import DPIA, DatasetVersion
from governance.services import demo
from training.demo import DEMO_HYPERPARAMETERS, DEMO_JOB_SEED, build_demo_model
from training.models import Evaluation

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded_demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setattr(demo, "demo_credentials_path", lambda: tmp_path / "logins.json")
    demo.demo_load()
    return DPIA.objects.get(ai_system__name=demo.DEMO_SYSTEM)


def test_the_demo_dpia_is_complete_and_waits_for_an_officer(loaded_demo: Any) -> None:
    from governance.services import dpia

    assert (loaded_demo.status, loaded_demo.created_by.username) == (DPIAStatus.IN_REVIEW, "engineer")
    officer = loaded_demo.created_by.__class__.objects.get(username="officer")
    approved = dpia.dpia_approve(actor=officer, dpia=loaded_demo)
    assert approved.status == DPIAStatus.APPROVED


@pytest.mark.slow
def test_a_job_on_the_demo_data_with_the_suggested_settings_beats_the_base_model(
    loaded_demo: Any, tmp_path: Path
) -> None:
    from governance.services import dpia
    from training.services import base_models, jobs, runs

    users = loaded_demo.created_by.__class__.objects
    dpia.dpia_approve(actor=users.get(username="officer"), dpia=loaded_demo)
    engineer = users.get(username="engineer")
    model_dir = build_demo_model(tmp_path / "demo-tiny-llama")  # as `make run` builds it
    base = base_models.base_model_register(actor=engineer, name="demo", path=str(model_dir), licence="demo")
    base = base_models.base_model_compute_manifest(base_model_id=base.pk)
    version = DatasetVersion.objects.get(dataset__name="Support tickets 2026")
    job, _ = jobs.fine_tune_job_create(
        actor=engineer,
        ai_system=loaded_demo.ai_system,
        base_model=base,
        dataset_version=version,
        hyperparameters=DEMO_HYPERPARAMETERS,
        seed=DEMO_JOB_SEED,
    )
    assert jobs.fine_tune_job_claim(job_id=job.pk)
    runs.fine_tune_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    adapter = Evaluation.objects.get(job=job, subject="adapter")
    baseline = Evaluation.objects.get(job=job, subject="baseline")
    assert adapter.primary_metric == baseline.primary_metric == "accuracy"
    gain = adapter.metrics["accuracy"] - baseline.metrics["accuracy"]
    assert gain >= 0.5, (adapter.metrics, baseline.metrics)
