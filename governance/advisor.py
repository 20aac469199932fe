"""Use-case advisor and cost model (DESIGN section 10): pure functions over answers and assumptions.

`assess(answers, assumptions)` gives a recommendation (prompting, RAG, fine-tuning or hybrid) with
the rules that fired, the cost of every approach month by month over a horizon, and the break-even
month of each approach against prompting. Nothing here reads or writes the database: the service
(governance/services/advisor.py) stores the result on the AI system, the API computes it without
storing, and the Annex IV document reads the stored JSON (`ASSESSMENT_VERSION` names its shape).

Every number the cost model uses is an `Assumptions` field with a documented default; the bounds and
the help text live beside each field so the API, the admin form and these checks share one source.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from governance.errors import ValidationFailed

ASSESSMENT_VERSION = 1

PROMPTING, RAG, FINE_TUNING, HYBRID = "prompting", "rag", "fine_tuning", "hybrid"
APPROACHES = (PROMPTING, RAG, FINE_TUNING, HYBRID)
BASELINE = PROMPTING
USES_RETRIEVAL = frozenset({RAG, HYBRID})
USES_FINE_TUNING = frozenset({FINE_TUNING, HYBRID})

KNOWLEDGE, BEHAVIOUR, BOTH = "knowledge", "behaviour", "both"
FAILURE_MODES = (KNOWLEDGE, BEHAVIOUR, BOTH)
# How often the knowledge the system needs changes, rarest first.
CHANGE_FREQUENCIES = ("never", "yearly", "quarterly", "monthly", "weekly", "daily")
# Retraining cannot follow knowledge that changes at least this often; retrieval re-indexes instead.
OFTEN = frozenset({"monthly", "weekly", "daily"})

# Rule kinds: a decision moves the recommendation, an exclusion rules an approach out, a note informs.
DECISION, EXCLUSION, NOTE = "decision", "exclusion", "note"


def _spec(default: Any = dataclasses.MISSING, *, minimum: float, maximum: float, help: str) -> Any:
    """A dataclass field with its bounds and help text (read by the API serializers and admin form)."""
    metadata = {"minimum": minimum, "maximum": maximum, "help": help}
    if default is dataclasses.MISSING:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


def _choice(*, choices: tuple[str, ...], help: str) -> Any:
    return field(metadata={"choices": choices, "help": help})


def _flag(*, help: str) -> Any:
    return field(metadata={"help": help})


@dataclass(frozen=True)
class Answers:
    """The questions of the decision framework; every one is required."""

    failure_mode: str = _choice(
        choices=FAILURE_MODES,
        help="Where the system falls short: missing or outdated knowledge, the wrong behaviour "
        "(format, tone, task skill), or both",
    )
    knowledge_change: str = _choice(
        choices=CHANGE_FREQUENCIES, help="How often the knowledge the system needs changes"
    )
    needs_citations: bool = _flag(help="Whether answers must cite the sources they are based on")
    prompting_meets_bar: bool = _flag(
        help="Whether a well-engineered prompt on the base model already reaches the quality bar"
    )
    training_pairs: int = _spec(
        minimum=0, maximum=100_000_000, help="How many good input/output training pairs exist"
    )
    monthly_requests: int = _spec(minimum=0, maximum=100_000_000_000, help="Requests per month")
    latency_bound_ms: int = _spec(
        minimum=1, maximum=3_600_000, help="The slowest acceptable answer, in milliseconds"
    )
    on_premise: bool = _flag(help="Whether the system must run on the organisation's own hardware")
    training_budget: float = _spec(
        minimum=0, maximum=1e12, help="Budget for the one-off training work (same currency as the costs)"
    )

    def __post_init__(self) -> None:
        _check(self)


@dataclass(frozen=True)
class Assumptions:
    """Every number of the cost model; amounts are in one currency (the one the budget is in)."""

    horizon_months: int = _spec(24, minimum=1, maximum=120, help="Months the cost model looks ahead")
    input_tokens_per_request: int = _spec(
        500, minimum=0, maximum=10_000_000, help="Tokens of the user's input (question, conversation)"
    )
    output_tokens_per_request: int = _spec(300, minimum=0, maximum=10_000_000, help="Tokens of each answer")
    instruction_tokens: int = _spec(
        1500,
        minimum=0,
        maximum=10_000_000,
        help="Instructions and few-shot examples a base-model prompt sends with every request",
    )
    fine_tuned_instruction_tokens: int = _spec(
        200,
        minimum=0,
        maximum=10_000_000,
        help="Instructions a fine-tuned model still needs (the examples are in its weights)",
    )
    retrieved_context_tokens: int = _spec(
        2000, minimum=0, maximum=10_000_000, help="Retrieved passages added to each request"
    )
    api_input_price_per_million: float = _spec(
        0.50, minimum=0, maximum=1e6, help="Hosted API price per million input tokens"
    )
    api_output_price_per_million: float = _spec(
        1.50, minimum=0, maximum=1e6, help="Hosted API price per million output tokens"
    )
    api_fine_tuned_price_factor: float = _spec(
        1.5, minimum=0, maximum=1000, help="How much more a hosted fine-tuned model costs per token"
    )
    gpu_hour_cost: float = _spec(2.50, minimum=0, maximum=1e6, help="Cost of one self-hosted GPU hour")
    gpu_tokens_per_second: float = _spec(
        2500,
        minimum=0.001,
        maximum=1e9,
        help="Tokens (prompt and answer) one self-hosted GPU serves per second",
    )
    gpu_reserved_hours_per_month: float = _spec(
        730,
        minimum=0,
        maximum=1e7,
        help="GPU hours paid each month whatever the load (730: one GPU kept on all month)",
    )
    retrieval_cost_per_query: float = _spec(
        0.0002, minimum=0, maximum=1e6, help="Embedding and vector search cost per request"
    )
    indexing_cost: float = _spec(300, minimum=0, maximum=1e12, help="One-off cost of indexing the corpus")
    reindexing_cost_per_month: float = _spec(
        50, minimum=0, maximum=1e12, help="Monthly cost of keeping the index current"
    )
    min_training_pairs: int = _spec(
        500, minimum=1, maximum=100_000_000, help="Fewest good pairs a fine-tune is worth running on"
    )
    fine_tune_gpu_hours: float = _spec(8, minimum=0, maximum=1e7, help="GPU hours of one fine-tune run")
    fine_tune_preparation_hours: float = _spec(
        40, minimum=0, maximum=1e7, help="Engineering hours to prepare, run and evaluate the first fine-tune"
    )
    retrain_every_months: int = _spec(
        3, minimum=0, maximum=120, help="Months between retraining runs (0: never retrain)"
    )
    retrain_hours: float = _spec(
        8, minimum=0, maximum=1e7, help="Engineering hours of each retraining run (data refresh, evaluation)"
    )
    engineer_hour_rate: float = _spec(90, minimum=0, maximum=1e6, help="Cost of one engineering hour")
    setup_hours_prompting: float = _spec(24, minimum=0, maximum=1e7, help="One-off engineering hours")
    setup_hours_rag: float = _spec(80, minimum=0, maximum=1e7, help="One-off engineering hours")
    setup_hours_fine_tuning: float = _spec(40, minimum=0, maximum=1e7, help="One-off engineering hours")
    setup_hours_hybrid: float = _spec(120, minimum=0, maximum=1e7, help="One-off engineering hours")
    maintenance_hours_prompting: float = _spec(8, minimum=0, maximum=1e6, help="Engineering hours a month")
    maintenance_hours_rag: float = _spec(16, minimum=0, maximum=1e6, help="Engineering hours a month")
    maintenance_hours_fine_tuning: float = _spec(8, minimum=0, maximum=1e6, help="Engineering hours a month")
    maintenance_hours_hybrid: float = _spec(16, minimum=0, maximum=1e6, help="Engineering hours a month")
    model_latency_ms: int = _spec(
        800, minimum=0, maximum=3_600_000, help="Time the model takes to answer one request"
    )
    retrieval_latency_ms: int = _spec(
        150, minimum=0, maximum=3_600_000, help="Time embedding and search add to one request"
    )

    def __post_init__(self) -> None:
        _check(self)


def _check(values: Answers | Assumptions) -> None:
    """Refuse a value outside its field's bounds or choices (defence in depth behind the API checks)."""
    for spec in dataclasses.fields(values):
        value = getattr(values, spec.name)
        choices = spec.metadata.get("choices")
        if choices is not None and value not in choices:
            raise _invalid(spec.name, f"must be one of {', '.join(choices)}", "advisor_unknown_choice")
        if "minimum" not in spec.metadata:
            if choices is None and not isinstance(value, bool):
                raise _invalid(spec.name, "must be true or false", "advisor_not_a_boolean")
            continue
        number_types: tuple[type, ...] = (int,) if spec.type == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, number_types):
            raise _invalid(spec.name, f"must be a number ({spec.type})", "advisor_not_a_number")
        low, high = spec.metadata["minimum"], spec.metadata["maximum"]
        if not low <= value <= high:
            raise _invalid(spec.name, f"must be between {low:g} and {high:g}", "advisor_out_of_range")


def _invalid(name: str, text: str, code: str) -> ValidationFailed:
    return ValidationFailed(f"'{name}' {text}", code=code, details={"field": name})


def answers_from(data: dict[str, Any]) -> Answers:
    """Answers from a mapping; a missing answer or an unknown key is refused with the field named."""
    return _build(Answers, data)


def assumptions_from(data: dict[str, Any] | None) -> Assumptions:
    """Assumptions from a mapping of overrides; every field left out takes its documented default."""
    return _build(Assumptions, data or {})


def _build(kind: Any, data: dict[str, Any]) -> Any:
    names = [spec.name for spec in dataclasses.fields(kind)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValidationFailed(
            f"unknown field '{unknown[0]}'",
            code="unknown_field",
            details={"field": unknown[0], "allowed": names},
        )
    missing = [spec.name for spec in dataclasses.fields(kind) if spec.name not in data and _required(spec)]
    if missing:
        raise ValidationFailed(
            f"'{missing[0]}' is required", code="advisor_answer_missing", details={"field": missing[0]}
        )
    return kind(**data)


def _required(spec: dataclasses.Field[Any]) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def field_specs(kind: type[Answers] | type[Assumptions]) -> list[dataclasses.Field[Any]]:
    """The fields of `Answers` or `Assumptions` in order, with their bounds and help in `metadata`."""
    return list(dataclasses.fields(kind))


# --- Rules -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One rule that fired: a stable id, its kind, and what it found in plain language."""

    id: str
    kind: str
    text: str


def fine_tune_one_off_cost(assumptions: Assumptions) -> float:
    """GPU hours of the first run at the GPU rate, plus the engineering hours to prepare it."""
    a = assumptions
    return a.fine_tune_gpu_hours * a.gpu_hour_cost + a.fine_tune_preparation_hours * a.engineer_hour_rate


def recommend(answers: Answers, assumptions: Assumptions) -> tuple[str, list[Rule]]:
    """The approach the answers call for, and every rule that fired on the way, in order."""
    rules: list[Rule] = []
    if answers.prompting_meets_bar and not answers.needs_citations:
        rules.append(
            Rule(
                "prompting_meets_bar",
                DECISION,
                "Prompting the base model already reaches the quality bar and no citations are needed: "
                "retrieval or training would add cost and risk without a gain.",
            )
        )
        approach = PROMPTING
    else:
        retrieval = _wants_retrieval(answers, rules)
        if answers.prompting_meets_bar:
            # The quality bar is met already; only the citations call for a change, and that is retrieval.
            rules.append(
                Rule(
                    "prompting_meets_bar_but_citations",
                    EXCLUSION,
                    "Prompting reaches the quality bar, so no fine-tune is needed: retrieval is added "
                    "only to give the answers their sources.",
                )
            )
            fine_tuning = False
        else:
            fine_tuning = _wants_fine_tuning(answers, assumptions, rules)
        approach = _combine(retrieval, fine_tuning, rules)
    rules.extend(_notes(answers, assumptions, approach))
    return approach, rules


def _wants_retrieval(answers: Answers, rules: list[Rule]) -> bool:
    wants = False
    if answers.needs_citations:
        rules.append(
            Rule(
                "citations_need_retrieval",
                DECISION,
                "Answers must cite their sources: only retrieval gives each answer the passages it is "
                "based on.",
            )
        )
        wants = True
    if answers.failure_mode in (KNOWLEDGE, BOTH):
        if answers.knowledge_change in OFTEN:
            rules.append(
                Rule(
                    "knowledge_changes_often",
                    DECISION,
                    f"The system lacks knowledge that changes {answers.knowledge_change}: retrieval "
                    "picks up a change when the document is re-indexed, where a model would have to "
                    "be retrained.",
                )
            )
        else:
            rules.append(
                Rule(
                    "knowledge_gap",
                    DECISION,
                    "The system lacks knowledge: retrieval supplies facts a model cannot reliably learn "
                    "from training, and a document can be corrected or erased without retraining.",
                )
            )
        wants = True
    return wants


def _wants_fine_tuning(answers: Answers, assumptions: Assumptions, rules: list[Rule]) -> bool:
    if answers.failure_mode not in (BEHAVIOUR, BOTH):
        return False
    pairs, needed = answers.training_pairs, assumptions.min_training_pairs
    if pairs < needed:
        rules.append(
            Rule(
                "too_few_training_pairs",
                EXCLUSION,
                f"The failure is behavioural but there are {pairs} good training pairs, fewer than the "
                f"{needed} a fine-tune needs: improve the prompt and collect pairs first.",
            )
        )
        return False
    one_off = fine_tune_one_off_cost(assumptions)
    if answers.training_budget < one_off:
        rules.append(
            Rule(
                "training_budget_too_small",
                EXCLUSION,
                f"The failure is behavioural, but the training budget ({answers.training_budget:.2f}) is "
                f"below the one-off cost of a fine-tune ({one_off:.2f}).",
            )
        )
        return False
    rules.append(
        Rule(
            "behaviour_with_enough_pairs",
            DECISION,
            f"The failure is behavioural and there are {pairs} good training pairs (at least {needed}): "
            "fine-tuning teaches the behaviour itself.",
        )
    )
    return True


def _combine(retrieval: bool, fine_tuning: bool, rules: list[Rule]) -> str:
    if retrieval and fine_tuning:
        rules.append(
            Rule(
                "knowledge_and_behaviour",
                DECISION,
                "Both knowledge and behaviour fall short: a fine-tuned model answering from retrieved "
                "passages (hybrid).",
            )
        )
        return HYBRID
    if retrieval:
        return RAG
    if fine_tuning:
        return FINE_TUNING
    rules.append(
        Rule(
            "prompting_by_default",
            DECISION,
            "No rule calls for retrieval or a fine-tune that can be carried out: keep improving the "
            "prompt on the base model.",
        )
    )
    return PROMPTING


def _notes(answers: Answers, assumptions: Assumptions, approach: str) -> list[Rule]:
    notes = []
    if answers.on_premise:
        notes.append(
            Rule(
                "on_premise_self_hosted",
                NOTE,
                "The system must run on the organisation's own hardware: inference is costed as "
                "self-hosted GPU hours, not hosted API prices.",
            )
        )
    else:
        notes.append(
            Rule(
                "hosted_api_pricing", NOTE, "No on-premise mandate: inference is costed at hosted API prices."
            )
        )
    bound, model = answers.latency_bound_ms, assumptions.model_latency_ms
    with_retrieval = model + assumptions.retrieval_latency_ms
    if bound < model:
        notes.append(
            Rule(
                "latency_too_tight_for_model",
                NOTE,
                f"The latency bound ({bound} ms) is below the model's own answer time ({model} ms): no "
                "approach meets it without a smaller or faster model.",
            )
        )
    elif approach in USES_RETRIEVAL and bound < with_retrieval:
        notes.append(
            Rule(
                "latency_too_tight_for_retrieval",
                NOTE,
                f"The latency bound ({bound} ms) leaves no room for retrieval: model and search take "
                f"{with_retrieval} ms. Cache frequent queries, search fewer chunks or relax the bound.",
            )
        )
    return notes


# --- Cost model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    """One cost of an approach: once (month 1), every month, or every `every_months` after month 1."""

    id: str
    label: str
    schedule: str  # "one_off", "monthly" or "periodic"
    amount: float
    every_months: int | None = None

    def in_month(self, month: int) -> float:
        if self.schedule == "one_off":
            return self.amount if month == 1 else 0.0
        if self.schedule == "monthly":
            return self.amount
        every = self.every_months or 0
        return self.amount if every and month > 1 and (month - 1) % every == 0 else 0.0


@dataclass(frozen=True)
class ApproachCost:
    """An approach's cost lines and its cost in each month of the horizon."""

    approach: str
    lines: tuple[CostLine, ...]
    monthly: tuple[float, ...]
    cumulative: tuple[float, ...]


def _tokens_per_request(approach: str, a: Assumptions) -> tuple[int, int]:
    """(prompt tokens, answer tokens) one request costs under `approach`."""
    instructions = a.fine_tuned_instruction_tokens if approach in USES_FINE_TUNING else a.instruction_tokens
    context = a.retrieved_context_tokens if approach in USES_RETRIEVAL else 0
    return a.input_tokens_per_request + instructions + context, a.output_tokens_per_request


def _inference_line(approach: str, answers: Answers, a: Assumptions) -> CostLine:
    prompt, answer = _tokens_per_request(approach, a)
    volume = answers.monthly_requests
    if answers.on_premise:
        # A self-hosted GPU is paid while it is on, busy or not: the reserved hours are the floor.
        needed = volume * (prompt + answer) / (a.gpu_tokens_per_second * 3600)
        hours = max(needed, a.gpu_reserved_hours_per_month)
        return CostLine("inference", "Inference on self-hosted GPUs", "monthly", hours * a.gpu_hour_cost)
    factor = a.api_fine_tuned_price_factor if approach in USES_FINE_TUNING else 1.0
    per_request = (prompt * a.api_input_price_per_million + answer * a.api_output_price_per_million) / 1e6
    return CostLine("inference", "Inference at hosted API prices", "monthly", volume * per_request * factor)


def cost_lines(approach: str, answers: Answers, a: Assumptions) -> tuple[CostLine, ...]:
    """Every cost line of `approach` under these answers and assumptions."""
    rate = a.engineer_hour_rate
    setup_hours = getattr(a, f"setup_hours_{approach}")
    lines = [CostLine("setup", "Setup (engineering hours)", "one_off", setup_hours * rate)]
    if approach in USES_RETRIEVAL:
        lines.append(CostLine("indexing", "Indexing the corpus", "one_off", a.indexing_cost))
    if approach in USES_FINE_TUNING:
        lines.append(
            CostLine(
                "fine_tune", "First fine-tune (GPU and engineering)", "one_off", fine_tune_one_off_cost(a)
            )
        )
    lines.append(_inference_line(approach, answers, a))
    if approach in USES_RETRIEVAL:
        search = answers.monthly_requests * a.retrieval_cost_per_query
        lines.append(
            CostLine(
                "retrieval", "Retrieval and re-indexing", "monthly", search + a.reindexing_cost_per_month
            )
        )
    maintenance = getattr(a, f"maintenance_hours_{approach}") * rate
    lines.append(CostLine("maintenance", "Maintenance (engineering hours)", "monthly", maintenance))
    if approach in USES_FINE_TUNING and a.retrain_every_months:
        retrain = a.fine_tune_gpu_hours * a.gpu_hour_cost + a.retrain_hours * rate
        lines.append(CostLine("retraining", "Retraining run", "periodic", retrain, a.retrain_every_months))
    return tuple(lines)


def approach_cost(approach: str, answers: Answers, a: Assumptions) -> ApproachCost:
    """The approach's cost month by month over the horizon, and the running total."""
    lines = cost_lines(approach, answers, a)
    monthly, cumulative, total = [], [], 0.0
    for month in range(1, a.horizon_months + 1):
        cost = sum(line.in_month(month) for line in lines)
        total += cost
        monthly.append(cost)
        cumulative.append(total)
    return ApproachCost(approach, lines, tuple(monthly), tuple(cumulative))


def break_even_month(candidate: ApproachCost, baseline: ApproachCost) -> int | None:
    """The first month whose cumulative cost of `candidate` is at most that of `baseline`, or None.

    Compared on amounts rounded to cents, so two approaches that cost the same break even at once
    rather than a float's last bit apart.
    """
    for month, (mine, theirs) in enumerate(zip(candidate.cumulative, baseline.cumulative, strict=True), 1):
        if round(mine, 2) <= round(theirs, 2):
            return month
    return None


# --- The assessment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    """A recommendation, the rules that fired, and every approach's costs and break-even month."""

    answers: Answers
    assumptions: Assumptions
    defaulted: tuple[str, ...]
    recommendation: str
    rules: tuple[Rule, ...]
    costs: dict[str, ApproachCost]
    break_even: dict[str, int | None]

    def as_json(self) -> dict[str, Any]:
        """The self-describing JSON stored on the AI system and read by its Annex IV document."""
        return {
            "version": ASSESSMENT_VERSION,
            "answers": dataclasses.asdict(self.answers),
            "assumptions": dataclasses.asdict(self.assumptions),
            "assumptions_defaulted": list(self.defaulted),
            "recommendation": self.recommendation,
            "rules_fired": [dataclasses.asdict(rule) for rule in self.rules],
            "cost_basis": "self_hosted" if self.answers.on_premise else "hosted_api",
            "costs": {name: _cost_json(cost) for name, cost in self.costs.items()},
            "break_even": {
                "baseline": BASELINE,
                "definition": (
                    "the first month in which the approach's cumulative cost (one-off costs counted "
                    f"in month 1) is at most the cumulative cost of {BASELINE}; null when that does "
                    f"not happen within {self.assumptions.horizon_months} months"
                ),
                "months": dict(self.break_even),
            },
        }


def _cost_json(cost: ApproachCost) -> dict[str, Any]:
    return {
        "lines": [
            {
                "id": line.id,
                "label": line.label,
                "schedule": line.schedule,
                "amount": round(float(line.amount), 2),
                "every_months": line.every_months,
            }
            for line in cost.lines
        ],
        "months": [
            {"month": month, "cost": round(amount, 2), "cumulative": round(total, 2)}
            for month, (amount, total) in enumerate(zip(cost.monthly, cost.cumulative, strict=True), 1)
        ],
        "total": round(cost.cumulative[-1], 2),
    }


def assess(answers: Answers, assumptions: Assumptions, *, defaulted: tuple[str, ...] = ()) -> Assessment:
    """Recommend an approach and cost every approach; `defaulted` names the assumptions left at default."""
    recommendation, rules = recommend(answers, assumptions)
    costs = {approach: approach_cost(approach, answers, assumptions) for approach in APPROACHES}
    break_even = {
        approach: break_even_month(costs[approach], costs[BASELINE])
        for approach in APPROACHES
        if approach != BASELINE
    }
    return Assessment(answers, assumptions, defaulted, recommendation, tuple(rules), costs, break_even)


def assess_data(answers: dict[str, Any], assumptions: dict[str, Any] | None = None) -> Assessment:
    """`assess` from plain mappings (the API's and the admin's validated input)."""
    overrides = assumptions or {}
    defaulted = tuple(spec.name for spec in dataclasses.fields(Assumptions) if spec.name not in overrides)
    return assess(answers_from(answers), assumptions_from(overrides), defaulted=defaulted)
