"""The answer register's export: the subject's answer records as stored, with their deployment's facts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from answers import erasure as answer_erasure
from answers import services
from answers.models import AnswerRecord
from governance.models import AuditEvent
from governance.participants import ErasureScope, erasure_participants
from governance.pii.keys import subject_key
from tests.answers.test_answers_admin import light_deployment, make_record
from tests.answers.test_answers_erasure import answered

EMAIL = "ewa.nowakowska@example.org"
OTHER = "piotr.zielinski@example.com"
NAME_KEY = subject_key("person", "Ewa Nowakowska")


def _scope(**extra: Any) -> ErasureScope:
    fields: dict[str, Any] = {
        "request_id": 5,
        "reference": "SAR-2026-005",
        "keys": (subject_key("email", EMAIL),),
    }
    return ErasureScope(**{**fields, **extra})


def _ids(exported: dict[str, Any]) -> list[int]:
    return sorted(item["id"] for item in exported["items"])


@pytest.fixture(autouse=True)
def _regex_engine(settings: Any) -> None:
    settings.PII_ENGINE = "regex"


@pytest.fixture
def register(engineer: Any) -> dict[str, Any]:
    """The subject's answer (with a correction), a second person's, and a namesake's keyed by name only."""
    deployment = light_deployment(engineer)
    deployment.ai_system.recipients = "Support team"
    deployment.ai_system.save()
    subject = answered(deployment, f"Refund for {EMAIL}, order 77?", f"We wrote to {EMAIL} [1].")
    services.answer_feedback(actor=engineer, record=subject, rating=-1, correction=f"Mail {EMAIL} again.")
    other = answered(deployment, f"Invoice for {OTHER}?", "It was sent on Monday [1].")
    namesake = make_record(
        deployment, question_masked="<PERSON> asked where the parcel is.", subject_keys=[NAME_KEY]
    )
    return {
        "deployment": deployment,
        "subject": AnswerRecord.objects.get(pk=subject.pk),
        "other": other,
        "namesake": namesake,
    }


def test_answers_registers_its_export() -> None:
    assert erasure_participants()["answers"].export is answer_erasure.erasure_export


@pytest.mark.django_db
def test_export_returns_exactly_the_subjects_answer_as_stored(register: dict[str, Any]) -> None:
    subject, deployment = register["subject"], register["deployment"]
    assert EMAIL not in subject.question_masked  # what is stored is masked
    assert answer_erasure.erasure_export(_scope())["items"] == [
        {
            "kind": "answer",
            "id": subject.pk,
            "portable": True,
            "deployment": str(deployment),
            "deployment_id": deployment.pk,
            "created_at": subject.created_at.isoformat(),
            "question": subject.question_masked,
            "answer": subject.answer_masked,
            "feedback_rating": -1,
            "feedback_correction": subject.feedback_correction_masked,
            "handoff": False,
            "pii_types": ["EMAIL_ADDRESS"],
        }
    ]
    assert subject.feedback_correction_masked.startswith("Mail ")


@pytest.mark.django_db
def test_export_lists_what_erase_would_redact(register: dict[str, Any]) -> None:
    assert answer_erasure.erasure_find(_scope())["counts"] == {
        "answers": len(answer_erasure.erasure_export(_scope())["items"])
    }


@pytest.mark.django_db
def test_a_second_persons_answer_never_appears(register: dict[str, Any]) -> None:
    exported = answer_erasure.erasure_export(_scope())
    assert register["other"].pk not in _ids(exported)
    assert "Invoice" not in json.dumps(exported)


@pytest.mark.django_db
def test_a_namesakes_answer_is_absent_unless_the_officer_confirmed_it(register: dict[str, Any]) -> None:
    subject, namesake = register["subject"], register["namesake"]
    assert _ids(answer_erasure.erasure_export(_scope(name_keys=(NAME_KEY,)))) == [subject.pk]
    confirmed = answer_erasure.erasure_export(
        _scope(name_keys=(NAME_KEY,), confirmed=frozenset({("answer", namesake.pk)}))
    )
    assert _ids(confirmed) == sorted([subject.pk, namesake.pk])
    item = next(i for i in confirmed["items"] if i["id"] == namesake.pk)
    assert item["question"] == "<PERSON> asked where the parcel is."


@pytest.mark.django_db
def test_the_processing_context_names_the_deployment_its_system_and_recipients(
    register: dict[str, Any],
) -> None:
    deployment = register["deployment"]
    assert answer_erasure.erasure_export(_scope())["processing"] == [
        {
            "register": "deployment",
            "id": deployment.pk,
            "name": str(deployment),
            "ai_system": deployment.ai_system.name,
            "purpose": deployment.ai_system.intended_purpose,
            "legal_basis": "",
            "retention": "not set",
            "recipients": "Support team",
            "source": "questions asked of the staging deployment and the answers it gave",
        }
    ]


@pytest.mark.django_db
def test_a_key_nobody_carries_exports_nothing(register: dict[str, Any]) -> None:
    scope = _scope(keys=(subject_key("email", "nobody@example.org"),))
    assert answer_erasure.erasure_export(scope) == {"items": [], "processing": []}


@pytest.mark.django_db
def test_export_writes_nothing(register: dict[str, Any]) -> None:
    before = (list(AnswerRecord.objects.order_by("pk").values()), AuditEvent.objects.count())
    exported = answer_erasure.erasure_export(
        _scope(name_keys=(NAME_KEY,), confirmed=frozenset({("answer", register["namesake"].pk)}))
    )
    assert json.loads(json.dumps(exported)) == exported
    assert (list(AnswerRecord.objects.order_by("pk").values()), AuditEvent.objects.count()) == before


@pytest.mark.django_db
def test_after_erasure_the_redacted_answer_is_no_longer_the_subjects(register: dict[str, Any]) -> None:
    answer_erasure.erasure_erase(_scope())
    assert answer_erasure.erasure_export(_scope()) == {"items": [], "processing": []}
