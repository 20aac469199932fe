"""Hold-out metrics: exact match, token F1, ROUGE-L, and accuracy + macro-F1 for label outputs."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

MAX_LABELS = 20
MAX_LABEL_CHARS = 40
_WORD = re.compile(r"\w+", re.UNICODE)
_PUNCT = str.maketrans("", "", string.punctuation)


def normalise(text: str) -> str:
    """Lower case, NFKC, punctuation dropped, whitespace collapsed: formatting does not count as wrong."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCT)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


class _UnicodeTokenizer:
    """rouge-score's own tokenizer keeps only [a-z0-9] and would erase Polish words; this keeps letters."""

    def tokenize(self, text: str) -> list[str]:
        return tokens(text)


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def is_label_set(references: Sequence[str]) -> bool:
    """Outputs are labels when they are short, few (<= 20 distinct) and repeat across records."""
    labels = {normalise(r) for r in references}
    return (
        bool(references)
        and len(labels) <= MAX_LABELS
        and len(labels) < len(references)
        and all(len(label) <= MAX_LABEL_CHARS for label in labels)
    )


def macro_f1(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean F1 over the reference labels; a prediction outside the label set is wrong for every label."""
    preds, refs = [normalise(p) for p in predictions], [normalise(r) for r in references]
    scores = []
    for label in sorted(set(refs)):
        tp = sum(p == label and r == label for p, r in zip(preds, refs, strict=True))
        fp = sum(p == label and r != label for p, r in zip(preds, refs, strict=True))
        fn = sum(p != label and r == label for p, r in zip(preds, refs, strict=True))
        scores.append(0.0 if not tp else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def compute_metrics(
    predictions: Sequence[str], references: Sequence[str], *, label_references: Sequence[str] | None = None
) -> dict[str, Any]:
    """Averages over the samples; `label_references` (all outputs of the version) decides classification."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_UnicodeTokenizer())
    n = len(references)
    exact = [normalise(p) == normalise(r) for p, r in zip(predictions, references, strict=True)]
    metrics: dict[str, Any] = {
        "exact_match": sum(exact) / n,
        "token_f1": sum(token_f1(p, r) for p, r in zip(predictions, references, strict=True)) / n,
        "rouge_l": sum(
            scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references, strict=True)
        )
        / n,
    }
    if is_label_set(label_references if label_references is not None else references):
        metrics["accuracy"] = metrics["exact_match"]
        metrics["macro_f1"] = macro_f1(predictions, references)
    return metrics


def primary_metric(metrics: dict[str, Any]) -> str:
    """Accuracy for label outputs, ROUGE-L for free text: the score compared with the threshold."""
    return "accuracy" if "accuracy" in metrics else "rouge_l"
