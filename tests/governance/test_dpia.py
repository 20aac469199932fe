"""The DPIA workflow (CNIL PIA structure): API, admin actions, four-eyes review and expiry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from governance.choices import DPIAStatus
from governance.models import DPIA, AuditEvent
from governance.roles import ROLES
from governance.selectors.registers import dpia_effective_for_dataset
from governance.services.dpia import dpia_approve, dpia_expire_due, dpia_reject, dpia_submit
from governance.tasks import expire_dpias
from tests.factories import AISystemFactory, DatasetFactory, DPIAFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/dpias/"

SECTIONS = {
    "context": "Support tickets fine-tune an assistant that drafts answers.",
    "necessity_proportionality": "Only tickets from the last six months; signatures removed.",
    "data_subject_rights": "Access and erasure through the platform's erasure requests.",
    "illegitimate_access_likelihood": "limited",
    "illegitimate_access_severity": "significant",
    "unwanted_modification_likelihood": "negligible",
    "unwanted_modification_severity": "limited",
    "disappearance_likelihood": "negligible",
    "disappearance_severity": "limited",
    "planned_measures": "Encryption at rest, role-based access, hold-out kept apart.",
}
REQUIRED = [
    "context", "necessity_proportionality", "data_subject_rights",
    "illegitimate_access_likelihood", "illegitimate_access_severity",
    "unwanted_modification_likelihood", "unwanted_modification_severity",
    "disappearance_likelihood", "disappearance_severity", "planned_measures",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _role_groups(db: None) -> None:
    # A transactional test's flush elsewhere removes the groups that migration 0002 created.
    for name in ROLES:
        Group.objects.get_or_create(name=name)


@pytest.fixture
def system(engineer: Any) -> Any:
    return AISystemFactory(owner=engineer)


@pytest.fixture
def dataset(engineer: Any) -> Any:
    return DatasetFactory(owner=engineer, contains_personal_data=True)


def _create(client: Any, system: Any, **fields: Any) -> dict[str, Any]:
    response = client.post(URL, {"title": "Helpdesk DPIA", "ai_system": system.pk, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _in_review(client: Any, system: Any, **fields: Any) -> dict[str, Any]:
    record = _create(client, system, **SECTIONS, **fields)
    response = client.post(f"{URL}{record['id']}/submit/")
    assert response.status_code == 200, response.content
    return response.json()


def _events(action: str, pk: int) -> int:
    return AuditEvent.objects.filter(action=action, object_type="governance.dpia", object_id=str(pk)).count()


def _error(response: Any) -> str:
    return response.json()["error"]["code"]


def _approved_by_services(author: Any, reviewer: Any, datasets: list[Any] | None = None) -> DPIA:
    record = DPIAFactory(created_by=author)
    if datasets:
        record.datasets.set(datasets)
    dpia_submit(actor=author, dpia=record)
    return dpia_approve(actor=reviewer, dpia=record)


# --- Drafting --------------------------------------------------------------------------------------


def test_an_engineer_creates_a_draft_dpia_linked_to_a_system_and_datasets(
    api: Any, engineer: Any, system: Any, dataset: Any
) -> None:
    body = _create(api(engineer), system, datasets=[dataset.pk], **SECTIONS)
    assert (body["status"], body["ai_system"], body["datasets"]) == ("draft", system.pk, [dataset.pk])
    assert body["created_by"] == "engineer"
    assert body["illegitimate_access_severity"] == "significant"
    event = AuditEvent.objects.get(action="dpia.created")
    assert event.payload == {"ai_system": system.pk, "datasets": [dataset.pk]}
    assert event.actor == "engineer"


def test_an_invalid_risk_level_is_refused_and_nothing_is_stored(api: Any, engineer: Any, system: Any) -> None:
    response = api(engineer).post(
        URL, {"title": "x", "ai_system": system.pk, "disappearance_severity": "catastrophic"}, format="json"
    )
    assert response.status_code == 400
    assert _error(response) == "validation_failed"
    assert not DPIA.objects.exists()
    assert not AuditEvent.objects.exists()


def test_the_author_edits_a_draft_and_the_change_is_audited(api: Any, engineer: Any, system: Any) -> None:
    record = _create(api(engineer), system)
    response = api(engineer).patch(f"{URL}{record['id']}/", {"context": "New context."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["context"] == "New context."
    event = AuditEvent.objects.get(action="dpia.updated")
    assert event.payload == {"changed": ["context"]}


def test_submitting_an_incomplete_draft_is_refused_with_the_missing_sections(
    api: Any, engineer: Any, system: Any
) -> None:
    record = _create(api(engineer), system, context="Only the context so far.")
    response = api(engineer).post(f"{URL}{record['id']}/submit/")
    assert response.status_code == 400
    assert _error(response) == "dpia_incomplete"
    assert response.json()["error"]["details"]["missing"] == [f for f in REQUIRED if f != "context"]
    assert DPIA.objects.get(pk=record["id"]).status == DPIAStatus.DRAFT
    assert _events("dpia.submitted", record["id"]) == 0


def test_the_dpo_opinion_is_not_needed_to_go_to_review(api: Any, engineer: Any, system: Any) -> None:
    body = _in_review(api(engineer), system)
    assert body["status"] == "in_review"
    assert body["submitted_at"] is not None
    assert _events("dpia.submitted", body["id"]) == 1


def test_submitting_a_dpia_already_in_review_changes_nothing(api: Any, engineer: Any, system: Any) -> None:
    body = _in_review(api(engineer), system)
    response = api(engineer).post(f"{URL}{body['id']}/submit/")
    assert response.status_code == 200
    assert response.json()["submitted_at"] == body["submitted_at"]
    assert _events("dpia.submitted", body["id"]) == 1


# --- Review --------------------------------------------------------------------------------------


def test_an_officer_who_is_not_the_author_approves_it(
    api: Any, engineer: Any, officer: Any, system: Any
) -> None:
    record = _in_review(api(engineer), system)
    response = api(officer).post(f"{URL}{record['id']}/approve/", {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    expected_due = timezone.localdate() + dt.timedelta(days=settings.DPIA_REVIEW_DAYS)
    assert (body["status"], body["reviewer"]) == ("approved", "officer")
    assert body["approved_at"] is not None
    assert body["review_due"] == expected_due.isoformat()
    assert settings.DPIA_REVIEW_DAYS == 365
    event = AuditEvent.objects.get(action="dpia.approved")
    assert (event.actor, event.object_id) == ("officer", str(record["id"]))
    assert event.payload == {"review_due": expected_due.isoformat()}


def test_an_officer_may_set_the_review_date(api: Any, engineer: Any, officer: Any, system: Any) -> None:
    record = _in_review(api(engineer), system)
    due = (timezone.localdate() + dt.timedelta(days=90)).isoformat()
    response = api(officer).post(f"{URL}{record['id']}/approve/", {"review_due": due}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["review_due"] == due


def test_a_review_date_in_the_past_is_refused(api: Any, engineer: Any, officer: Any, system: Any) -> None:
    record = _in_review(api(engineer), system)
    response = api(officer).post(f"{URL}{record['id']}/approve/", {"review_due": "2000-01-01"}, format="json")
    assert response.status_code == 400
    assert _error(response) == "invalid_review_due"
    assert DPIA.objects.get(pk=record["id"]).status == DPIAStatus.IN_REVIEW
    assert _events("dpia.approved", record["id"]) == 0


def test_approving_twice_is_a_conflict_and_records_one_event(
    api: Any, engineer: Any, officer: Any, system: Any
) -> None:
    record = _in_review(api(engineer), system)
    first = api(officer).post(f"{URL}{record['id']}/approve/", {}, format="json")
    assert first.status_code == 200
    second = api(officer).post(f"{URL}{record['id']}/approve/", {}, format="json")
    assert second.status_code == 409
    assert _error(second) == "invalid_transition"
    assert second.json()["error"]["details"] == {"status": "approved", "action": "approve"}
    assert _events("dpia.approved", record["id"]) == 1
    assert (
        DPIA.objects.get(pk=record["id"]).approved_at.isoformat().startswith(first.json()["approved_at"][:19])
    )


def test_approving_a_draft_is_a_conflict(api: Any, engineer: Any, officer: Any, system: Any) -> None:
    record = _create(api(engineer), system, **SECTIONS)
    response = api(officer).post(f"{URL}{record['id']}/approve/", {}, format="json")
    assert response.status_code == 409
    assert _error(response) == "invalid_transition"
    assert DPIA.objects.get(pk=record["id"]).status == DPIAStatus.DRAFT


def test_the_author_cannot_approve_their_own_dpia(api: Any, officer: Any, officer2: Any, system: Any) -> None:
    record = _in_review(api(officer), system)
    response = api(officer).post(f"{URL}{record['id']}/approve/", {}, format="json")
    assert response.status_code == 403
    assert _error(response) == "author_cannot_review"
    stored = DPIA.objects.get(pk=record["id"])
    assert (stored.status, stored.reviewer, stored.approved_at) == (DPIAStatus.IN_REVIEW, None, None)
    assert _events("dpia.approved", record["id"]) == 0
    assert api(officer2).post(f"{URL}{record['id']}/approve/", {}, format="json").status_code == 200


def test_the_author_cannot_reject_their_own_dpia(api: Any, officer: Any, system: Any) -> None:
    record = _in_review(api(officer), system)
    response = api(officer).post(f"{URL}{record['id']}/reject/", {"comment": "Not good."}, format="json")
    assert response.status_code == 403
    assert _error(response) == "author_cannot_review"
    assert DPIA.objects.get(pk=record["id"]).status == DPIAStatus.IN_REVIEW


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_an_engineer_cannot_review_a_dpia(
    api: Any, engineer: Any, officer: Any, system: Any, action: str
) -> None:
    record = _in_review(api(officer), system)
    response = api(engineer).post(f"{URL}{record['id']}/{action}/", {"comment": "Looks fine."}, format="json")
    assert response.status_code == 403
    stored = DPIA.objects.get(pk=record["id"])
    assert (stored.status, stored.reviewer) == (DPIAStatus.IN_REVIEW, None)
    assert AuditEvent.objects.filter(action__in=["dpia.approved", "dpia.rejected"]).count() == 0


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "", {"title": "Auditor's DPIA"}),
        ("patch", "{id}/", {"context": "Changed by an auditor."}),
        ("post", "{id}/submit/", {}),
        ("post", "{id}/approve/", {}),
        ("post", "{id}/reject/", {"comment": "No."}),
    ],
    ids=["create", "edit", "submit", "approve", "reject"],
)
def test_an_auditor_cannot_change_anything(
    api: Any, engineer: Any, auditor: Any, system: Any, method: str, path: str, data: dict[str, Any]
) -> None:
    record = _create(api(engineer), system, **SECTIONS)
    before = list(DPIA.objects.values())
    events = AuditEvent.objects.count()
    if "title" in data:
        data = {**data, "ai_system": system.pk}
    response = getattr(api(auditor), method)(URL + path.format(id=record["id"]), data, format="json")
    assert response.status_code == 403
    assert list(DPIA.objects.values()) == before
    assert AuditEvent.objects.count() == events


def test_an_auditor_reads_dpias(api: Any, engineer: Any, auditor: Any, system: Any) -> None:
    record = _create(api(engineer), system)
    assert api(auditor).get(URL).json()["count"] == 1
    assert api(auditor).get(f"{URL}{record['id']}/").status_code == 200


@pytest.mark.parametrize("data", [{}, {"comment": ""}, {"comment": "   "}], ids=["missing", "empty", "blank"])
def test_a_rejection_needs_a_comment(
    api: Any, engineer: Any, officer: Any, system: Any, data: dict[str, Any]
) -> None:
    record = _in_review(api(engineer), system)
    response = api(officer).post(f"{URL}{record['id']}/reject/", data, format="json")
    assert response.status_code == 400
    assert DPIA.objects.get(pk=record["id"]).status == DPIAStatus.IN_REVIEW
    assert _events("dpia.rejected", record["id"]) == 0


def test_a_rejected_dpia_can_be_resubmitted_and_approved(
    api: Any, engineer: Any, officer: Any, system: Any
) -> None:
    record = _in_review(api(engineer), system)
    response = api(officer).post(
        f"{URL}{record['id']}/reject/", {"comment": "Measures too vague."}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["review_comment"]) == (
        "rejected",
        "Measures too vague.",
    )
    assert _events("dpia.rejected", record["id"]) == 1
    resubmitted = api(engineer).post(f"{URL}{record['id']}/submit/")
    assert resubmitted.status_code == 200
    assert resubmitted.json()["status"] == "in_review"
    assert _events("dpia.submitted", record["id"]) == 2
    approved = api(officer).post(f"{URL}{record['id']}/approve/", {}, format="json")
    assert approved.json()["status"] == "approved"


def test_the_author_can_edit_a_rejected_dpia_before_resubmitting_it(
    api: Any, engineer: Any, officer: Any, system: Any
) -> None:
    record = _in_review(api(engineer), system)
    api(officer).post(f"{URL}{record['id']}/reject/", {"comment": "Measures too vague."}, format="json")
    response = api(engineer).patch(
        f"{URL}{record['id']}/",
        {"planned_measures": "AES-256 at rest, quarterly access review."},
        format="json",
    )
    assert response.status_code == 200, response.content
    resubmitted = api(engineer).post(f"{URL}{record['id']}/submit/")
    assert resubmitted.json()["status"] == "in_review"
    assert resubmitted.json()["planned_measures"] == "AES-256 at rest, quarterly access review."


@pytest.mark.parametrize("reviewed", [False, True], ids=["in_review", "approved"])
def test_a_dpia_past_drafting_cannot_be_edited(
    api: Any, engineer: Any, officer: Any, system: Any, reviewed: bool
) -> None:
    record = _in_review(api(engineer), system)
    if reviewed:
        api(officer).post(f"{URL}{record['id']}/approve/", {}, format="json")
    events = AuditEvent.objects.count()
    response = api(engineer).patch(
        f"{URL}{record['id']}/", {"context": "Rewritten afterwards."}, format="json"
    )
    assert response.status_code == 409
    assert _error(response) == "dpia_not_draft"
    assert DPIA.objects.get(pk=record["id"]).context == SECTIONS["context"]
    assert AuditEvent.objects.count() == events


# --- Expiry and the effective DPIA ---------------------------------------------------------------


def _set_due(record: DPIA, days_from_today: int) -> None:
    DPIA.objects.filter(pk=record.pk).update(
        review_due=timezone.localdate() + dt.timedelta(days=days_from_today)
    )


def test_expiry_moves_only_approved_dpias_past_their_review_date(engineer: Any, officer: Any) -> None:
    overdue = _approved_by_services(engineer, officer)
    _set_due(overdue, -1)
    due_today = _approved_by_services(engineer, officer)
    _set_due(due_today, 0)
    current = _approved_by_services(engineer, officer)
    in_review = DPIAFactory(created_by=engineer)
    dpia_submit(actor=engineer, dpia=in_review)

    assert dpia_expire_due() == 1
    statuses = dict(DPIA.objects.values_list("pk", "status"))
    assert statuses == {
        overdue.pk: DPIAStatus.EXPIRED,
        due_today.pk: DPIAStatus.APPROVED,
        current.pk: DPIAStatus.APPROVED,
        in_review.pk: DPIAStatus.IN_REVIEW,
    }
    event = AuditEvent.objects.get(action="dpia.expired")
    assert (event.object_id, event.actor) == (str(overdue.pk), "system")


def test_running_the_expiry_twice_records_one_event_per_dpia(engineer: Any, officer: Any) -> None:
    first, second = _approved_by_services(engineer, officer), _approved_by_services(engineer, officer)
    _set_due(first, -10)
    _set_due(second, -1)
    assert dpia_expire_due() == 2
    assert dpia_expire_due() == 0
    assert _events("dpia.expired", first.pk) == 1
    assert _events("dpia.expired", second.pk) == 1


def test_the_expiry_task_expires_due_dpias(engineer: Any, officer: Any) -> None:
    record = _approved_by_services(engineer, officer)
    _set_due(record, -1)
    assert expire_dpias() == 1
    assert DPIA.objects.get(pk=record.pk).status == DPIAStatus.EXPIRED
    assert _events("dpia.expired", record.pk) == 1


def test_an_expired_dpia_cannot_be_approved_again(api: Any, engineer: Any, officer: Any) -> None:
    record = _approved_by_services(engineer, officer)
    _set_due(record, -1)
    dpia_expire_due()
    response = api(officer).post(f"{URL}{record.pk}/approve/", {}, format="json")
    assert response.status_code == 409
    assert _error(response) == "invalid_transition"


def test_the_effective_dpia_is_the_approved_one_covering_the_dataset(
    engineer: Any, officer: Any, dataset: Any
) -> None:
    approved = _approved_by_services(engineer, officer, datasets=[dataset])
    _approved_by_services(engineer, officer, datasets=[DatasetFactory(owner=engineer)])
    assert dpia_effective_for_dataset(dataset) == approved


def test_the_effective_dpia_is_the_most_recently_approved(engineer: Any, officer: Any, dataset: Any) -> None:
    _approved_by_services(engineer, officer, datasets=[dataset])
    newer = _approved_by_services(engineer, officer, datasets=[dataset])
    assert dpia_effective_for_dataset(dataset) == newer


def test_drafts_reviews_and_rejections_are_not_effective(engineer: Any, officer: Any, dataset: Any) -> None:
    draft = DPIAFactory(created_by=engineer)
    in_review = DPIAFactory(created_by=engineer)
    rejected = DPIAFactory(created_by=engineer)
    for record in (draft, in_review, rejected):
        record.datasets.set([dataset])
    dpia_submit(actor=engineer, dpia=in_review)
    dpia_submit(actor=engineer, dpia=rejected)
    dpia_reject(actor=officer, dpia=rejected, comment="Incomplete risk analysis.")
    assert dpia_effective_for_dataset(dataset) is None


def test_a_dpia_past_its_review_date_is_not_effective_even_before_the_expiry_job(
    engineer: Any, officer: Any, dataset: Any
) -> None:
    record = _approved_by_services(engineer, officer, datasets=[dataset])
    _set_due(record, -1)
    assert dpia_effective_for_dataset(dataset) is None
    dpia_expire_due()
    assert dpia_effective_for_dataset(dataset) is None


def test_a_dpia_due_today_is_still_effective(engineer: Any, officer: Any, dataset: Any) -> None:
    record = _approved_by_services(engineer, officer, datasets=[dataset])
    _set_due(record, 0)
    assert dpia_effective_for_dataset(dataset) == record


# --- Admin -----------------------------------------------------------------------------------------

CHANGELIST = "/admin/governance/dpia/"


def _admin(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _admin_action(user: Any, action: str, *records: DPIA) -> Any:
    data = {
        "action": action,
        "_selected_action": [str(r.pk) for r in records],
        "index": "0",
        "select_across": "0",
    }
    return _admin(user).post(CHANGELIST, data)


def _messages(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m.message)) for m in get_messages(response.wsgi_request)]


def _review(author: Any) -> DPIA:
    record = DPIAFactory(created_by=author)
    return dpia_submit(actor=author, dpia=record)


def test_an_officer_approves_a_dpia_from_the_admin(engineer: Any, officer: Any) -> None:
    record = _review(engineer)
    response = _admin_action(officer, "approve", record)
    assert response.status_code == 302
    record.refresh_from_db()
    assert (record.status, record.reviewer) == (DPIAStatus.APPROVED, officer)
    assert record.review_due == timezone.localdate() + dt.timedelta(days=settings.DPIA_REVIEW_DAYS)
    assert _events("dpia.approved", record.pk) == 1
    assert _messages(response) == [("success", "Approved: 1 DPIA(s)")]


def test_an_officer_submits_a_draft_from_the_admin(engineer: Any, officer: Any) -> None:
    record = DPIAFactory(created_by=engineer)
    response = _admin_action(officer, "submit_for_review", record)
    assert response.status_code == 302
    assert DPIA.objects.get(pk=record.pk).status == DPIAStatus.IN_REVIEW
    assert _events("dpia.submitted", record.pk) == 1


def test_an_officer_rejects_a_dpia_from_the_admin_with_a_comment(engineer: Any, officer: Any) -> None:
    record = _review(engineer)
    _admin_action(officer, "reject", record)
    record.refresh_from_db()
    assert (record.status, record.reviewer) == (DPIAStatus.REJECTED, officer)
    assert record.review_comment
    assert _events("dpia.rejected", record.pk) == 1


def test_the_admin_refuses_an_authors_own_approval_and_changes_nothing(officer: Any) -> None:
    record = _review(officer)
    response = _admin_action(officer, "approve", record)
    stored = DPIA.objects.get(pk=record.pk)
    assert (stored.status, stored.reviewer, stored.approved_at) == (DPIAStatus.IN_REVIEW, None, None)
    assert _events("dpia.approved", record.pk) == 0
    assert _messages(response) == [("error", f"{record.title}: the author of a DPIA cannot review it")]


def test_the_admin_refuses_an_engineers_approval(engineer: Any, officer: Any) -> None:
    record = _review(officer)
    response = _admin_action(engineer, "approve", record)
    assert DPIA.objects.get(pk=record.pk).status == DPIAStatus.IN_REVIEW
    # The policy keeps the action off an engineer's menu, so Django reports that none was chosen.
    assert _messages(response) == [("warning", "No action selected.")]


def test_an_admin_action_over_several_dpias_approves_those_it_may(engineer: Any, officer: Any) -> None:
    others, own = _review(engineer), _review(officer)
    response = _admin_action(officer, "approve", others, own)
    assert DPIA.objects.get(pk=others.pk).status == DPIAStatus.APPROVED
    assert DPIA.objects.get(pk=own.pk).status == DPIAStatus.IN_REVIEW
    assert sorted(level for level, _ in _messages(response)) == ["error", "success"]


@pytest.mark.parametrize("model", ["aisystem", "dataset", "dpia"])
def test_the_admin_add_and_change_pages_render_for_an_officer(
    engineer: Any, officer: Any, model: str
) -> None:
    factories = {"aisystem": AISystemFactory, "dataset": DatasetFactory, "dpia": DPIAFactory}
    record = factories[model](created_by=engineer)
    client = _admin(officer)
    assert client.get(f"/admin/governance/{model}/add/").status_code == 200
    assert client.get(f"/admin/governance/{model}/{record.pk}/change/").status_code == 200
    assert client.get(f"/admin/governance/{model}/").status_code == 200


def _dpia_form(record: DPIA, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": record.title,
        "ai_system": str(record.ai_system_id),
        "datasets": [str(pk) for pk in record.datasets.values_list("pk", flat=True)],
        "dpo_opinion": record.dpo_opinion,
        "_save": "Save",
    }
    data.update({name: getattr(record, name) for name in SECTIONS})
    data.update(changes)
    return data


@pytest.mark.parametrize("model", ["aisystem", "dataset", "dpia"])
def test_an_auditor_views_admin_pages_but_cannot_add(engineer: Any, auditor: Any, model: str) -> None:
    factories = {"aisystem": AISystemFactory, "dataset": DatasetFactory, "dpia": DPIAFactory}
    record = factories[model](created_by=engineer)
    client = _admin(auditor)
    assert client.get(f"/admin/governance/{model}/{record.pk}/change/").status_code == 200
    assert client.get(f"/admin/governance/{model}/").status_code == 200
    assert client.get(f"/admin/governance/{model}/add/").status_code == 403


def test_an_auditor_cannot_save_a_dpia_in_the_admin(engineer: Any, auditor: Any) -> None:
    record = DPIAFactory(created_by=engineer)
    response = _admin(auditor).post(
        f"/admin/governance/dpia/{record.pk}/change/", _dpia_form(record, context="Changed by an auditor.")
    )
    assert response.status_code == 403
    assert DPIA.objects.get(pk=record.pk).context == record.context
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("model", "factory", "field"),
    [("aisystem", AISystemFactory, "intended_purpose"), ("dataset", DatasetFactory, "provenance")],
)
def test_an_auditor_cannot_save_a_system_or_dataset_in_the_admin(
    engineer: Any, auditor: Any, model: str, factory: Any, field: str
) -> None:
    record = factory(created_by=engineer)
    before = type(record).objects.values().get(pk=record.pk)
    data = {**before, field: "Changed by an auditor.", "owner": str(engineer.pk), "_save": "Save"}
    data = {key: value for key, value in data.items() if value is not None}
    response = _admin(auditor).post(f"/admin/governance/{model}/{record.pk}/change/", data)
    assert response.status_code == 403
    assert type(record).objects.values().get(pk=record.pk) == before
    assert not AuditEvent.objects.exists()


def test_an_auditor_cannot_run_the_admin_approval(engineer: Any, officer: Any, auditor: Any) -> None:
    record = _review(engineer)
    _admin_action(auditor, "approve", record)
    assert DPIA.objects.get(pk=record.pk).status == DPIAStatus.IN_REVIEW
    assert _events("dpia.approved", record.pk) == 0


def test_the_admin_add_form_creates_a_draft_through_the_service(
    officer: Any, system: Any, dataset: Any
) -> None:
    data = {"title": "Admin DPIA", "ai_system": str(system.pk), "datasets": [str(dataset.pk)], **SECTIONS,
            "dpo_opinion": "", "_save": "Save"}  # fmt: skip
    response = _admin(officer).post("/admin/governance/dpia/add/", data)
    assert response.status_code == 302, response.content
    record = DPIA.objects.get(title="Admin DPIA")
    assert (record.status, record.created_by) == (DPIAStatus.DRAFT, officer)
    assert list(record.datasets.all()) == [dataset]
    assert AuditEvent.objects.get(action="dpia.created").object_id == str(record.pk)


def test_the_admin_change_form_edits_a_draft_through_the_service(engineer: Any, officer: Any) -> None:
    record = DPIAFactory(created_by=engineer)
    response = _admin(officer).post(
        f"/admin/governance/dpia/{record.pk}/change/", _dpia_form(record, context="Edited in the admin.")
    )
    assert response.status_code == 302, response.content
    assert DPIA.objects.get(pk=record.pk).context == "Edited in the admin."
    assert AuditEvent.objects.get(action="dpia.updated").payload == {"changed": ["context"]}


def test_the_admin_does_not_let_an_approved_dpia_be_edited(
    engineer: Any, officer: Any, officer2: Any
) -> None:
    record = _approved_by_services(engineer, officer)
    events = AuditEvent.objects.count()
    response = _admin(officer2).post(
        f"/admin/governance/dpia/{record.pk}/change/", _dpia_form(record, context="Rewritten after approval.")
    )
    assert response.status_code == 403  # an approved DPIA has no change permission: the admin refuses
    assert DPIA.objects.get(pk=record.pk).context == record.context
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_a_dpia_cannot_be_moved_to_another_ai_system(api, engineer) -> None:
    from tests.factories import AISystemFactory

    record = DPIAFactory(created_by=engineer)
    other = AISystemFactory()
    response = api(engineer).patch(f"/api/v1/dpias/{record.pk}/", {"ai_system": other.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ai_system_immutable"
    record.refresh_from_db()
    assert record.ai_system_id != other.pk
