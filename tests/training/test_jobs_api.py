"""Creating fine-tune jobs: hyper-parameter validation, idempotency, listing and cancellation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from governance.models import AuditEvent
from training.models import FineTuneEvent, FineTuneJob

pytestmark = pytest.mark.django_db
URL = "/api/v1/fine-tune-jobs/"


def _post(api: Any, user: Any, payload: dict[str, Any], **extra: Any) -> Any:
    return api(user).post(URL, payload, format="json", **extra)


def _with_hp(payload: dict[str, Any], **hp: Any) -> dict[str, Any]:
    return {**payload, "hyperparameters": {**payload["hyperparameters"], **hp}}


def _refused_fields(response: Any) -> set[str]:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_hyperparameters"
    return {e["field"] for e in error["details"]["errors"]}


def test_an_engineer_creates_a_queued_job_with_defaults_filled_in(api, engineer, job_payload):
    response = _post(api, engineer, job_payload)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued" and body["object"] == "fine_tuning.job"
    assert body["hyperparameters"]["target_modules"] == ["q_proj", "v_proj"]
    assert body["hyperparameters"]["dropout"] == 0.05
    assert FineTuneEvent.objects.filter(job_id=body["id"], kind="created").count() == 1
    assert AuditEvent.objects.filter(action="fine_tune_job.created", object_id=str(body["id"])).count() == 1


def test_epochs_of_1e9_are_refused_and_nothing_is_stored(api, engineer, job_payload):
    assert _refused_fields(_post(api, engineer, _with_hp(job_payload, epochs=1e9))) == {"epochs"}
    assert not FineTuneJob.objects.exists()


@pytest.mark.parametrize("value", [0, -0.1, 1.5, "NaN", "Infinity"])
def test_a_learning_rate_outside_zero_to_one_or_not_finite_is_refused(api, engineer, job_payload, value):
    assert _refused_fields(_post(api, engineer, _with_hp(job_payload, learning_rate=value))) == {
        "learning_rate"
    }
    assert not FineTuneJob.objects.exists()


def test_a_nan_literal_in_the_json_body_is_refused(api, engineer, job_payload):
    body = json.dumps(job_payload).replace('"learning_rate": 0.003', '"learning_rate": NaN')
    assert "NaN" in body
    response = api(engineer).post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert not FineTuneJob.objects.exists()


def test_rank_zero_is_refused(api, engineer, job_payload):
    assert _refused_fields(_post(api, engineer, _with_hp(job_payload, rank=0))) == {"rank"}


def test_a_negative_batch_size_is_refused(api, engineer, job_payload):
    assert _refused_fields(_post(api, engineer, _with_hp(job_payload, batch_size=-1))) == {"batch_size"}


def test_an_unknown_target_module_is_refused_with_the_modules_that_exist(api, engineer, job_payload):
    response = _post(api, engineer, _with_hp(job_payload, target_modules=["q_proj", "c_attn"]))
    assert _refused_fields(response) == {"target_modules"}
    message = response.json()["error"]["details"]["errors"][0]["message"]
    assert "'c_attn'" in message and "v_proj" in message


def test_a_max_sequence_length_beyond_the_models_limit_is_refused(api, engineer, job_payload):
    assert _refused_fields(_post(api, engineer, _with_hp(job_payload, max_seq_length=4096))) == {
        "max_seq_length"
    }


def test_dropout_of_one_and_alpha_of_zero_are_both_reported(api, engineer, job_payload):
    assert _refused_fields(_post(api, engineer, _with_hp(job_payload, dropout=1.0, alpha=0))) == {
        "dropout",
        "alpha",
    }


def test_an_unknown_hyperparameter_is_refused(api, engineer, job_payload):
    assert _refused_fields(_post(api, engineer, _with_hp(job_payload, momentum=0.9))) == {"momentum"}


def test_qlora_is_refused_on_a_host_without_cuda_and_bitsandbytes(api, engineer, job_payload):
    assert _refused_fields(_post(api, engineer, _with_hp(job_payload, use_qlora=True))) == {"use_qlora"}


def test_the_same_idempotency_key_twice_returns_the_same_job(api, engineer, job_payload):
    payload = {**job_payload, "idempotency_key": "run-2024-05-01"}
    first = _post(api, engineer, payload)
    second = _post(api, engineer, payload)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert FineTuneJob.objects.count() == 1


def test_the_idempotency_key_header_works_like_the_field(api, engineer, job_payload):
    first = _post(api, engineer, job_payload, HTTP_IDEMPOTENCY_KEY="k-1")
    second = _post(api, engineer, job_payload, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, second.status_code) == (201, 200)
    assert FineTuneJob.objects.count() == 1


def test_an_idempotency_key_reused_for_a_different_request_is_a_conflict(api, engineer, job_payload):
    _post(api, engineer, {**job_payload, "idempotency_key": "k-2"})
    response = _post(api, engineer, {**_with_hp(job_payload, rank=8), "idempotency_key": "k-2"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert FineTuneJob.objects.count() == 1


def test_jobs_are_listed_and_retrieved(api, engineer, auditor, job_payload):
    job_id = _post(api, engineer, job_payload).json()["id"]
    listed = api(auditor).get(URL).json()
    assert [j["id"] for j in listed["results"]] == [job_id]
    assert api(auditor).get(f"{URL}{job_id}/").json()["status"] == "queued"


def test_an_unknown_filter_is_refused(api, engineer):
    assert api(engineer).get(f"{URL}?state=queued").status_code == 400


def test_cancelling_a_queued_job_twice_writes_one_event(api, engineer, job_payload):
    job_id = _post(api, engineer, job_payload).json()["id"]
    first = api(engineer).post(f"{URL}{job_id}/cancel/")
    second = api(engineer).post(f"{URL}{job_id}/cancel/")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["status"] == "cancelled"
    assert FineTuneEvent.objects.filter(job_id=job_id, kind="cancelled").count() == 1
    assert AuditEvent.objects.filter(action="fine_tune_job.cancelled").count() == 1


def test_a_cancelled_job_is_never_claimed_by_a_worker(api, engineer, job_payload):
    from training.services import jobs

    job_id = _post(api, engineer, job_payload).json()["id"]
    api(engineer).post(f"{URL}{job_id}/cancel/")
    assert jobs.fine_tune_job_claim(job_id=job_id) is False
    assert FineTuneJob.objects.get(pk=job_id).attempts == 0


def test_cancelling_a_finished_job_is_a_conflict(api, engineer, trained_job):
    response = api(engineer).post(f"{URL}{trained_job.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_finished"
    trained_job.refresh_from_db()
    assert trained_job.status == "succeeded"


def test_events_are_paginated(api, engineer, trained_job):
    response = api(engineer).get(f"{URL}{trained_job.pk}/events/?page_size=2")
    body = response.json()
    assert len(body["results"]) == 2 and body["count"] > 2 and body["next"]
