# ruff: noqa: F811 - the training fixtures imported below are parameters of the tests
"""Deployments: four eyes, every gate listed, one active per system and environment, blocking on recheck."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from governance import gates
from governance.enqueue import send_now
from governance.models import AuditEvent, Deployment, DeploymentDocumentation
from governance.services import deployments, systems
from tests.conftest import wait_for
from tests.factories import DatasetFactory, DPIAFactory
from tests.training.conftest import base_model, demo_model_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def system(officer: Any) -> Any:
    """A minimal-risk system an officer registered (so its risk class is recorded)."""
    return systems.ai_system_create(
        actor=officer, owner=officer, name="Helpdesk", intended_purpose="Routes support tickets"
    )


def knowledge_base(engineer: Any, system: Any) -> Any:
    from retrieval.services import collections

    return collections.collection_create(
        actor=engineer, ai_system=system, name="KB", chunk_size=64, chunk_overlap=8
    )


def request_deployment(client: Any, system: Any, base_model: Any, **fields: Any) -> Any:
    body = {"ai_system": system.pk, "base_model": base_model.pk, "environment": "staging", **fields}
    return client.post("/api/v1/deployments/", body, format="json")


@pytest.fixture
def requested(api: Any, engineer: Any, system: Any, base_model: Any) -> Deployment:
    response = request_deployment(api(engineer), system, base_model)
    assert response.status_code == 201, response.content
    return Deployment.objects.get(pk=response.json()["id"])


def approve(client: Any, deployment: Deployment) -> Any:
    return client.post(f"/api/v1/deployments/{deployment.pk}/approve/", format="json")


def activate(client: Any, deployment: Deployment) -> Any:
    return client.post(f"/api/v1/deployments/{deployment.pk}/activate/", format="json")


def test_an_engineer_requests_a_deployment_and_it_starts_requested(
    api: Any, engineer: Any, system: Any, base_model: Any
) -> None:
    response = request_deployment(api(engineer), system, base_model, notes="First staging run")
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["requested_by"], body["approved_by"]) == ("requested", "engineer", None)
    event = AuditEvent.objects.get(action="deployment.requested", object_id=str(body["id"]))
    assert event.payload["configuration"] == {
        "ai_system": system.pk,
        "environment": "staging",
        "base_model": base_model.pk,
        "adapter_version": None,
        "collection": None,
    }


def test_gates_lists_every_registered_gate_passing_or_failing(
    api: Any, auditor: Any, requested: Deployment
) -> None:
    response = api(auditor).get(f"/api/v1/deployments/{requested.pk}/gates/")
    assert response.status_code == 200
    body = response.json()
    assert [g["gate"] for g in body["gates"]] == [g.code for g in gates.registered("deployment")]
    assert body["passed"] is True
    assert {g["status"] for g in body["gates"]} == {"passed"}
    assert all(g["checks"] for g in body["gates"])


def test_an_engineer_cannot_approve(api: Any, engineer: Any, requested: Deployment) -> None:
    response = approve(api(engineer), requested)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert Deployment.objects.get(pk=requested.pk).status == "requested"


def test_the_requester_cannot_approve_their_own_deployment(
    api: Any, officer: Any, system: Any, base_model: Any
) -> None:
    created = request_deployment(api(officer), system, base_model)
    response = api(officer).post(f"/api/v1/deployments/{created.json()['id']}/approve/", format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "requester_cannot_approve"
    assert Deployment.objects.get(pk=created.json()["id"]).status == "requested"


def test_the_database_refuses_an_approver_who_is_the_requester(requested: Deployment) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Deployment.objects.filter(pk=requested.pk).update(approved_by=requested.requested_by)


def test_approval_with_failing_gates_is_refused_listing_every_failure(
    api: Any, engineer: Any, officer: Any, base_model: Any
) -> None:
    # Registered by an engineer: nobody recorded its risk class. Its dataset has personal data and
    # no legal basis, and no DPIA covers the system.
    system = systems.ai_system_create(actor=engineer, owner=engineer, name="Claims", intended_purpose="x")
    dataset = DatasetFactory(owner=engineer, purpose="knowledge", legal_basis="", contains_personal_data=True)
    dataset.ai_systems.add(system)
    created = request_deployment(
        api(engineer), system, base_model, collection=knowledge_base(engineer, system).pk
    )
    deployment = Deployment.objects.get(pk=created.json()["id"])

    response = approve(api(officer), deployment)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "gates_failed"
    assert [f["code"] for f in error["details"]] == ["risk_class_not_recorded", "legal_basis", "dpia_missing"]
    assert error["details"][0]["remedy"].startswith("a compliance officer records the risk class")
    assert error["details"][1]["details"] == {"datasets": [dataset.pk]}
    assert Deployment.objects.get(pk=deployment.pk).status == "requested"
    assert not AuditEvent.objects.filter(action="deployment.approved").exists()


def test_approval_by_a_second_officer_freezes_the_gates_and_the_documentation(
    api: Any, officer: Any, requested: Deployment
) -> None:
    response = approve(api(officer), requested)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["approved_by"], body["documentation_version"]) == ("approved", "officer", 1)
    assert [g["gate"] for g in body["gate_results"]] == [g.code for g in gates.registered("deployment")]
    doc = DeploymentDocumentation.objects.get(deployment=requested)
    event = AuditEvent.objects.get(action="deployment.approved", object_id=str(requested.pk))
    assert event.payload["documentation_pdf_sha256"] == doc.pdf_sha256
    assert event.payload["documentation_facts_sha256"] == doc.facts_sha256


def test_the_approver_approving_again_changes_nothing(api: Any, officer: Any, requested: Deployment) -> None:
    assert approve(api(officer), requested).status_code == 200
    before = AuditEvent.objects.count()
    assert approve(api(officer), requested).status_code == 200
    assert AuditEvent.objects.count() == before


def test_a_second_officer_is_told_the_deployment_was_already_approved(
    api: Any, officer: Any, officer2: Any, requested: Deployment
) -> None:
    assert approve(api(officer), requested).status_code == 200
    response = approve(api(officer2), requested)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_approved"
    assert Deployment.objects.get(pk=requested.pk).approved_by == officer


def test_a_requested_deployment_is_not_activated(api: Any, engineer: Any, requested: Deployment) -> None:
    response = activate(api(engineer), requested)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"


def test_activating_a_second_deployment_retires_the_first_in_the_same_step(
    api: Any, engineer: Any, officer: Any, system: Any, base_model: Any, requested: Deployment
) -> None:
    second = Deployment.objects.get(pk=request_deployment(api(engineer), system, base_model).json()["id"])
    for deployment in (requested, second):
        assert approve(api(officer), deployment).status_code == 200
    assert activate(api(engineer), requested).json()["status"] == "active"

    response = activate(api(engineer), second)

    assert response.json()["status"] == "active"
    first = Deployment.objects.get(pk=requested.pk)
    assert (first.status, first.retired_reason) == ("retired", f"replaced by deployment {second.pk}")
    assert Deployment.objects.filter(ai_system=system, environment="staging", status="active").count() == 1
    # Production is another environment: its own active deployment does not retire staging's.
    prod = Deployment.objects.get(
        pk=request_deployment(api(engineer), system, base_model, environment="production").json()["id"]
    )
    approve(api(officer), prod)
    assert activate(api(engineer), prod).json()["status"] == "active"
    assert Deployment.objects.get(pk=second.pk).status == "active"


def test_the_database_refuses_two_active_deployments_for_one_system_and_environment(
    api: Any, engineer: Any, system: Any, base_model: Any, requested: Deployment
) -> None:
    second = Deployment.objects.get(pk=request_deployment(api(engineer), system, base_model).json()["id"])
    Deployment.objects.filter(pk=requested.pk).update(status="active")
    with pytest.raises(IntegrityError), transaction.atomic():
        Deployment.objects.filter(pk=second.pk).update(status="active")


@pytest.mark.django_db(transaction=True)
def test_concurrent_activations_leave_exactly_one_active(
    officer: Any, engineer: Any, system: Any, base_model: Any
) -> None:
    rows = [
        deployments.deployment_request(
            actor=engineer, ai_system=system, base_model=base_model, environment="production"
        )
        for _ in range(4)
    ]
    for row in rows:
        deployments.deployment_approve(actor=officer, deployment=row)
    barrier = threading.Barrier(len(rows))
    errors: list[BaseException] = []

    def run(row: Deployment) -> None:
        try:
            barrier.wait()
            deployments.deployment_activate(actor=engineer, deployment=row)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(row,)) for row in rows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    statuses = sorted(Deployment.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True))
    assert statuses == ["active", "retired", "retired", "retired"]


def test_a_blocked_deployment_is_not_activated(
    api: Any, engineer: Any, officer: Any, requested: Deployment, system: Any
) -> None:
    approve(api(officer), requested)

    systems.ai_system_set_risk_class(actor=officer, system=system, risk_class="prohibited")

    event = AuditEvent.objects.get(action="deployment.blocked", object_id=str(requested.pk))
    assert event.payload["trigger"] == f"AI system {system.pk} risk_class changed"
    response = activate(api(engineer), requested)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "deployment_blocked"
    assert [r["code"] for r in error["details"]] == ["risk_class_prohibited"]
    assert Deployment.objects.get(pk=requested.pk).status == "blocked"


def test_a_blocked_deployment_is_approved_again_once_its_gates_pass(
    api: Any, engineer: Any, officer: Any, requested: Deployment, system: Any
) -> None:
    approve(api(officer), requested)
    systems.ai_system_set_risk_class(actor=officer, system=system, risk_class="prohibited")
    assert Deployment.objects.get(pk=requested.pk).status == "blocked"
    systems.ai_system_set_risk_class(actor=officer, system=system, risk_class="limited")

    assert approve(api(officer), requested).json()["status"] == "approved"
    assert activate(api(engineer), requested).json()["status"] == "active"


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_an_expired_dpia_blocks_an_active_deployment_through_the_beat_task(
    api: Any, engineer: Any, officer: Any, system: Any, base_model: Any, celery_worker: Any
) -> None:
    dataset = DatasetFactory(
        owner=engineer, purpose="knowledge", legal_basis="consent", contains_personal_data=True
    )
    dataset.ai_systems.add(system)
    dpia = DPIAFactory(
        ai_system=system,
        created_by=engineer,
        status="approved",
        reviewer=officer,
        approved_at=timezone.now(),
        review_due=timezone.localdate() + dt.timedelta(days=30),
    )
    dpia.datasets.add(dataset)
    # The collection's knowledge dataset holds personal data: the DPIA gate applies.
    row = deployments.deployment_request(
        actor=engineer,
        ai_system=system,
        base_model=base_model,
        environment="staging",
        collection=knowledge_base(engineer, system),
    )
    deployments.deployment_approve(actor=officer, deployment=row)
    deployments.deployment_activate(actor=engineer, deployment=row)
    type(dpia).objects.filter(pk=dpia.pk).update(review_due=timezone.localdate() - dt.timedelta(days=1))

    send_now("governance.tasks.expire_dpias")

    blocked = wait_for(lambda: (d := Deployment.objects.get(pk=row.pk)).status == "blocked" and d, timeout=60)
    assert blocked.blocked_from == "active"
    event = AuditEvent.objects.get(action="deployment.blocked", object_id=str(row.pk))
    assert event.payload["trigger"] == "DPIA expiry"


def test_documentation_of_a_deployment_that_does_not_exist_is_404(api: Any, auditor: Any) -> None:
    response = api(auditor).get("/api/v1/deployments/999999/documentation/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_documentation_before_any_was_generated_is_404_with_its_code(
    api: Any, auditor: Any, requested: Deployment
) -> None:
    response = api(auditor).get(f"/api/v1/deployments/{requested.pk}/documentation/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "documentation_not_found"


def test_a_version_that_is_not_a_number_is_refused(api: Any, auditor: Any, requested: Deployment) -> None:
    response = api(auditor).get(f"/api/v1/deployments/{requested.pk}/documentation/?version=x")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_version"


def test_an_auditor_reads_but_does_not_request(api: Any, auditor: Any, system: Any, base_model: Any) -> None:
    response = request_deployment(api(auditor), system, base_model)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert Deployment.objects.count() == 0


def test_an_unknown_environment_is_refused(api: Any, engineer: Any, system: Any, base_model: Any) -> None:
    response = request_deployment(api(engineer), system, base_model, environment="moon")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["environment"]
    assert Deployment.objects.count() == 0


def test_retiring_stops_an_active_deployment(
    api: Any, engineer: Any, officer: Any, requested: Deployment
) -> None:
    approve(api(officer), requested)
    activate(api(engineer), requested)
    response = api(engineer).post(
        f"/api/v1/deployments/{requested.pk}/retire/", {"reason": "Replaced by v2"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["retired_reason"]) == ("retired", "Replaced by v2")


def test_a_collection_holding_a_suppressed_subject_fails_its_gate_until_the_suppression_is_lifted(
    api: Any, engineer: Any, officer: Any, system: Any, base_model: Any
) -> None:
    from governance.models import ErasureRequest, SuppressedKey
    from retrieval.models import Document

    collection = knowledge_base(engineer, system)
    kept = Document.objects.create(
        collection=collection, external_id="case-1", source_type="txt", sha256="1" * 64, subject_keys=["k-1"]
    )
    Document.objects.create(
        collection=collection, external_id="case-2", source_type="txt", sha256="2" * 64, subject_keys=["k-2"]
    )
    request = ErasureRequest.objects.create(reference="DSR-9", due_at=timezone.now())
    suppression = SuppressedKey.objects.create(key="k-1", key_type="email", request=request)
    created = request_deployment(api(engineer), system, base_model, collection=collection.pk)

    gates_now = api(engineer).get(f"/api/v1/deployments/{created.json()['id']}/gates/").json()["gates"]

    [failure] = [g for g in gates_now if g["status"] == "failed"]
    assert failure["code"] == "collection_suppressed_subject"
    assert failure["details"] == {"documents": [kept.pk]}
    SuppressedKey.objects.filter(pk=suppression.pk).update(
        lifted_at=timezone.now(), lift_reason="Consent given again"
    )
    again = api(engineer).get(f"/api/v1/deployments/{created.json()['id']}/gates/").json()
    assert again["passed"] is True


def test_the_admin_approve_action_refuses_the_requester_with_the_services_message(
    client: Any, officer: Any, system: Any, base_model: Any
) -> None:
    own = deployments.deployment_request(
        actor=officer, ai_system=system, base_model=base_model, environment="staging"
    )
    client.force_login(officer)

    response = client.post(
        "/admin/governance/deployment/",
        {"action": "approve", "_selected_action": [own.pk], "index": 0},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"{own}: four eyes: the person who requested a deployment does not approve it"]
    assert Deployment.objects.get(pk=own.pk).status == "requested"


def test_the_admin_change_page_shows_every_gate_and_its_remedy(
    client: Any, officer: Any, engineer: Any, base_model: Any
) -> None:
    unrecorded = systems.ai_system_create(
        actor=engineer, owner=engineer, name="Unclassified", intended_purpose="x"
    )
    row = deployments.deployment_request(
        actor=engineer, ai_system=unrecorded, base_model=base_model, environment="staging"
    )
    client.force_login(officer)

    page = client.get(f"/admin/governance/deployment/{row.pk}/change/").content.decode()

    for gate in gates.registered("deployment"):
        assert f"<td>{gate.code}</td>" in page
    assert "no compliance officer has recorded the AI system&#x27;s risk class" in page
    assert "a compliance officer records the risk class" in page


def test_a_fact_longer_than_the_limit_is_refused_and_nothing_changes(
    api: Any, officer: Any, system: Any
) -> None:
    response = api(officer).patch(
        f"/api/v1/ai-systems/{system.pk}/", {"instructions_for_use": "x" * 20_001}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "instructions_for_use": ["Ensure this field has no more than 20000 characters."]
    }
    system.refresh_from_db()
    assert system.instructions_for_use == ""
