"""Hold-out metrics computed by the platform."""

from __future__ import annotations

import pytest

from training.trainer.metrics import compute_metrics, is_label_set, macro_f1, primary_metric, token_f1


def test_exact_match_ignores_case_punctuation_and_spacing():
    assert compute_metrics(["The  answer."], ["the answer"])["exact_match"] == 1.0


def test_token_f1_gives_partial_credit():
    assert token_f1("reset the password", "reset your password") == pytest.approx(2 / 3)


def test_rouge_l_keeps_polish_letters():
    same = compute_metrics(["zażółć gęślą jaźń"], ["Zażółć gęślą jaźń"])["rouge_l"]
    different = compute_metrics(["zażółć"], ["jaźń"])["rouge_l"]
    assert (same, different) == (1.0, 0.0)


def test_free_text_outputs_are_scored_by_rouge_l():
    metrics = compute_metrics(["open the settings page"], ["open settings and click reset"])
    assert "accuracy" not in metrics
    assert primary_metric(metrics) == "rouge_l"


def test_repeating_short_outputs_are_treated_as_labels_with_accuracy_and_macro_f1():
    refs = ["billing", "delivery", "billing", "account"]
    metrics = compute_metrics(["billing", "billing", "billing", "account"], refs)
    assert metrics["accuracy"] == 0.75
    assert metrics["macro_f1"] == pytest.approx((0.8 + 0.0 + 1.0) / 3)
    assert primary_metric(metrics) == "accuracy"


def test_more_than_twenty_distinct_outputs_are_not_labels():
    assert not is_label_set([f"label {i}" for i in range(21)] * 2)
    assert is_label_set(["yes", "no", "yes"])


def test_a_prediction_outside_the_label_set_counts_against_its_label():
    assert macro_f1(["maybe"], ["yes"]) == 0.0
