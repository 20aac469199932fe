"""The adapter's and the base model's gates of a deployment (registered by training)."""

from __future__ import annotations

from typing import Any

import pytest

from governance.models import Deployment
from governance.services import deployments, systems
from training.models import AdapterVersion, BaseModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(officer: Any, engineer: Any, ai_system: Any, base_model: Any, adapter: Any) -> Deployment:
    systems.ai_system_set_risk_class(actor=officer, system=ai_system, risk_class="minimal")
    return deployments.deployment_request(
        actor=engineer,
        ai_system=ai_system,
        base_model=base_model,
        adapter_version=adapter,
        environment="staging",
    )


def failures(deployment: Deployment) -> list[tuple[str, str]]:
    report = deployments.gate_report(Deployment.objects.get(pk=deployment.pk))
    return [(g["gate"], g["code"]) for g in report if g["status"] == "failed"]


def test_a_candidate_adapter_is_not_deployed(deployment: Deployment) -> None:
    assert ("adapter", "adapter_not_approved") in failures(deployment)


def test_an_adapter_that_failed_its_evaluation_needs_an_officers_override(
    deployment: Deployment, adapter: Any
) -> None:
    adapter.evaluations.filter(subject="adapter").update(passed=False)
    AdapterVersion.objects.filter(pk=adapter.pk).update(status="approved")
    assert ("adapter", "evaluation_failed") in failures(deployment)

    AdapterVersion.objects.filter(pk=adapter.pk).update(override_justification="Agents confirm every answer.")
    assert [f for f in failures(deployment) if f[0] == "adapter"] == []


def test_a_tainted_adapter_blocks_an_approved_deployment_in_the_taint_service(
    deployment: Deployment, adapter: Any, officer: Any
) -> None:
    from training.services import adapters

    AdapterVersion.objects.filter(pk=adapter.pk).update(
        status="approved", override_justification="Checked by hand."
    )
    deployments.deployment_approve(actor=officer, deployment=Deployment.objects.get(pk=deployment.pk))

    adapters.adapter_version_taint(actor=officer, adapter=adapter, reason="trained on an erased subject")

    deployment.refresh_from_db()
    assert (deployment.status, deployment.blocked_from) == ("blocked", "approved")
    assert [r["code"] for r in deployment.blocked_reasons] == ["adapter_tainted"]


def test_a_tainted_base_model_fails_its_gate(deployment: Deployment, base_model: Any) -> None:
    BaseModel.objects.filter(pk=base_model.pk).update(taint_reason="licence withdrawn")
    assert ("base_model", "base_model_tainted") in failures(deployment)


def test_an_adapter_of_another_system_is_refused_at_request(
    engineer: Any, base_model: Any, adapter: Any
) -> None:
    from governance.errors import ValidationFailed

    other = systems.ai_system_create(actor=engineer, owner=engineer, name="Other", intended_purpose="x")
    with pytest.raises(ValidationFailed) as refused:
        deployments.deployment_request(
            actor=engineer,
            ai_system=other,
            base_model=base_model,
            adapter_version=adapter,
            environment="staging",
        )
    assert refused.value.code == "adapter_of_another_system"
    assert Deployment.objects.count() == 0
