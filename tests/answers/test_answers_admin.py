"""The answer register and the prompt templates in the admin: view-only, masked, for the right roles.

The rows are made directly (a deployment on a registered-only base model): the pages read the register,
they do not answer, so no model is loaded here.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from answers import prompting
from answers.models import AnswerRecord, PromptTemplate
from governance.choices import DeploymentStatus
from governance.models import Deployment
from tests.factories import AISystemFactory

pytestmark = pytest.mark.django_db

RECORDS = "/admin/answers/answerrecord/"
TEMPLATES = "/admin/answers/prompttemplate/"


def light_deployment(owner: Any, **fields: Any) -> Deployment:
    """An active deployment whose base model is registered but never loaded (the pages only read)."""
    from training.models import BaseModel

    base = BaseModel.objects.create(
        name="register-only-base", path="/nonexistent/base", architecture="GPT2LMHeadModel",
        model_type="gpt2", parameter_count=1000, max_sequence_length=128, config_sha256="6" * 64,
        status="ready", manifest={"model.safetensors": {"sha256": "7" * 64, "size": 1}},
        manifest_sha256="8" * 64,
    )  # fmt: skip
    values = {
        "ai_system": AISystemFactory(owner=owner),
        "base_model": base,
        "environment": "staging",
        "requested_by": owner,
        "status": DeploymentStatus.ACTIVE,
        **fields,
    }
    return Deployment.objects.create(**values)


def make_record(deployment: Deployment, **fields: Any) -> AnswerRecord:
    values: dict[str, Any] = {
        "deployment": deployment,
        "base_model_id": deployment.base_model_id,
        "prompt_template_version": 0,
        "prompt_template_sha256": prompting.sha256(prompting.DEFAULT_TEMPLATE),
        "backend": deployment.answer_backend,
        "k": 5,
        "question_masked": "Where is my parcel?",
        "answer_masked": "It ships from Warsaw [1].",
        **fields,
    }
    return AnswerRecord.objects.create(**values)


def client_for(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def register(engineer: Any) -> dict[str, AnswerRecord]:
    deployment = light_deployment(engineer)
    return {
        "answered": make_record(
            deployment,
            user=engineer,
            question_masked="Refund for <EMAIL_ADDRESS>, order 77?",
            answer_masked="Refunds reach the card within 14 days [1].",
            pii_summary={"EMAIL_ADDRESS": 1},
            subject_keys=["a" * 64],
            chunks=[{"chunk_id": 11, "document_id": 3, "score": 0.81}],
            timings={"retrieval_ms": 4.2, "generation_ms": 120.5, "total_ms": 130.0},
            tokens_generated=12,
            feedback_rating=-1,
            feedback_correction_masked="Ask <PERSON> at the desk.",
        ),
        "handed_off": make_record(
            deployment,
            question_masked="zxqv blorp?",
            answer_masked="",
            handoff=True,
            handoff_reason="no_relevant_fragment",
            timings={"retrieval_ms": 3.0, "total_ms": 3.5},
        ),
    }


@pytest.mark.parametrize("role", ["officer", "auditor"])
def test_officers_and_auditors_read_the_register_with_masked_texts(
    role: str, register: dict[str, AnswerRecord], request: pytest.FixtureRequest
) -> None:
    client = client_for(request.getfixturevalue(role))
    answered = register["answered"]

    listing = client.get(RECORDS)
    page = client.get(f"{RECORDS}{answered.pk}/change/")

    assert listing.status_code == 200
    html = listing.content.decode()
    assert (
        f"{RECORDS}{answered.pk}/change/" in html and f"{RECORDS}{register['handed_off'].pk}/change/" in html
    )
    assert "handed off: no relevant fragment" in html and "wrong" in html
    assert page.status_code == 200
    text = page.content.decode()
    assert "Refund for &lt;EMAIL_ADDRESS&gt;, order 77?" in text
    assert "Ask &lt;PERSON&gt; at the desk." in text
    assert answered.prompt_template_sha256 in text
    assert f"/admin/governance/deployment/{answered.deployment_id}/change/" in html
    # View-only: no button saves anything.
    for name in ('name="_save"', 'name="_continue"', 'name="_addanother"'):
        assert name not in text
    assert "/delete/" not in text


def test_the_register_search_reads_the_masked_text(officer: Any, register: dict[str, AnswerRecord]) -> None:
    html = client_for(officer).get(RECORDS, {"q": "order 77"}).content.decode()
    assert f"{RECORDS}{register['answered'].pk}/change/" in html
    assert f"{RECORDS}{register['handed_off'].pk}/change/" not in html


@pytest.mark.parametrize("role", ["engineer", "outsider"])
def test_engineers_and_people_without_a_role_are_refused_the_register(
    role: str, register: dict[str, AnswerRecord], request: pytest.FixtureRequest
) -> None:
    client = client_for(request.getfixturevalue(role))
    pk = register["answered"].pk

    for url in (RECORDS, f"{RECORDS}{pk}/change/", f"{RECORDS}{pk}/history/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"order 77" not in response.content


def test_an_anonymous_visitor_is_sent_to_the_login_page(register: dict[str, AnswerRecord]) -> None:
    response = client_for(None).get(f"{RECORDS}{register['answered'].pk}/change/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_no_one_adds_edits_or_deletes_an_answer_record(
    officer: Any, register: dict[str, AnswerRecord]
) -> None:
    client = client_for(officer)
    record = register["answered"]

    assert client.get(f"{RECORDS}add/").status_code == 403
    edited = client.post(f"{RECORDS}{record.pk}/change/", {"question_masked": "rewritten"})
    deleted = client.post(f"{RECORDS}{record.pk}/delete/", {"post": "yes"})

    assert edited.status_code == 403 and deleted.status_code == 403
    record.refresh_from_db()
    assert record.question_masked == "Refund for <EMAIL_ADDRESS>, order 77?"
    assert AnswerRecord.objects.count() == 2


@pytest.mark.parametrize("role", ["officer", "engineer", "auditor"])
def test_prompt_templates_are_view_only_for_every_reader(
    role: str, engineer: Any, request: pytest.FixtureRequest
) -> None:
    deployment = light_deployment(engineer)
    text = "Sources:\n{context}\nQ: {question}"
    template = PromptTemplate.objects.create(
        deployment=deployment, version=1, text=text, sha256=prompting.sha256(text), created_by=engineer
    )
    client = client_for(request.getfixturevalue(role))

    listing = client.get(TEMPLATES)
    page = client.get(f"{TEMPLATES}{template.pk}/change/")
    edited = client.post(f"{TEMPLATES}{template.pk}/change/", {"text": "{question} only", "version": 1})

    assert listing.status_code == 200 and f"{TEMPLATES}{template.pk}/change/" in listing.content.decode()
    assert page.status_code == 200
    html = page.content.decode()
    assert "Sources:" in html and template.sha256 in html
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert client.get(f"{TEMPLATES}add/").status_code == 403
    assert edited.status_code == 403
    template.refresh_from_db()
    assert template.text == text


def test_people_without_a_role_do_not_see_prompt_templates(outsider: Any, engineer: Any) -> None:
    deployment = light_deployment(engineer)
    PromptTemplate.objects.create(deployment=deployment, version=1, text="{question}", sha256="0" * 64)
    assert client_for(outsider).get(TEMPLATES).status_code == 403
