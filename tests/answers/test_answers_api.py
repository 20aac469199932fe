"""The answers API's bad inputs, its register and feedback, the rate limit, isolation, hand-offs and roles.

Each refusal is checked for what it leaves behind too: no answer record, no query log, no audit event.
"""

# ruff: noqa: F811 - fixtures imported by name
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from answers import prompting, ratelimit
from answers.models import AnswerRecord, PromptTemplate
from governance.choices import DeploymentStatus
from governance.models import AuditEvent, Deployment, ErasureRequest, SuppressedKey
from governance.pii.keys import subject_key
from governance.policy import READ, REVIEW, WRITE, roles_allowed
from governance.roles import AUDITOR, COMPLIANCE_OFFICER, ENGINEER
from retrieval.models import Chunk, Collection, QueryLog
from retrieval.services import collections
from retrieval.services.search import collection_query
from tests.answers.conftest import (  # noqa: F401 - fixtures
    TrainedWorld,
    active_deployment,
    adapter,
    approved_dpia,
    demo_model_dir,
    index_knowledge,
    make_deployment,
    make_version,
    trained_world,
    trained_world_fixtures,
)
from tests.conftest import built_once
from tests.retrieval.conftest import doc, ingest_now
from tests.training.conftest import (  # noqa: F401 - autouse fixtures
    FIXTURE_SETTINGS,
    _clear_hooks,
    _training_settings,
    new_ai_system,
    new_version,
    register_base_model,
    train_job,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def _shared(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
    demo_model_dir: Any,
) -> Iterator[TrainedWorld]:
    """The rows behind `active_deployment`, made once for the module's ~90 tests.

    A trained job (with its hold-out evaluations), a scanned dataset version and an indexed collection
    cost several times what one of these tests does. They are the rows the fixtures of the same names
    make (tests/training/conftest.py, tests/answers/conftest.py); each test's writes are rolled back
    (tests.conftest.built_once), so each still starts from exactly these.
    """
    yield from built_once(
        django_db_blocker, tmp_path_factory, lambda: trained_world(demo_model_dir), **FIXTURE_SETTINGS
    )


@pytest.fixture(autouse=True)
def _no_answers_counted(_shared: TrainedWorld, settings: Any) -> None:
    """The module's engineer is one user for every test: none of its answers count, as for a new user.

    The rate limit counts answers per user id in Redis (answers.ratelimit), outside the rolled-back
    transaction; without this the answers of earlier tests would count against a later one.
    """
    client = ratelimit._client(settings.REDIS_URL)
    prefix = settings.DATABASES["default"]["NAME"]
    for key in client.scan_iter(f"answers:rate:{prefix}:{_shared.engineer.pk}:*"):
        client.delete(key)


engineer, ai_system, base_model, version, trained_job, knowledge = trained_world_fixtures()


QUESTION = "How long do refunds take to reach my card?"
EMAIL = "jan.kowalski@example.org"
SECRET = "PURPLE-OTTER-7731"


def answer(client: Any, deployment: Deployment, **body: Any) -> Any:
    return client.post(f"/api/v1/deployments/{deployment.pk}/answer/", body, format="json")


def code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def nothing_recorded() -> bool:
    return not AnswerRecord.objects.exists() and not QueryLog.objects.exists()


def record_for(deployment: Deployment, **fields: Any) -> AnswerRecord:
    """An answer record as the service writes one (texts already masked)."""
    values: dict[str, Any] = {
        "deployment": deployment,
        "base_model_id": deployment.base_model_id,
        "adapter_version_id": deployment.adapter_version_id,
        "collection_id": deployment.collection_id,
        "prompt_template_version": 0,
        "prompt_template_sha256": prompting.sha256(prompting.DEFAULT_TEMPLATE),
        "backend": deployment.answer_backend,
        "k": 5,
        "question_masked": "Where is my parcel?",
        "answer_masked": "It ships from Warsaw [1].",
        **fields,
    }
    return AnswerRecord.objects.create(**values)


# --- A deployment that is not active --------------------------------------------------------------


@pytest.mark.parametrize("status", [DeploymentStatus.REQUESTED, DeploymentStatus.RETIRED])
def test_a_deployment_that_is_not_active_does_not_answer(
    api: Any, engineer: Any, make_deployment: Callable[..., Deployment], status: str
) -> None:
    deployment = make_deployment(status=status)

    response = answer(api(engineer), deployment, question=QUESTION, max_new_tokens=2)

    assert response.status_code == 409, response.content
    assert code(response) == "deployment_not_active"
    assert response.json()["error"]["details"]["status"] == status
    assert nothing_recorded()


def test_a_blocked_deployment_says_why_it_is_blocked(
    api: Any, engineer: Any, make_deployment: Callable[..., Deployment]
) -> None:
    reason = {
        "gate": "dpia_approved",
        "status": "failed",
        "code": "dpia_missing",
        "message": "no approved DPIA covers the system",
        "remedy": "approve a DPIA",
    }
    deployment = make_deployment(
        status=DeploymentStatus.BLOCKED, blocked_reasons=[reason], blocked_from=DeploymentStatus.ACTIVE
    )

    response = answer(api(engineer), deployment, question=QUESTION, max_new_tokens=2)

    assert response.status_code == 409 and code(response) == "deployment_not_active"
    details = response.json()["error"]["details"]
    assert details["status"] == "blocked"
    assert details["blocked_reasons"] == [
        {"code": "dpia_missing", "message": "no approved DPIA covers the system", "remedy": "approve a DPIA"}
    ]
    assert nothing_recorded()


# --- Bad inputs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "expected"),
    [(0, "invalid_k"), (21, "invalid_k"), ("3", "validation_failed"), (True, "validation_failed")],
)
def test_k_out_of_range_or_not_an_integer_is_refused(
    api: Any, engineer: Any, active_deployment: Deployment, k: Any, expected: str
) -> None:
    response = answer(api(engineer), active_deployment, question=QUESTION, k=k)

    assert response.status_code == 400, response.content
    assert code(response) == expected
    assert nothing_recorded()


def test_max_new_tokens_as_large_as_the_model_s_context_is_refused_before_retrieval(
    api: Any, engineer: Any, active_deployment: Deployment
) -> None:
    context = active_deployment.base_model.max_sequence_length

    response = answer(api(engineer), active_deployment, question=QUESTION, max_new_tokens=context)

    assert response.status_code == 400, response.content
    assert code(response) == "max_new_tokens_too_large"
    assert response.json()["error"]["details"]["context"] == context
    assert nothing_recorded()


def test_max_new_tokens_that_leave_too_little_room_for_the_prompt_are_refused(
    api: Any, engineer: Any, active_deployment: Deployment
) -> None:
    context = active_deployment.base_model.max_sequence_length

    response = answer(api(engineer), active_deployment, question=QUESTION, max_new_tokens=context - 2)

    assert response.status_code == 400, response.content
    assert code(response) == "max_new_tokens_too_large"
    details = response.json()["error"]["details"]
    assert details["prompt_tokens"] + context - 2 > context
    assert not AnswerRecord.objects.exists()


def test_max_new_tokens_over_the_platform_s_maximum_is_refused(
    api: Any, engineer: Any, active_deployment: Deployment, settings: Any
) -> None:
    over_default = answer(
        api(engineer), active_deployment, question=QUESTION, max_new_tokens=settings.ANSWER_MAX_NEW_TOKENS + 1
    )
    settings.ANSWER_MAX_NEW_TOKENS = 16
    over_lowered = answer(api(engineer), active_deployment, question=QUESTION, max_new_tokens=17)

    for response in (over_default, over_lowered):
        assert response.status_code == 400, response.content
        assert code(response) == "invalid_max_new_tokens"
    assert nothing_recorded()


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("", "empty_question"),
        (" \n\t ", "empty_question"),
        ("x" * 2001, "question_too_long"),
        (None, "validation_failed"),
        (42, "validation_failed"),
    ],
)
def test_an_empty_whitespace_too_long_or_non_text_question_is_refused(
    api: Any, engineer: Any, active_deployment: Deployment, question: Any, expected: str, settings: Any
) -> None:
    settings.ANSWER_MAX_QUESTION_CHARS = 2000

    response = answer(api(engineer), active_deployment, question=question)

    assert response.status_code == 400, response.content
    assert code(response) == expected
    assert nothing_recorded()


def test_a_missing_question_or_an_unknown_field_is_refused(
    api: Any, engineer: Any, active_deployment: Deployment
) -> None:
    missing = answer(api(engineer), active_deployment, k=3)
    unknown = answer(api(engineer), active_deployment, question=QUESTION, temperature=0.2)

    assert missing.status_code == 400 and code(missing) == "validation_failed"
    assert unknown.status_code == 400 and code(unknown) == "unknown_field"
    assert unknown.json()["error"]["details"]["field"] == "temperature"
    assert nothing_recorded()


# --- Prompt templates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello {name}: {question}", "unknown_placeholder"),
        ("{question.__class__}", "unknown_placeholder"),
        ("{0} {question}", "unknown_placeholder"),
        ("{question!r}", "unknown_placeholder"),
        ("{question:>{context}}", "unknown_placeholder"),
        ("Question: {question", "malformed_template"),
        ("Question: {question} }", "malformed_template"),
        ("Only {context}", "missing_placeholder"),
        ("   ", "empty_template"),
    ],
)
def test_a_prompt_template_with_an_unknown_or_broken_placeholder_is_refused(
    api: Any, engineer: Any, active_deployment: Deployment, text: str, expected: str
) -> None:
    events = AuditEvent.objects.count()

    response = api(engineer).post(
        f"/api/v1/deployments/{active_deployment.pk}/prompt-templates/", {"text": text}, format="json"
    )

    assert response.status_code == 400, response.content
    assert code(response) == expected
    assert not PromptTemplate.objects.exists()
    assert AuditEvent.objects.count() == events


def test_prompt_templates_are_versioned_audited_and_used_by_the_next_answer(
    api: Any, engineer: Any, officer: Any, active_deployment: Deployment
) -> None:
    url = f"/api/v1/deployments/{active_deployment.pk}/prompt-templates/"
    first_text = "Fragments:\n{context}\n\nQ: {question}\nA:"
    second_text = "Use the sources {{numbered}} below.\n{context}\nQuestion: {question}\nAnswer:"

    first = api(engineer).post(url, {"text": first_text, "note": "shorter"}, format="json")
    second = api(officer).post(url, {"text": second_text}, format="json")

    assert first.status_code == 201 and first.json()["version"] == 1, first.content
    assert second.status_code == 201 and second.json()["version"] == 2, second.content
    assert second.json()["sha256"] == prompting.sha256(second_text)
    events = AuditEvent.objects.filter(action="prompt_template.created").order_by("sequence")
    assert [e.payload["version"] for e in events] == [1, 2]
    assert [e.actor for e in events] == [engineer.username, officer.username]
    listed = api(engineer).get(url)
    assert listed.status_code == 200 and [t["version"] for t in listed.json()] == [2, 1]

    answered = answer(api(engineer), active_deployment, question=QUESTION, max_new_tokens=2)

    assert answered.status_code == 200, answered.content
    assert answered.json()["prompt_template_version"] == 2
    record = AnswerRecord.objects.get(pk=answered.json()["id"])
    assert record.prompt_template_version == 2
    assert record.prompt_template_sha256 == prompting.sha256(second_text)


# --- Suppressed subjects ----------------------------------------------------------------------------


def _suppress(email: str) -> SuppressedKey:
    request = ErasureRequest.objects.create(
        reference="DSR-suppressed", subject_keys=[subject_key("email", email)], due_at=timezone.now()
    )
    return SuppressedKey.objects.create(key=subject_key("email", email), key_type="email", request=request)


def test_a_question_naming_a_suppressed_subject_is_not_answered(
    api: Any, engineer: Any, active_deployment: Deployment
) -> None:
    _suppress(EMAIL)

    response = answer(
        api(engineer), active_deployment, question=f"Where is the refund for {EMAIL}?", max_new_tokens=2
    )

    assert response.status_code == 409, response.content
    assert code(response) == "suppressed_subject"
    assert EMAIL not in response.content.decode()
    assert nothing_recorded()


def test_a_lifted_suppression_lets_the_question_through(
    api: Any, engineer: Any, active_deployment: Deployment
) -> None:
    SuppressedKey.objects.filter(pk=_suppress(EMAIL).pk).update(
        lifted_at=timezone.now(), lift_reason="The subject signed up again."
    )

    response = answer(
        api(engineer), active_deployment, question=f"Where is the refund for {EMAIL}?", max_new_tokens=2
    )

    assert response.status_code == 200, response.content
    record = AnswerRecord.objects.get(pk=response.json()["id"])
    assert EMAIL not in record.question_masked and "<EMAIL_ADDRESS>" in record.question_masked
    assert subject_key("email", EMAIL) in record.subject_keys


# --- The register and feedback ----------------------------------------------------------------------


def test_the_register_is_read_by_officers_and_auditors_only(
    api: Any, engineer: Any, officer: Any, auditor: Any, active_deployment: Deployment
) -> None:
    asked = answer(api(engineer), active_deployment, question=f"Refund for {EMAIL}?", max_new_tokens=2)
    assert asked.status_code == 200, asked.content
    pk = asked.json()["id"]

    for user in (engineer,):
        assert api(user).get("/api/v1/answers/").status_code == 403
        assert api(user).get(f"/api/v1/answers/{pk}/").status_code == 403
    for user in (officer, auditor):
        listing = api(user).get("/api/v1/answers/")
        assert listing.status_code == 200 and [r["id"] for r in listing.json()["results"]] == [pk]
        detail = api(user).get(f"/api/v1/answers/{pk}/")
        assert detail.status_code == 200
        assert detail.json()["user"] == engineer.username
        assert "<EMAIL_ADDRESS>" in detail.json()["question_masked"]
        assert EMAIL not in detail.content.decode() and EMAIL not in listing.content.decode()
    refused = answer(api(auditor), active_deployment, question=QUESTION, max_new_tokens=2)
    assert refused.status_code == 403 and code(refused) == "forbidden"
    assert AnswerRecord.objects.count() == 1


@pytest.mark.parametrize("rating", [-1, 0, 1])
def test_feedback_records_the_rating_and_a_masked_correction(
    api: Any, engineer: Any, active_deployment: Deployment, rating: int
) -> None:
    record = record_for(active_deployment)
    correction = f"Wrong: ask {EMAIL} for the parcel number."

    response = api(engineer).post(
        f"/api/v1/answers/{record.pk}/feedback/", {"rating": rating, "correction": correction}, format="json"
    )

    assert response.status_code == 200, response.content
    assert EMAIL not in response.content.decode()
    record.refresh_from_db()
    assert record.feedback_rating == rating
    assert record.feedback_by == engineer and record.feedback_at is not None
    assert EMAIL not in record.feedback_correction_masked
    assert record.feedback_correction_masked == "Wrong: ask <EMAIL_ADDRESS> for the parcel number."
    assert subject_key("email", EMAIL) in record.subject_keys
    event = AuditEvent.objects.get(action="answer.feedback", object_id=str(record.pk))
    assert event.payload == {"rating": rating, "correction": True, "deployment": active_deployment.pk}
    assert EMAIL not in str(event.payload)


@pytest.mark.parametrize("rating", [2, -2, "1", True, None, 0.5])
def test_an_invalid_rating_is_refused_and_changes_nothing(
    api: Any, engineer: Any, active_deployment: Deployment, rating: Any
) -> None:
    record = record_for(active_deployment)

    response = api(engineer).post(f"/api/v1/answers/{record.pk}/feedback/", {"rating": rating}, format="json")

    assert response.status_code == 400, response.content
    assert code(response) in ("invalid_rating", "validation_failed")
    record.refresh_from_db()
    assert record.feedback_rating is None and record.feedback_at is None
    assert not AuditEvent.objects.filter(action="answer.feedback").exists()


def test_feedback_on_an_unknown_answer_is_404(api: Any, engineer: Any, active_deployment: Deployment) -> None:
    response = api(engineer).post("/api/v1/answers/999999/feedback/", {"rating": 1}, format="json")
    assert response.status_code == 404 and code(response) == "not_found"


def test_a_correction_naming_a_suppressed_subject_is_not_stored(
    api: Any, engineer: Any, active_deployment: Deployment
) -> None:
    record = record_for(active_deployment)
    _suppress(EMAIL)

    response = api(engineer).post(
        f"/api/v1/answers/{record.pk}/feedback/",
        {"rating": -1, "correction": f"Write to {EMAIL}."},
        format="json",
    )

    assert response.status_code == 409 and code(response) == "suppressed_subject"
    record.refresh_from_db()
    assert record.feedback_rating is None and record.feedback_correction_masked == ""
    assert record.subject_keys == []


# --- Rate limit -------------------------------------------------------------------------------------


def test_the_third_answer_in_a_minute_is_rate_limited(
    api: Any, engineer: Any, officer: Any, active_deployment: Deployment, settings: Any, monkeypatch: Any
) -> None:
    settings.ANSWER_RATE_PER_MINUTE = 2
    # The middle of one minute for the whole test: a fixed window must not roll over between the calls.
    now = (time.time() // 60) * 60 + 30
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: now))
    client = api(engineer)

    statuses = [
        answer(client, active_deployment, question=QUESTION, max_new_tokens=2).status_code for _ in range(2)
    ]
    third = answer(client, active_deployment, question=QUESTION, max_new_tokens=2)
    other_user = answer(api(officer), active_deployment, question=QUESTION, max_new_tokens=2)

    assert statuses == [200, 200]
    assert third.status_code == 429, third.content
    assert code(third) == "rate_limited"
    assert third.json()["error"]["details"]["retry_after_s"] == 30
    assert other_user.status_code == 200  # per user, not per deployment
    assert AnswerRecord.objects.filter(user=engineer).count() == 2


# --- Isolation and hand-off -------------------------------------------------------------------------


def test_an_answer_never_uses_a_collection_the_deployment_does_not_use(
    api: Any, engineer: Any, ai_system: Any, active_deployment: Deployment
) -> None:
    secret = collections.collection_create(
        actor=engineer, ai_system=ai_system, name="Internal notes", chunk_size=200, chunk_overlap=20
    )
    ingest_now(
        engineer,
        secret,
        [doc("vault", f"The vault passphrase is {SECRET}; it opens the archive room.", title="Vault")],
    )
    secret_chunks = set(Chunk.objects.filter(collection=secret).values_list("pk", flat=True))
    secret_documents = set(secret.documents.values_list("pk", flat=True))
    # The phrase is there to be found: the other collection returns it for this very question.
    direct = collection_query(actor=engineer, collection=secret, query="What is the vault passphrase?", k=3)
    assert direct.results and SECRET in direct.results[0]["text"]

    response = answer(
        api(engineer), active_deployment, question="What is the vault passphrase?", k=20, max_new_tokens=4
    )

    assert response.status_code == 200, response.content
    assert SECRET not in response.content.decode()
    body = response.json()
    assert not {c["chunk_id"] for c in body["citations"]} & secret_chunks
    assert not {c["citation"]["document_id"] for c in body["citations"]} & secret_documents
    record = AnswerRecord.objects.get(pk=body["id"])
    assert record.collection_id == active_deployment.collection_id != secret.pk
    assert not {c["chunk_id"] for c in record.chunks} & secret_chunks
    assert not {c["document_id"] for c in record.chunks} & secret_documents
    assert QueryLog.objects.filter(collection=secret).count() == 1  # only the direct query above


def test_nothing_relevant_hands_off_without_generating(
    api: Any, engineer: Any, knowledge: Collection, active_deployment: Deployment
) -> None:
    assert active_deployment.requires_grounding
    Collection.objects.filter(pk=knowledge.pk).update(min_score=0.95)

    response = answer(api(engineer), active_deployment, question="zxqv blorp fnord quux wibble", k=5)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["handoff"] is True and body["reason"] == "no_relevant_fragment"
    assert body["answer"] == "" and body["citations"] == []
    assert "generation_ms" not in body["timings"] and "retrieval_ms" in body["timings"]
    assert body["tokens_generated"] == 0
    record = AnswerRecord.objects.get(pk=body["id"])
    assert record.handoff and record.handoff_reason == "no_relevant_fragment"
    assert record.chunks == [] and record.min_score == pytest.approx(0.95)
    assert record.answer_masked == "" and record.tokens_generated == 0
    # The answer record is the retrieval's Art. 12 record: no query log row besides it.
    assert not QueryLog.objects.exists()


# --- Permission matrix ------------------------------------------------------------------------------

NO_ROLE = "no_role"
ANONYMOUS = "anonymous"
ROLES = (COMPLIANCE_OFFICER, ENGINEER, AUDITOR, NO_ROLE, ANONYMOUS)
ROLE_FIXTURES = {COMPLIANCE_OFFICER: "officer", ENGINEER: "engineer", AUDITOR: "auditor", NO_ROLE: "outsider"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Offered:
    """A method a route offers: the policy line and verb that decide it, and what an allowed caller gets."""

    resource: str
    verb: str
    status: int
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Route:
    name: str
    path: str  # {deployment}, {record}
    offered: dict[str, Offered]


ANSWER_BODY = {"question": QUESTION, "k": 2, "max_new_tokens": 2}
# fmt: off
ROUTES = [
    Route("deployment-answer", "/api/v1/deployments/{deployment}/answer/",
          {"POST": Offered("answer", WRITE, 200, ANSWER_BODY)}),
    Route("deployment-retrain", "/api/v1/deployments/{deployment}/retrain/",
          {"POST": Offered("answer", REVIEW, 201, {})}),
    Route("deployment-prompt-templates", "/api/v1/deployments/{deployment}/prompt-templates/",
          {"GET": Offered("deployment", READ, 200),
           "POST": Offered("deployment", WRITE, 201, {"text": "Q: {question}\n{context}"})}),
    Route("deployment-retraining-signal", "/api/v1/deployments/{deployment}/retraining-signal/",
          {"GET": Offered("deployment", READ, 200)}),
    Route("answer-list", "/api/v1/answers/", {"GET": Offered("answer", READ, 200)}),
    Route("answer-detail", "/api/v1/answers/{record}/", {"GET": Offered("answer", READ, 200)}),
    Route("answer-feedback", "/api/v1/answers/{record}/feedback/",
          {"POST": Offered("answer", WRITE, 200, {"rating": 1})}),
]
# fmt: on


def expected_status(route: Route, method: str, role: str) -> int:
    """From governance.policy: the offered method's line, else the "api" line decides 405 against 403."""
    denied = 401 if role == ANONYMOUS else 403
    offered = route.offered.get(method)
    if offered is not None:
        return offered.status if role in roles_allowed(offered.resource, offered.verb) else denied
    gate = roles_allowed("api", READ if method == "GET" else WRITE)
    return 405 if role in gate else denied


def test_every_answers_route_has_a_matrix_line() -> None:
    from django.urls import resolve

    from answers import urls

    named = {str(getattr(p, "name", "")) for p in urls.urlpatterns} - {""}
    named |= {"answer-list", "answer-detail"}  # the router's
    assert named == {r.name for r in ROUTES}
    for route in ROUTES:
        match = resolve(route.path.format(deployment=1, record=1))
        assert match.url_name == route.name and match.func.__module__.startswith("answers."), route.name


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_the_answers_matrix_holds(
    route: Route, role: str, api: Any, active_deployment: Deployment, request: pytest.FixtureRequest
) -> None:
    user = request.getfixturevalue(ROLE_FIXTURES[role]) if role in ROLE_FIXTURES else None
    record = record_for(active_deployment)
    url = route.path.format(deployment=active_deployment.pk, record=record.pk)
    client = api(user)
    for method in METHODS:
        events = AuditEvent.objects.count()
        records = AnswerRecord.objects.count()
        templates = PromptTemplate.objects.count()
        if method == "GET":
            response = client.get(url)
        else:
            offered = route.offered.get(method)
            body = offered.body if offered is not None and offered.body is not None else {}
            response = getattr(client, method.lower())(url, body, format="json")
        expected = expected_status(route, method, role)
        assert response.status_code == expected, (method, response.content)
        payload = response.json()
        if expected >= 400:
            assert set(payload["error"]) == {"code", "message", "details"}, payload
            # A refusal changes nothing and records nothing.
            assert AuditEvent.objects.count() == events
            assert AnswerRecord.objects.count() == records
            assert PromptTemplate.objects.count() == templates
        elif route.name == "deployment-answer":
            assert AnswerRecord.objects.count() == records + 1 and payload["handoff"] in (True, False)
        elif route.name == "answer-feedback":
            record.refresh_from_db()
            assert record.feedback_rating == 1 and AuditEvent.objects.count() == events + 1
        elif route.name == "deployment-prompt-templates" and method == "POST":
            assert payload["version"] == templates + 1 and AuditEvent.objects.count() == events + 1
        elif route.name == "deployment-retrain":
            assert AuditEvent.objects.filter(action="deployment.retrain_queued").count() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/deployments/{id}/answer/",
        "/api/v1/deployments/{id}/retrain/",
        "/api/v1/deployments/{id}/prompt-templates/",
        "/api/v1/deployments/{id}/retraining-signal/",
        "/api/v1/deployments/0/prompt-templates/",
        "/api/v1/deployments/0/answer/",
        "/api/v1/answers/",
        "/api/v1/answers/0/",
        "/api/v1/answers/0/feedback/",
    ],
)
def test_options_on_every_answers_route_is_never_a_server_error(
    api: Any, officer: Any, engineer: Any, auditor: Any, active_deployment: Deployment, path: str
) -> None:
    """Found by schemathesis: OPTIONS asked DRF's metadata for a serializer the view did not declare."""
    # OPTIONS is a read: the answer register's routes are for officers and auditors, the deployment's
    # prompt templates and signal for everyone who reads deployments.
    engineer_reads = "prompt-templates" in path or "retraining-signal" in path
    for user, expected in ((officer, 200), (auditor, 200), (engineer, 200 if engineer_reads else 403)):
        response = api(user).options(path.format(id=active_deployment.pk))
        assert response.status_code == expected, (path, user.username, response.status_code)
