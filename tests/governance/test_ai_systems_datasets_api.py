"""The AI systems and datasets registers via the API: each write audited once, bad input stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from governance.models import AISystem, AuditEvent, Dataset
from tests.factories import AISystemFactory, DatasetFactory

pytestmark = pytest.mark.django_db


def new_events(before: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=before).order_by("sequence"))


def last_sequence() -> int:
    event = AuditEvent.objects.order_by("-sequence").first()
    return event.sequence if event else 0


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code, error
    return error


# --- AI systems -------------------------------------------------------------------------------


def test_an_engineer_registers_an_ai_system_and_owns_it(api: Any, engineer: Any) -> None:
    response = api(engineer).post(
        "/api/v1/ai-systems/",
        {
            "name": "Helpdesk",
            "intended_purpose": "Answers customer questions",
            "risk_class": "limited",
            "approach": "hybrid",
            "human_oversight": "An agent reviews escalations.",
            "evaluation_threshold": 0.7,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Helpdesk"
    assert body["owner"] == "engineer"
    assert (body["risk_class"], body["approach"], body["status"]) == ("limited", "hybrid", "draft")
    assert body["evaluation_threshold"] == 0.7
    system = AISystem.objects.get(pk=body["id"])
    assert system.created_by == engineer
    assert system.owner == engineer


def test_creating_an_ai_system_appends_exactly_one_created_event(api: Any, engineer: Any) -> None:
    before = last_sequence()
    body = (
        api(engineer)
        .post("/api/v1/ai-systems/", {"name": "Helpdesk", "intended_purpose": "Answers"}, format="json")
        .json()
    )

    events = new_events(before)
    assert [(e.action, e.object_type, e.object_id, e.actor) for e in events] == [
        ("ai_system.created", "governance.aisystem", str(body["id"]), "engineer")
    ]


def test_an_ai_system_can_name_another_owner(api: Any, engineer: Any, officer: Any) -> None:
    response = api(engineer).post(
        "/api/v1/ai-systems/",
        {"name": "Helpdesk", "intended_purpose": "Answers", "owner": "officer"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["owner"] == "officer"


def test_an_unknown_owner_is_400_naming_the_owner_field(api: Any, engineer: Any) -> None:
    response = api(engineer).post(
        "/api/v1/ai-systems/",
        {"name": "Helpdesk", "intended_purpose": "Answers", "owner": "ghost"},
        format="json",
    )
    error = assert_error(response, 400, "validation_failed")
    assert "owner" in error["details"]
    assert not AISystem.objects.exists()


def test_ai_systems_are_listed_and_retrieved(api: Any, auditor: Any) -> None:
    first, second = AISystemFactory(name="Alpha"), AISystemFactory(name="Beta")

    listed = api(auditor).get("/api/v1/ai-systems/").json()
    assert [r["name"] for r in listed["results"]] == ["Alpha", "Beta"]

    detail = api(auditor).get(f"/api/v1/ai-systems/{second.pk}/").json()
    assert (detail["id"], detail["name"], detail["owner"]) == (second.pk, "Beta", second.owner.username)
    assert first.pk != second.pk


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("risk_class", "extreme"),
        ("approach", "magic"),
        ("evaluation_threshold", 1.5),
        ("evaluation_threshold", -0.1),
    ],
)
def test_an_invalid_ai_system_value_is_400_naming_the_field(
    api: Any, engineer: Any, field: str, value: Any
) -> None:
    response = api(engineer).post(
        "/api/v1/ai-systems/",
        {"name": "Helpdesk", "intended_purpose": "Answers", field: value},
        format="json",
    )
    error = assert_error(response, 400, "validation_failed")
    assert list(error["details"]) == [field]
    assert not AISystem.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_duplicate_ai_system_name_is_400_and_records_no_event(api: Any, engineer: Any) -> None:
    AISystemFactory(name="Helpdesk")
    before = last_sequence()

    response = api(engineer).post(
        "/api/v1/ai-systems/", {"name": "Helpdesk", "intended_purpose": "Answers"}, format="json"
    )

    error = assert_error(response, 400, "validation_failed")
    assert "name" in error["details"]
    assert AISystem.objects.count() == 1
    assert new_events(before) == []


def test_patching_an_ai_system_changes_it_and_appends_one_updated_event(api: Any, engineer: Any) -> None:
    system = AISystemFactory(risk_class="minimal")
    before = last_sequence()

    response = api(engineer).patch(
        f"/api/v1/ai-systems/{system.pk}/",
        {"approach": "hybrid", "human_oversight": "Four eyes."},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["approach"] == "hybrid"
    system.refresh_from_db()
    assert (system.approach, system.human_oversight) == ("hybrid", "Four eyes.")
    events = new_events(before)
    assert [(e.action, e.object_id, e.payload) for e in events] == [
        ("ai_system.updated", str(system.pk), {"changed": ["approach", "human_oversight"]})
    ]


def test_a_patch_that_changes_nothing_records_no_event(api: Any, engineer: Any) -> None:
    system = AISystemFactory(risk_class="high")
    before = last_sequence()

    response = api(engineer).patch(f"/api/v1/ai-systems/{system.pk}/", {"risk_class": "high"}, format="json")

    assert response.status_code == 200, response.content
    assert new_events(before) == []


def test_patching_an_invalid_risk_class_is_400_and_changes_nothing(api: Any, engineer: Any) -> None:
    system = AISystemFactory(risk_class="minimal")
    before = last_sequence()

    response = api(engineer).patch(
        f"/api/v1/ai-systems/{system.pk}/", {"risk_class": "extreme"}, format="json"
    )

    assert "risk_class" in assert_error(response, 400, "validation_failed")["details"]
    system.refresh_from_db()
    assert system.risk_class == "minimal"
    assert new_events(before) == []


def test_renaming_an_ai_system_to_a_taken_name_is_400_and_changes_nothing(api: Any, engineer: Any) -> None:
    AISystemFactory(name="Helpdesk")
    other = AISystemFactory(name="Invoices")
    before = last_sequence()

    response = api(engineer).patch(f"/api/v1/ai-systems/{other.pk}/", {"name": "Helpdesk"}, format="json")

    assert "name" in assert_error(response, 400, "validation_failed")["details"]
    other.refresh_from_db()
    assert other.name == "Invoices"
    assert new_events(before) == []


def test_patching_the_owner_of_an_ai_system_changes_it_and_is_audited(
    api: Any, engineer: Any, officer: Any
) -> None:
    # The input serializer accepts `owner`; accepting it and then dropping it would be a silent no-op.
    system = AISystemFactory(owner=engineer)
    before = last_sequence()

    response = api(engineer).patch(f"/api/v1/ai-systems/{system.pk}/", {"owner": "officer"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["owner"] == "officer"
    system.refresh_from_db()
    assert system.owner == officer
    assert [e.action for e in new_events(before)] == ["ai_system.updated"]


# --- Datasets ---------------------------------------------------------------------------------


def test_an_engineer_registers_a_dataset_for_an_ai_system(api: Any, engineer: Any) -> None:
    system = AISystemFactory()
    before = last_sequence()

    response = api(engineer).post(
        "/api/v1/datasets/",
        {
            "name": "Tickets",
            "purpose": "training",
            "legal_basis": "legitimate_interests",
            "provenance": "Ticket export",
            "retention_until": "2030-01-31",
            "ai_systems": [system.pk],
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["purpose"], body["legal_basis"]) == (
        "Tickets",
        "training",
        "legitimate_interests",
    )
    assert body["ai_systems"] == [system.pk]
    assert body["retention_until"] == "2030-01-31"
    assert body["owner"] == "engineer"
    assert body["contains_personal_data"] is False
    events = new_events(before)
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("dataset.created", "governance.dataset", str(body["id"]))
    ]
    assert events[0].payload["ai_systems"] == [system.pk]


def test_a_dataset_can_be_registered_as_holding_personal_data(api: Any, engineer: Any) -> None:
    response = api(engineer).post(
        "/api/v1/datasets/",
        {"name": "CRM", "purpose": "knowledge", "contains_personal_data": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Dataset.objects.get(pk=response.json()["id"]).contains_personal_data is True


def test_datasets_are_listed_retrieved_and_filtered_by_ai_system(api: Any, auditor: Any) -> None:
    system = AISystemFactory()
    linked = DatasetFactory(name="Alpha")
    linked.ai_systems.add(system)
    DatasetFactory(name="Beta")

    listed = api(auditor).get("/api/v1/datasets/").json()
    assert [r["name"] for r in listed["results"]] == ["Alpha", "Beta"]
    filtered = api(auditor).get("/api/v1/datasets/", {"ai_system": system.pk}).json()
    assert [r["id"] for r in filtered["results"]] == [linked.pk]
    detail = api(auditor).get(f"/api/v1/datasets/{linked.pk}/").json()
    assert (detail["name"], detail["ai_systems"]) == ("Alpha", [system.pk])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("purpose", "marketing"),
        ("legal_basis", "because"),
        ("retention_until", "next year"),
        ("ai_systems", [999999]),
    ],
)
def test_an_invalid_dataset_value_is_400_naming_the_field(
    api: Any, engineer: Any, field: str, value: Any
) -> None:
    body = {"name": "Tickets", "purpose": "training", field: value}
    error = assert_error(
        api(engineer).post("/api/v1/datasets/", body, format="json"), 400, "validation_failed"
    )
    assert list(error["details"]) == [field]
    assert not Dataset.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_dataset_without_a_purpose_is_400_naming_purpose(api: Any, engineer: Any) -> None:
    error = assert_error(
        api(engineer).post("/api/v1/datasets/", {"name": "Tickets"}, format="json"), 400, "validation_failed"
    )
    assert list(error["details"]) == ["purpose"]


def test_a_duplicate_dataset_name_is_400_and_records_no_event(api: Any, engineer: Any) -> None:
    DatasetFactory(name="Tickets")
    before = last_sequence()

    response = api(engineer).post(
        "/api/v1/datasets/", {"name": "Tickets", "purpose": "training"}, format="json"
    )

    assert "name" in assert_error(response, 400, "validation_failed")["details"]
    assert Dataset.objects.count() == 1
    assert new_events(before) == []


def test_patching_a_dataset_changes_it_and_appends_one_updated_event(api: Any, engineer: Any) -> None:
    dataset = DatasetFactory(provenance="")
    before = last_sequence()

    response = api(engineer).patch(
        f"/api/v1/datasets/{dataset.pk}/",
        {"provenance": "CRM export", "legal_basis": "contract"},
        format="json",
    )

    assert response.status_code == 200, response.content
    dataset.refresh_from_db()
    assert (dataset.provenance, dataset.legal_basis) == ("CRM export", "contract")
    assert [(e.action, e.payload) for e in new_events(before)] == [
        ("dataset.updated", {"changed": ["legal_basis", "provenance"]})
    ]


def test_patching_the_ai_systems_of_a_dataset_relinks_it(api: Any, engineer: Any) -> None:
    old, new = AISystemFactory(), AISystemFactory()
    dataset = DatasetFactory()
    dataset.ai_systems.add(old)
    before = last_sequence()

    response = api(engineer).patch(f"/api/v1/datasets/{dataset.pk}/", {"ai_systems": [new.pk]}, format="json")

    assert response.status_code == 200, response.content
    assert list(dataset.ai_systems.all()) == [new]
    assert [(e.action, e.payload) for e in new_events(before)] == [
        ("dataset.updated", {"changed": ["ai_systems"]})
    ]


def test_the_personal_data_flag_can_be_raised_by_patch(api: Any, engineer: Any) -> None:
    dataset = DatasetFactory(contains_personal_data=False)
    before = last_sequence()

    response = api(engineer).patch(
        f"/api/v1/datasets/{dataset.pk}/", {"contains_personal_data": True}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["contains_personal_data"] is True
    dataset.refresh_from_db()
    assert dataset.contains_personal_data is True
    assert [(e.action, e.payload) for e in new_events(before)] == [
        ("dataset.updated", {"changed": ["contains_personal_data"]})
    ]


def test_lowering_the_personal_data_flag_is_409_and_changes_nothing(api: Any, engineer: Any) -> None:
    dataset = DatasetFactory(contains_personal_data=True, provenance="CRM export")
    before = last_sequence()

    response = api(engineer).patch(
        f"/api/v1/datasets/{dataset.pk}/", {"contains_personal_data": False}, format="json"
    )

    assert_error(response, 409, "personal_data_flag_cannot_lower")
    dataset.refresh_from_db()
    assert dataset.contains_personal_data is True
    assert new_events(before) == []


def test_a_patch_that_lowers_the_flag_is_refused_whole_with_its_other_changes(
    api: Any, engineer: Any
) -> None:
    dataset = DatasetFactory(contains_personal_data=True, provenance="CRM export")
    before = last_sequence()

    response = api(engineer).patch(
        f"/api/v1/datasets/{dataset.pk}/",
        {"contains_personal_data": False, "provenance": "Anonymised"},
        format="json",
    )

    assert_error(response, 409, "personal_data_flag_cannot_lower")
    dataset.refresh_from_db()
    assert (dataset.contains_personal_data, dataset.provenance) == (True, "CRM export")
    assert new_events(before) == []


def test_sending_false_for_a_dataset_without_personal_data_changes_nothing(api: Any, engineer: Any) -> None:
    dataset = DatasetFactory(contains_personal_data=False)
    before = last_sequence()

    response = api(engineer).patch(
        f"/api/v1/datasets/{dataset.pk}/", {"contains_personal_data": False}, format="json"
    )

    assert response.status_code == 200, response.content
    assert new_events(before) == []


def test_patching_an_invalid_purpose_is_400_and_changes_nothing(api: Any, engineer: Any) -> None:
    dataset = DatasetFactory(purpose="training")
    before = last_sequence()

    response = api(engineer).patch(f"/api/v1/datasets/{dataset.pk}/", {"purpose": "marketing"}, format="json")

    assert list(assert_error(response, 400, "validation_failed")["details"]) == ["purpose"]
    dataset.refresh_from_db()
    assert dataset.purpose == "training"
    assert new_events(before) == []


def test_renaming_a_dataset_to_a_taken_name_is_400_and_changes_nothing(api: Any, engineer: Any) -> None:
    DatasetFactory(name="Tickets")
    other = DatasetFactory(name="Invoices")
    before = last_sequence()

    response = api(engineer).patch(f"/api/v1/datasets/{other.pk}/", {"name": "Tickets"}, format="json")

    assert "name" in assert_error(response, 400, "validation_failed")["details"]
    other.refresh_from_db()
    assert other.name == "Invoices"
    assert new_events(before) == []


def test_the_audit_chain_verifies_after_a_series_of_register_writes(api: Any, engineer: Any) -> None:
    client = api(engineer)
    system = client.post(
        "/api/v1/ai-systems/", {"name": "Helpdesk", "intended_purpose": "x"}, format="json"
    ).json()
    dataset = client.post(
        "/api/v1/datasets/",
        {"name": "Tickets", "purpose": "training", "ai_systems": [system["id"]]},
        format="json",
    ).json()
    client.patch(f"/api/v1/datasets/{dataset['id']}/", {"contains_personal_data": True}, format="json")
    client.patch(f"/api/v1/ai-systems/{system['id']}/", {"human_oversight": "Four eyes."}, format="json")

    verification = client.get("/api/v1/audit-events/verify/").json()

    assert verification["ok"] is True
    assert verification["events_checked"] == 4
