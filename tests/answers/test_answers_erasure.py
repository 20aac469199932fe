"""The answer register as an erasure participant, through the real erasure service, in this process.

The phases run here through the same service functions the Celery tasks call (claim, then run), as in
tests/governance/test_erasure_requests.py; the purge runs VACUUM, so these tests are transactional.
"""

from __future__ import annotations

from typing import Any

import pytest

from answers import erasure as answer_erasure
from answers import services
from answers.models import AnswerRecord
from governance import pii
from governance.choices import DeploymentStatus
from governance.errors import Conflict
from governance.models import AuditEvent, Deployment, ErasureNameMatch, ErasureRequest
from governance.participants import ErasureScope
from governance.pii.keys import subject_key
from governance.services import erasure
from tests.answers.test_answers_admin import light_deployment, make_record

URL = "/api/v1/erasure-requests/"
EMAIL = "ewa.nowakowska@example.org"
NAME = "Anna Kowalska"


@pytest.fixture(autouse=True)
def _regex_engine(settings: Any) -> None:
    settings.PII_ENGINE = "regex"


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is sent to a broker: the test runs both phases itself (a worker would race it)."""
    monkeypatch.setattr(erasure, "enqueue_on_commit", lambda *args, **kwargs: None)


def run_phases(request: ErasureRequest) -> ErasureRequest:
    assert erasure.erasure_request_claim(request_id=request.pk, phase="logical")
    assert erasure.erasure_request_run_logical(request_id=request.pk).state == "done"
    assert erasure.erasure_request_claim(request_id=request.pk, phase="purge")
    erasure.erasure_request_run_purge(request_id=request.pk)
    return ErasureRequest.objects.get(pk=request.pk)


def answered(deployment: Deployment, question: str, answer: str) -> AnswerRecord:
    """A record as the answer service writes it: texts masked by the scanner, their subject keys kept."""
    q, a = pii.scan_text(question), pii.scan_text(answer)
    summary = dict(q.summary())
    for entity, n in a.summary().items():
        summary[entity] = summary.get(entity, 0) + n
    return make_record(
        deployment,
        question_masked=pii.mask_text(question, q),
        answer_masked=pii.mask_text(answer, a),
        subject_keys=sorted(set(q.subject_keys()) | set(a.subject_keys())),
        pii_summary=summary,
    )


def unchanged(record: AnswerRecord) -> bool:
    before = {f: getattr(record, f) for f in ("question_masked", "answer_masked", "subject_keys")}
    record.refresh_from_db()
    return before == {f: getattr(record, f) for f in before}


@pytest.mark.django_db(transaction=True)
def test_an_answer_naming_the_subject_is_found_redacted_purged_and_verified(
    officer: Any, engineer: Any, in_process: None
) -> None:
    # Requested, not active: the logical phase's deployment recheck leaves it alone.
    deployment = light_deployment(engineer, status=DeploymentStatus.REQUESTED)
    subject = answered(deployment, f"Refund for {EMAIL}, order 77?", f"We wrote to {EMAIL} [1].")
    services.answer_feedback(actor=engineer, record=subject, rating=-1, correction=f"Mail {EMAIL} again.")
    subject.refresh_from_db()
    assert subject_key("email", EMAIL) in subject.subject_keys and EMAIL not in subject.question_masked
    other = answered(deployment, "How long do refunds take?", "Fourteen days [1].")

    request = erasure.erasure_request_create(
        actor=officer, reference="DSR-ANS-1", identifiers=[{"type": "email", "value": EMAIL}]
    )
    assert request.preview["answers"] == {"answers": 1}
    erasure.erasure_request_execute(actor=officer, request=request)
    done = run_phases(request)

    assert done.status == "completed", (done.error, done.verification)
    subject.refresh_from_db()
    marker = "[erased under request DSR-ANS-1]"
    assert subject.question_masked == subject.answer_masked == subject.feedback_correction_masked == marker
    assert subject.subject_keys == [] and subject.pii_summary == {}
    assert subject.feedback_rating == -1  # the rating names nobody and still feeds the signal
    assert unchanged(other) and other.question_masked == "How long do refunds take?"
    # Counts: the logical phase, the certificate, the audit trail.
    assert done.results["answers"]["counts"] == {"answers": 1}
    stores = {store["name"]: store for store in done.certificate_facts["stores"]}
    assert stores["answers"]["counts"] == [{"name": "answers", "value": 1}]
    assert done.certificate_facts["nothing_found"] is False
    assert AuditEvent.objects.get(action="answers.erased").payload["counts"] == {"answers": 1}
    assert AuditEvent.objects.filter(
        action="erasure_request.store_erased", payload__store="answers", object_id=str(done.pk)
    ).exists()
    # A second run finds nothing left to do.
    assert answer_erasure.erasure_erase(erasure.scope_for(done))["counts"] == {"answers": 0}
    assert answer_erasure.erasure_find(erasure.scope_for(done))["counts"] == {"answers": 0}
    # The purge ran on the table and the verification searched the texts.
    purged = done.purge_results["answers"]["answers_table"]
    assert {"vacuum_s", "reindex_s", "analyze_s"} <= set(purged)
    verified = done.verification["stores"]["answers"]
    assert verified["ok"] is True and verified["answers_by_keys"] == 0
    assert verified["answer_texts"] == {field: 0 for field in answer_erasure.TEXT_FIELDS}
    # The subject does not come back through a question or a correction.
    Deployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.ACTIVE)
    active = Deployment.objects.get(pk=deployment.pk)
    with pytest.raises(Conflict) as raised:
        services.deployment_answer(actor=engineer, deployment=active, question=f"Is {EMAIL} refunded?")
    assert raised.value.code == "suppressed_subject"
    with pytest.raises(Conflict):
        services.answer_feedback(actor=engineer, record=other, rating=0, correction=f"Ask {EMAIL}.")
    assert AnswerRecord.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_answer_with_only_the_subject_s_name_is_erased_only_once_confirmed(
    api: Any, officer: Any, engineer: Any, in_process: None
) -> None:
    deployment = light_deployment(engineer, status=DeploymentStatus.REQUESTED)
    name_key = subject_key("person", NAME)
    confirmed = make_record(
        deployment, question_masked="<PERSON> asked where the parcel is.", subject_keys=[name_key]
    )
    excluded = make_record(
        deployment, question_masked="<PERSON> asked about the invoice.", subject_keys=[name_key]
    )
    identifiers = [{"type": "email", "value": EMAIL}, {"type": "person", "value": NAME}]

    request = erasure.erasure_request_create(actor=officer, reference="DSR-ANS-2", identifiers=identifiers)

    assert request.name_keys == [name_key] and name_key not in request.subject_keys
    assert request.preview["answers"] == {"answers": 0}
    matches = {m.object_id: m for m in ErasureNameMatch.objects.filter(request=request, store="answers")}
    assert set(matches) == {confirmed.pk, excluded.pk}
    assert {m.kind for m in matches.values()} == {"answer"}
    assert matches[confirmed.pk].label == f"answer {confirmed.pk} of deployment #{deployment.pk}"
    # Undecided: executing is refused, and the participant alone erases nothing by a name.
    client = api(officer)
    blocked = client.post(f"{URL}{request.pk}/execute/", {}, format="json")
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "unresolved_name_matches"
    assert answer_erasure.erasure_erase(erasure.scope_for(request))["counts"] == {"answers": 0}
    assert unchanged(confirmed) and unchanged(excluded)

    decided = client.post(
        f"{URL}{request.pk}/decide/",
        {"confirm": [matches[confirmed.pk].pk], "exclude": [matches[excluded.pk].pk]},
        format="json",
    )
    assert decided.status_code == 200, decided.content
    assert client.post(f"{URL}{request.pk}/execute/", {}, format="json").status_code == 200
    done = run_phases(request)

    assert done.status == "completed", (done.error, done.verification)
    confirmed.refresh_from_db()
    assert confirmed.question_masked == "[erased under request DSR-ANS-2]" and confirmed.subject_keys == []
    assert unchanged(excluded) and excluded.subject_keys == [name_key]
    assert done.results["answers"]["counts"] == {"answers": 1}
    assert done.certificate_facts["name_matches"] == {"confirmed": 1, "excluded": 1}


@pytest.mark.django_db(transaction=True)
def test_verify_is_never_ok_without_the_text_search_and_finds_a_leftover_by_text(engineer: Any) -> None:
    deployment = light_deployment(engineer, status=DeploymentStatus.REQUESTED)
    # A row whose scanner missed the address (no key), the case the text search exists for.
    make_record(deployment, question_masked=f"Forward to {EMAIL.upper()} please")
    scope = ErasureScope(request_id=1, reference="DSR-V", keys=(subject_key("email", EMAIL),))

    without_identifiers = answer_erasure.erasure_verify(scope)
    with_identifiers = answer_erasure.erasure_verify(
        ErasureScope(request_id=1, reference="DSR-V", keys=scope.keys, identifiers=(EMAIL,))
    )

    assert without_identifiers["ok"] is False and without_identifiers["unsearchable"]
    assert with_identifiers["ok"] is False
    assert with_identifiers["answer_texts"]["question_masked"] == 1
    assert EMAIL not in str(with_identifiers)
