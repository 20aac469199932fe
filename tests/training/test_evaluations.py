"""Recording evaluations computed outside the platform."""

from __future__ import annotations

import pytest

from training.models import Evaluation

pytestmark = pytest.mark.django_db
URL = "/api/v1/evaluations/"


def _payload(adapter, **extra):
    return {
        "adapter_version": adapter.pk,
        "dataset_version": adapter.dataset_version_id,
        "metrics": {"exact_match": 0.4, "token_f1": 0.7, "rouge_l": 0.65},
        "sample_count": 4,
        **extra,
    }


def test_an_external_result_is_recorded_with_the_systems_threshold(api, engineer, adapter):
    response = api(engineer).post(URL, _payload(adapter), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["source"], body["subject"], body["primary_metric"]) == ("external", "adapter", "rouge_l")
    assert (body["threshold"], body["score"], body["passed"]) == (0.5, 0.65, True)


def test_a_baseline_result_needs_the_ai_system(api, engineer, adapter):
    payload = {**_payload(adapter), "base_model": adapter.base_model_id}
    del payload["adapter_version"]
    response = api(engineer).post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ai_system_required"
    payload["ai_system"] = adapter.ai_system_id
    assert api(engineer).post(URL, payload, format="json").json()["subject"] == "baseline"


@pytest.mark.parametrize("metrics", [{"rouge_l": 1.5}, {"rouge_l": "NaN"}, {"bleu": 0.3}, {}])
def test_metrics_outside_zero_to_one_or_unknown_are_refused(api, engineer, adapter, metrics):
    before = Evaluation.objects.count()
    response = api(engineer).post(URL, _payload(adapter, metrics=metrics), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_metrics"
    assert Evaluation.objects.count() == before


def test_more_samples_than_the_holdout_holds_are_refused(api, engineer, adapter):
    response = api(engineer).post(URL, _payload(adapter, sample_count=10_000), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_sample_count"


def test_naming_both_an_adapter_and_a_base_model_is_refused(api, engineer, adapter):
    response = api(engineer).post(URL, _payload(adapter, base_model=adapter.base_model_id), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "evaluation_subject"
