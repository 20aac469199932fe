"""The use-case advisor: its rules, its cost model, and the two API routes (DESIGN section 10)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from django.test import Client

from governance import advisor
from governance.errors import NotPermitted, ValidationFailed
from governance.models import AISystem, AuditEvent
from governance.services.advisor import ai_system_advisor_record
from tests.factories import AISystemFactory

# A knowledge gap in documents that change monthly, no citations, prompting below the bar.
ANSWERS: dict[str, Any] = {
    "failure_mode": "knowledge",
    "knowledge_change": "monthly",
    "needs_citations": False,
    "prompting_meets_bar": False,
    "training_pairs": 0,
    "monthly_requests": 100_000,
    "latency_bound_ms": 3000,
    "on_premise": False,
    "training_budget": 0,
}
# A behavioural failure with plenty of pairs and enough budget for the default fine-tune (3620).
BEHAVIOUR = {**ANSWERS, "failure_mode": "behaviour", "training_pairs": 2000, "training_budget": 10_000}


def _system(**fields: Any) -> AISystem:
    # factory_boy's stubs type the call as the factory; it returns the model row.
    return cast(AISystem, AISystemFactory(**fields))


def _assess(answers: dict[str, Any] | None = None, **assumptions: Any) -> dict[str, Any]:
    return advisor.assess_data(answers or ANSWERS, assumptions).as_json()


def _rules(assessment: dict[str, Any]) -> list[str]:
    return [rule["id"] for rule in assessment["rules_fired"]]


# --- Rules -----------------------------------------------------------------------------------------


def test_prompting_that_meets_the_bar_without_citations_is_recommended() -> None:
    result = _assess({**ANSWERS, "prompting_meets_bar": True})

    assert result["recommendation"] == "prompting"
    assert _rules(result) == ["prompting_meets_bar", "hosted_api_pricing"]


def test_knowledge_that_changes_monthly_is_recommended_retrieval() -> None:
    result = _assess()

    assert result["recommendation"] == "rag"
    assert _rules(result) == ["knowledge_changes_often", "hosted_api_pricing"]
    assert result["rules_fired"][0]["text"] == (
        "The system lacks knowledge that changes monthly: retrieval picks up a change when the "
        "document is re-indexed, where a model would have to be retrained."
    )


def test_a_need_for_citations_calls_for_retrieval_even_when_prompting_meets_the_bar() -> None:
    result = _assess({**BEHAVIOUR, "prompting_meets_bar": True, "needs_citations": True})

    assert result["recommendation"] == "rag"
    assert _rules(result) == [
        "citations_need_retrieval",
        "prompting_meets_bar_but_citations",
        "hosted_api_pricing",
    ]


def test_a_behavioural_failure_with_enough_pairs_and_budget_is_recommended_fine_tuning() -> None:
    result = _assess(BEHAVIOUR)

    assert result["recommendation"] == "fine_tuning"
    assert _rules(result) == ["behaviour_with_enough_pairs", "hosted_api_pricing"]
    assert result["rules_fired"][0]["text"] == (
        "The failure is behavioural and there are 2000 good training pairs (at least 500): "
        "fine-tuning teaches the behaviour itself."
    )


def test_knowledge_and_behaviour_failures_with_enough_pairs_are_recommended_hybrid() -> None:
    result = _assess({**BEHAVIOUR, "failure_mode": "both"})

    assert result["recommendation"] == "hybrid"
    assert _rules(result) == [
        "knowledge_changes_often",
        "behaviour_with_enough_pairs",
        "knowledge_and_behaviour",
        "hosted_api_pricing",
    ]


def test_too_few_training_pairs_rule_fine_tuning_out() -> None:
    result = _assess({**BEHAVIOUR, "training_pairs": 499})

    assert result["recommendation"] == "prompting"
    assert _rules(result) == ["too_few_training_pairs", "prompting_by_default", "hosted_api_pricing"]
    assert result["rules_fired"][0]["kind"] == "exclusion"


def test_the_minimum_number_of_pairs_is_an_assumption() -> None:
    result = _assess({**BEHAVIOUR, "training_pairs": 499}, min_training_pairs=400)

    assert result["recommendation"] == "fine_tuning"


def test_a_training_budget_below_the_fine_tune_cost_rules_fine_tuning_out() -> None:
    result = _assess({**BEHAVIOUR, "failure_mode": "both", "training_budget": 3619.99})

    assert result["recommendation"] == "rag"
    assert "training_budget_too_small" in _rules(result)
    assert "behaviour_with_enough_pairs" not in _rules(result)


def test_an_on_premise_mandate_costs_inference_as_reserved_gpu_hours() -> None:
    result = _assess({**ANSWERS, "on_premise": True})

    assert result["cost_basis"] == "self_hosted"
    assert "on_premise_self_hosted" in _rules(result)
    inference = [line for line in result["costs"]["rag"]["lines"] if line["id"] == "inference"]
    # 100k requests need far fewer than the 730 reserved hours, which are paid anyway: 730 x 2.50.
    assert inference == [
        {
            "id": "inference",
            "label": "Inference on self-hosted GPUs",
            "schedule": "monthly",
            "amount": 1825.0,
            "every_months": None,
        }
    ]


def test_self_hosted_load_beyond_the_reserved_hours_is_charged_by_throughput() -> None:
    # A RAG request is 500 + 1500 + 2000 prompt tokens and 300 answer tokens: 10M of them at 2500
    # tokens/s take 4777.78 GPU hours, beyond the 730 reserved.
    result = _assess({**ANSWERS, "on_premise": True, "monthly_requests": 10_000_000})

    [inference] = [line for line in result["costs"]["rag"]["lines"] if line["id"] == "inference"]
    assert inference["amount"] == round(10_000_000 * 4300 / (2500 * 3600) * 2.5, 2)


def test_a_latency_bound_below_model_and_search_time_adds_a_retrieval_note() -> None:
    result = _assess({**ANSWERS, "latency_bound_ms": 900})

    assert result["recommendation"] == "rag"
    assert result["rules_fired"][-1] == {
        "id": "latency_too_tight_for_retrieval",
        "kind": "note",
        "text": "The latency bound (900 ms) leaves no room for retrieval: model and search take 950 ms. "
        "Cache frequent queries, search fewer chunks or relax the bound.",
    }


def test_a_latency_bound_below_the_model_alone_says_no_approach_meets_it() -> None:
    result = _assess({**ANSWERS, "latency_bound_ms": 500})

    assert _rules(result)[-1] == "latency_too_tight_for_model"


# --- Cost model --------------------------------------------------------------------------------------


def test_fine_tuning_breaks_even_in_the_month_its_savings_cover_its_one_off_cost() -> None:
    # API prices: prompting sends 500 + 1500 prompt tokens (1450 a month for 1M requests), the
    # fine-tuned model 500 + 200 (800 a month). One-off: 2160 against 3600 + 3620, so the 5060 more
    # are paid back at 650 a month in month 8.
    result = _assess(
        {**BEHAVIOUR, "monthly_requests": 1_000_000}, api_fine_tuned_price_factor=1, retrain_every_months=0
    )

    prompting, fine_tuning = result["costs"]["prompting"], result["costs"]["fine_tuning"]
    assert prompting["months"][:2] == [
        {"month": 1, "cost": 4330.0, "cumulative": 4330.0},
        {"month": 2, "cost": 2170.0, "cumulative": 6500.0},
    ]
    assert fine_tuning["months"][0] == {"month": 1, "cost": 8740.0, "cumulative": 8740.0}
    assert result["break_even"]["months"] == {"rag": None, "fine_tuning": 8, "hybrid": None}
    assert fine_tuning["months"][7]["cumulative"] <= prompting["months"][7]["cumulative"]
    assert fine_tuning["months"][6]["cumulative"] > prompting["months"][6]["cumulative"]


def test_break_even_is_null_when_it_does_not_happen_within_the_horizon() -> None:
    result = _assess(
        {**BEHAVIOUR, "monthly_requests": 1_000_000},
        api_fine_tuned_price_factor=1,
        retrain_every_months=0,
        horizon_months=7,
    )

    assert result["break_even"]["months"]["fine_tuning"] is None
    assert len(result["costs"]["fine_tuning"]["months"]) == 7


def test_retraining_is_charged_every_n_months_after_the_first() -> None:
    result = _assess(BEHAVIOUR, retrain_every_months=3, horizon_months=10)

    retrain = 8 * 2.5 + 8 * 90
    months = result["costs"]["fine_tuning"]["months"]
    extra = [round(m["cost"] - months[1]["cost"], 2) for m in months[1:]]
    assert extra == [0, 0, retrain, 0, 0, retrain, 0, 0, retrain]


def test_assumptions_left_out_take_their_documented_defaults_and_are_listed() -> None:
    result = _assess(horizon_months=12)

    assert result["assumptions"]["horizon_months"] == 12
    assert result["assumptions"]["engineer_hour_rate"] == 90
    assert "horizon_months" not in result["assumptions_defaulted"]
    assert "engineer_hour_rate" in result["assumptions_defaulted"]
    assert result["break_even"]["baseline"] == "prompting"


def test_answers_out_of_range_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationFailed) as refused:
        advisor.answers_from({**ANSWERS, "training_pairs": -1})

    assert (refused.value.code, refused.value.details) == (
        "advisor_out_of_range",
        {"field": "training_pairs"},
    )


def test_a_missing_answer_is_refused_with_the_field_named() -> None:
    answers = {k: v for k, v in ANSWERS.items() if k != "on_premise"}

    with pytest.raises(ValidationFailed) as refused:
        advisor.answers_from(answers)

    assert (refused.value.code, refused.value.details) == ("advisor_answer_missing", {"field": "on_premise"})


# --- Service and API -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_stateless_advisor_answers_an_auditor_and_stores_nothing(api: Any, auditor: Any) -> None:
    system = _system()
    events = AuditEvent.objects.count()

    response = api(auditor).post("/api/v1/advisor/", {"answers": ANSWERS}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == _assess()
    assert AuditEvent.objects.count() == events
    system.refresh_from_db()
    assert system.advisor_assessment == {}


@pytest.mark.django_db
def test_recording_the_advice_stores_a_self_describing_assessment_on_the_system(
    api: Any, engineer: Any
) -> None:
    system = _system(approach="prompting")

    response = api(engineer).post(
        f"/api/v1/ai-systems/{system.pk}/advisor/",
        {"answers": BEHAVIOUR, "assumptions": {"horizon_months": 12}},
        format="json",
    )

    assert response.status_code == 200, response.content
    system.refresh_from_db()
    stored = system.advisor_assessment
    assert response.json() == stored
    assert sorted(stored) == [
        "answers",
        "assumptions",
        "assumptions_defaulted",
        "break_even",
        "cost_basis",
        "costs",
        "recommendation",
        "recorded_at",
        "recorded_by",
        "rules_fired",
        "version",
    ]
    assert (stored["version"], stored["recommendation"], stored["recorded_by"]) == (
        1,
        "fine_tuning",
        "engineer",
    )
    assert stored["answers"] == {**BEHAVIOUR, "training_budget": 10_000.0}
    assert sorted(stored["costs"]) == ["fine_tuning", "hybrid", "prompting", "rag"]
    assert len(stored["costs"]["hybrid"]["months"]) == 12
    # Advice, not a decision: the approach the owner chose stays.
    assert system.approach == "prompting"
    event = AuditEvent.objects.get(action="ai_system.advisor_recorded", object_id=str(system.pk))
    assert event.payload == {
        "version": 1,
        "recommendation": "fine_tuning",
        "rules": ["behaviour_with_enough_pairs", "hosted_api_pricing"],
        "approach": "prompting",
    }


@pytest.mark.django_db
def test_an_auditor_cannot_record_advice_on_a_system(api: Any, auditor: Any) -> None:
    system = _system()

    response = api(auditor).post(
        f"/api/v1/ai-systems/{system.pk}/advisor/", {"answers": ANSWERS}, format="json"
    )

    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "forbidden"
    system.refresh_from_db()
    assert system.advisor_assessment == {}


@pytest.mark.django_db
def test_the_service_asks_the_policy(auditor: Any) -> None:
    system = _system()

    with pytest.raises(NotPermitted):
        ai_system_advisor_record(actor=auditor, system=system, answers=ANSWERS)

    assert AISystem.objects.get(pk=system.pk).advisor_assessment == {}


@pytest.mark.django_db
def test_the_service_refuses_answers_out_of_range_before_storing(engineer: Any) -> None:
    system = _system()

    with pytest.raises(ValidationFailed) as refused:
        ai_system_advisor_record(actor=engineer, system=system, answers={**ANSWERS, "latency_bound_ms": 0})

    assert (refused.value.code, refused.value.details) == (
        "advisor_out_of_range",
        {"field": "latency_bound_ms"},
    )
    assert AISystem.objects.get(pk=system.pk).advisor_assessment == {}


MIN_0 = ["Ensure this value is greater than or equal to 0."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code", "details"),
    [
        pytest.param(
            {"answers": {**ANSWERS, "training_pairs": -1}},
            "validation_failed",
            {"answers": {"training_pairs": MIN_0}},
            id="negative-pairs",
        ),
        pytest.param(
            {"answers": {**ANSWERS, "latency_bound_ms": 0}},
            "validation_failed",
            {"answers": {"latency_bound_ms": ["Ensure this value is greater than or equal to 1."]}},
            id="latency-0",
        ),
        pytest.param(
            {"answers": {**ANSWERS, "failure_mode": "vibes"}},
            "validation_failed",
            {"answers": {"failure_mode": ['"vibes" is not a valid choice.']}},
            id="unknown-failure-mode",
        ),
        pytest.param(
            {"answers": {**ANSWERS, "knowledge_change": "hourly"}},
            "validation_failed",
            {"answers": {"knowledge_change": ['"hourly" is not a valid choice.']}},
            id="unknown-change-frequency",
        ),
        pytest.param(
            {"answers": {k: v for k, v in ANSWERS.items() if k != "monthly_requests"}},
            "validation_failed",
            {"answers": {"monthly_requests": ["This field is required."]}},
            id="missing-answer",
        ),
        pytest.param({}, "validation_failed", {"answers": ["This field is required."]}, id="no-answers"),
        pytest.param(
            {"answers": {**ANSWERS, "training_budget": -0.01}},
            "validation_failed",
            {"answers": {"training_budget": MIN_0}},
            id="negative-budget",
        ),
        pytest.param(
            {"answers": {**ANSWERS, "on_premise": "yes"}},
            "validation_failed",
            {"answers": {"on_premise": ["Must be a valid boolean."]}},
            id="boolean-as-text",
        ),
        pytest.param(
            {"answers": {**ANSWERS, "training_budget": False}},
            "validation_failed",
            {"answers": {"training_budget": ["A valid number is required."]}},
            id="number-as-boolean",
        ),
        pytest.param(
            {"answers": {**ANSWERS, "pairs": 10}},
            "unknown_field",
            {"field": "answers.pairs", "allowed": sorted(ANSWERS)},
            id="unknown-answer",
        ),
        pytest.param(
            {"answers": ANSWERS, "assumptions": {"gpu_hour_cost": -1}},
            "validation_failed",
            {"assumptions": {"gpu_hour_cost": MIN_0}},
            id="negative-assumption",
        ),
        pytest.param(
            {"answers": ANSWERS, "assumptions": {"horizon_months": 0}},
            "validation_failed",
            {"assumptions": {"horizon_months": ["Ensure this value is greater than or equal to 1."]}},
            id="empty-horizon",
        ),
    ],
)
@pytest.mark.parametrize("route", ["stateless", "stored"])
def test_bad_advisor_input_is_refused_with_a_code_and_the_field_named(
    api: Any, engineer: Any, body: dict[str, Any], code: str, details: Any, route: str
) -> None:
    system = _system()
    url = "/api/v1/advisor/" if route == "stateless" else f"/api/v1/ai-systems/{system.pk}/advisor/"
    events = AuditEvent.objects.count()

    response = api(engineer).post(url, body, format="json")

    assert response.status_code == 400, response.content
    assert (response.json()["error"]["code"], response.json()["error"]["details"]) == (code, details)
    assert AuditEvent.objects.count() == events
    system.refresh_from_db()
    assert system.advisor_assessment == {}


# --- Admin -----------------------------------------------------------------------------------------

ADMIN_FORM = {
    "failure_mode": "knowledge",
    "knowledge_change": "monthly",
    "training_pairs": "0",
    "monthly_requests": "100000",
    "latency_bound_ms": "3000",
    "training_budget": "0",
    "horizon_months": "12",
}


def _admin_post(client: Client, system: AISystem, form: dict[str, str]) -> Any:
    return client.post(
        "/admin/governance/aisystem/",
        {"action": "advisor", "_selected_action": [system.pk], "index": 0, **form},
        follow=True,
    )


@pytest.mark.django_db
def test_the_admin_action_asks_the_questions_before_recording(engineer: Any) -> None:
    system = _system()
    client = Client()
    client.force_login(engineer)

    response = _admin_post(client, system, {})

    assert response.status_code == 200
    assert response.templates[0].name == "admin/confirm_with_reason.html"
    assert "training_pairs" in response.context["form"].fields
    assert AISystem.objects.get(pk=system.pk).advisor_assessment == {}


@pytest.mark.django_db
def test_the_admin_action_records_the_advice_and_shows_the_recommendation(engineer: Any) -> None:
    system = _system()
    client = Client()
    client.force_login(engineer)

    response = _admin_post(client, system, ADMIN_FORM)

    stored = AISystem.objects.get(pk=system.pk).advisor_assessment
    assert (stored["recommendation"], stored["assumptions"]["horizon_months"]) == ("rag", 12)
    assert "horizon_months" not in stored["assumptions_defaulted"]
    shown = [str(m) for m in response.context["messages"]]
    assert shown[0] == (
        f"{system.name}: rag. The system lacks knowledge that changes monthly: retrieval picks up a change "
        "when the document is re-indexed, where a model would have to be retrained. No on-premise "
        "mandate: inference is costed at hosted API prices."
    )


@pytest.mark.django_db
def test_the_admin_action_shows_the_form_again_for_a_negative_number_of_pairs(engineer: Any) -> None:
    system = _system()
    client = Client()
    client.force_login(engineer)

    response = _admin_post(client, system, {**ADMIN_FORM, "training_pairs": "-1"})

    assert response.context["form"].errors == {
        "training_pairs": ["Ensure this value is greater than or equal to 0."]
    }
    assert AISystem.objects.get(pk=system.pk).advisor_assessment == {}


@pytest.mark.django_db
def test_the_change_page_shows_the_stored_recommendation(officer: Any, engineer: Any) -> None:
    system = ai_system_advisor_record(actor=engineer, system=_system(), answers=ANSWERS)
    client = Client()
    client.force_login(officer)

    response = client.get(f"/admin/governance/aisystem/{system.pk}/change/")

    assert response.status_code == 200
    assert "<strong>rag</strong> (recorded by engineer at " in response.content.decode()
