"""The retraining signal: hand-offs and negative feedback raise it, the dashboard shows it, an officer acts.

Answer records are made directly (their content is the answer path's business, tested elsewhere); the
retrain goes through the real fine-tune job service and its gates, on a trained demo adapter.
"""

# ruff: noqa: F811 - fixtures imported by name
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from answers import prompting
from answers.models import AnswerRecord
from governance.models import AISystem, AuditEvent, Deployment
from tests.answers.conftest import (  # noqa: F401 - fixtures
    active_deployment,
    adapter,
    ai_system,
    approved_dpia,
    base_model,
    demo_model_dir,
    knowledge,
    make_deployment,
    make_version,
    trained_job,
    version,
)
from tests.training.conftest import _clear_hooks, _training_settings  # noqa: F401 - autouse fixtures
from tests.training.helpers import ticket_records, upload_version
from training.models import FineTuneJob

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _signal_settings(settings: Any, ai_system: AISystem) -> None:
    settings.ANSWER_SIGNAL_MIN_ANSWERS = 5
    AISystem.objects.filter(pk=ai_system.pk).update(retrain_signal_window=10, retrain_signal_threshold=0.3)


class Register:
    """Appends answer records to one deployment, each newer than the last."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.start = timezone.now() - timedelta(hours=1)
        self.count = 0

    def add(self, n: int = 1, *, handoff: bool = False, rating: int | None = None) -> None:
        for _ in range(n):
            self.count += 1
            AnswerRecord.objects.create(
                deployment=self.deployment,
                created_at=self.start + timedelta(seconds=self.count),
                base_model_id=self.deployment.base_model_id,
                adapter_version_id=self.deployment.adapter_version_id,
                prompt_template_version=0,
                prompt_template_sha256=prompting.sha256(prompting.DEFAULT_TEMPLATE),
                backend="local",
                k=5,
                question_masked=f"question {self.count}",
                handoff=handoff,
                handoff_reason="no_relevant_fragment" if handoff else "",
                feedback_rating=rating,
            )


def signal(api: Any, user: Any, deployment: Deployment) -> dict[str, Any]:
    response = api(user).get(f"/api/v1/deployments/{deployment.pk}/retraining-signal/")
    assert response.status_code == 200, response.content
    return dict(response.json())


def cards(user: Any) -> tuple[dict[str, int], str]:
    client = Client()
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    found = re.findall(r'data-card="([a-z_]+)".*?data-count="(\d+)"', html, flags=re.S)
    return {key: int(n) for key, n in found}, html


def flag(deployment: Deployment) -> Register:
    """Ten answers, four of them weak (one both handed off and rated wrong): 0.4 > 0.3."""
    register = Register(deployment)
    register.add(2, handoff=True)
    register.add(1, handoff=True, rating=-1)
    register.add(6, rating=1)
    register.add(1, rating=-1)
    return register


def test_hand_offs_and_negative_feedback_raise_the_signal(
    api: Any, officer: Any, engineer: Any, auditor: Any, active_deployment: Deployment
) -> None:
    register = Register(active_deployment)
    register.add(3, handoff=True)
    register.add(1, rating=-1)
    early = signal(api, engineer, active_deployment)
    assert early["answers"] == 4 and early["weak"] == 4 and early["flagged"] is False  # fewer than 5

    register.add(6, rating=1)
    at_threshold = signal(api, auditor, active_deployment)
    assert at_threshold["answers"] == 10 and at_threshold["share"] == pytest.approx(0.4)
    assert at_threshold["flagged"] is True

    # Only the window counts: ten newer good answers push the weak ones out.
    register.add(10, rating=1)
    settled = signal(api, officer, active_deployment)
    assert settled == {
        "deployment": active_deployment.pk, "window": 10, "answers": 10, "handoffs": 0,
        "negative_feedback": 0, "weak": 0, "share": 0.0, "threshold": 0.3, "flagged": False,
    }  # fmt: skip


def test_a_share_at_the_threshold_is_not_flagged_and_one_answer_both_weak_counts_once(
    api: Any, engineer: Any, active_deployment: Deployment
) -> None:
    register = Register(active_deployment)
    register.add(1, handoff=True, rating=-1)
    register.add(2, handoff=True)
    register.add(7, rating=0)
    at = signal(api, engineer, active_deployment)
    assert (at["handoffs"], at["negative_feedback"], at["weak"]) == (3, 1, 3)
    assert at["share"] == pytest.approx(0.3) and at["flagged"] is False

    register.add(1, rating=-1)  # the oldest (weak) leaves the window, a new weak one enters
    assert signal(api, engineer, active_deployment)["weak"] == 3
    assert signal(api, engineer, active_deployment)["flagged"] is False
    # Feedback arriving later on an answer in the window tips it over.
    latest_neutral = AnswerRecord.objects.filter(feedback_rating=0).order_by("-created_at").first()
    assert latest_neutral is not None
    AnswerRecord.objects.filter(pk=latest_neutral.pk).update(feedback_rating=-1)
    above = signal(api, engineer, active_deployment)
    assert above["weak"] == 4 and above["flagged"] is True


def test_the_dashboard_card_lists_flagged_deployments(
    officer: Any, engineer: Any, active_deployment: Deployment
) -> None:
    before, _ = cards(officer)
    assert before["deployments_retrain_signal"] == 0

    flag(active_deployment)

    after, html = cards(officer)
    assert after["deployments_retrain_signal"] == 1
    assert f"/admin/governance/deployment/{active_deployment.pk}/change/" in html
    assert "4 of the last 10 answers handed off or rated wrong (40%, threshold 30%)" in html
    engineer_cards, _ = cards(engineer)  # everyone who reads deployments sees it
    assert engineer_cards["deployments_retrain_signal"] == 1


@pytest.fixture
def newer_version(engineer: Any, active_deployment: Deployment) -> Any:
    """A second ready version of the adapter's dataset: what a retrain should train on."""
    assert active_deployment.adapter_version is not None
    dataset = active_deployment.adapter_version.dataset_version.dataset
    return upload_version(dataset, ticket_records(40, seed=7), actor=engineer)


def test_an_officer_queues_one_retrain_on_the_newest_version(
    api: Any, officer: Any, officer2: Any, engineer: Any, auditor: Any, active_deployment: Deployment,
    newer_version: Any,
) -> None:  # fmt: skip
    flag(active_deployment)
    url = f"/api/v1/deployments/{active_deployment.pk}/retrain/"
    jobs_before = FineTuneJob.objects.count()

    for user in (engineer, auditor):
        refused = api(user).post(url, {}, format="json")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert FineTuneJob.objects.count() == jobs_before
    assert api(officer).post(url, {"force": True}, format="json").status_code == 400  # takes no body

    first = api(officer).post(url, {}, format="json")

    assert first.status_code == 201, first.content
    job = FineTuneJob.objects.get(pk=first.json()["job"])
    adapter = active_deployment.adapter_version
    assert adapter is not None
    assert job.dataset_version_id == newer_version.pk == first.json()["dataset_version"]
    assert job.base_model_id == adapter.base_model_id
    assert job.hyperparameters == adapter.job.hyperparameters
    assert job.created_by == officer and job.status == "queued"
    event = AuditEvent.objects.get(action="deployment.retrain_queued")
    assert event.object_id == str(active_deployment.pk) and event.actor == officer.username
    assert event.payload["job"] == job.pk and event.payload["dataset_version"] == newer_version.pk
    assert event.payload["signal"]["flagged"] is True

    again = api(officer).post(url, {}, format="json")
    other_officer = api(officer2).post(url, {}, format="json")

    assert again.status_code == 200 and again.json()["job"] == job.pk
    assert other_officer.status_code == 200 and other_officer.json()["job"] == job.pk
    assert FineTuneJob.objects.count() == jobs_before + 1
    assert AuditEvent.objects.filter(action="deployment.retrain_queued").count() == 1


def test_a_failed_retrain_can_be_queued_again(
    api: Any, officer: Any, active_deployment: Deployment, newer_version: Any
) -> None:
    url = f"/api/v1/deployments/{active_deployment.pk}/retrain/"
    first = api(officer).post(url, {}, format="json").json()["job"]
    FineTuneJob.objects.filter(pk=first).update(status="failed")

    second = api(officer).post(url, {}, format="json")

    assert second.status_code == 201, second.content
    assert second.json()["job"] != first
    assert FineTuneJob.objects.get(pk=second.json()["job"]).dataset_version_id == newer_version.pk


def test_a_retired_deployment_is_not_retrained(
    api: Any, officer: Any, active_deployment: Deployment, newer_version: Any
) -> None:
    Deployment.objects.filter(pk=active_deployment.pk).update(status="retired")
    jobs_before = FineTuneJob.objects.count()

    response = api(officer).post(f"/api/v1/deployments/{active_deployment.pk}/retrain/", {}, format="json")

    assert response.status_code == 409 and response.json()["error"]["code"] == "deployment_not_retrainable"
    assert FineTuneJob.objects.count() == jobs_before


def test_the_deployment_page_shows_the_signal_and_the_retrain_button_works(
    officer: Any, engineer: Any, active_deployment: Deployment, newer_version: Any
) -> None:
    flag(active_deployment)
    client = Client()
    client.force_login(officer)
    button = f"/admin/governance/deployment/{active_deployment.pk}/do/queue_retrain/"

    page = client.get(f"/admin/governance/deployment/{active_deployment.pk}/change/").content.decode()
    assert "Answers and the retraining signal" in page and "retrain advised" in page
    assert "4 of the last 10 answers handed off or rated wrong (40%; threshold 30%)." in page
    assert button in page
    confirm = client.get(button)
    assert (
        confirm.status_code == 200
        and "Queue a retrain on the newest dataset version" in confirm.content.decode()
    )
    assert not FineTuneJob.objects.filter(dataset_version=newer_version).exists()  # GET only asks

    done = client.post(button, follow=True)

    assert done.status_code == 200
    assert done.redirect_chain[0][0] == f"/admin/governance/deployment/{active_deployment.pk}/change/"
    job = FineTuneJob.objects.get(dataset_version=newer_version)
    assert job.created_by == officer
    assert AuditEvent.objects.filter(action="deployment.retrain_queued", payload__job=job.pk).exists()
    again = client.post(button, follow=True)
    assert f"Fine-tune job #{job.pk} was already queued" in again.content.decode()
    assert FineTuneJob.objects.filter(dataset_version=newer_version).count() == 1

    engineer_client = Client()
    engineer_client.force_login(engineer)
    assert engineer_client.get(button).status_code == 403
    assert engineer_client.post(button).status_code == 403
    engineer_page = engineer_client.get(f"/admin/governance/deployment/{active_deployment.pk}/change/")
    assert button not in engineer_page.content.decode()
