"""The use-case advisor over the API: compute without storing (`POST /api/v1/advisor/`), and the
input and output serializers `POST /api/v1/ai-systems/{id}/advisor/` shares (governance/api/views.py).

The serializers are built from the fields of `governance.advisor.Answers` and `Assumptions`, so a
bound or a default is written once. Both nested objects are checked as strictly as a top-level body
(unknown fields, NUL, booleans sent as numbers) and a refusal names the field as `answers.<name>`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from governance import advisor
from governance.api.parsers import BoundedJSONParser
from governance.api.validation import valid_input
from governance.errors import ValidationFailed

# --- Input -----------------------------------------------------------------------------------------


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: DRF's own field also takes "yes", "0" or 1, which hides a client's bug."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def _field(spec: dataclasses.Field[Any], *, required: bool) -> serializers.Field:
    meta = spec.metadata
    text = meta["help"]
    if spec.default is not dataclasses.MISSING:
        text = f"{text} (default {spec.default})"
    if "choices" in meta:
        return serializers.ChoiceField(choices=[(c, c) for c in meta["choices"]], help_text=text)
    if "minimum" not in meta:
        return StrictBooleanField(help_text=text)
    bounds = {"min_value": meta["minimum"], "max_value": meta["maximum"], "help_text": text}
    if spec.type == "int":
        return serializers.IntegerField(required=required, **bounds)
    return serializers.FloatField(required=required, **bounds)


def _serializer(name: str, kind: Any, *, required: bool, doc: str) -> type[serializers.Serializer]:
    fields = {spec.name: _field(spec, required=required) for spec in advisor.field_specs(kind)}
    return type(name, (serializers.Serializer,), {**fields, "__doc__": doc, "__module__": __name__})


AdvisorAnswers = _serializer(
    "AdvisorAnswers", advisor.Answers, required=True, doc="The advisor's questions; every one is required."
)
AdvisorAssumptions = _serializer(
    "AdvisorAssumptions",
    advisor.Assumptions,
    required=False,
    doc="The cost model's numbers; each one left out takes its documented default.",
)
# In an assessment every assumption is present, defaulted or not.
AdvisorAssumptionsOut = _serializer(
    "AdvisorAssumptionsOut",
    advisor.Assumptions,
    required=True,
    doc="The cost model's numbers the assessment used.",
)


class AdvisorIn(serializers.Serializer):
    """Answers, and optionally assumption overrides for the cost model."""

    answers = AdvisorAnswers()
    assumptions = AdvisorAssumptions(required=False)


def advisor_input(data: Any) -> dict[str, Any]:
    """The validated `{"answers": ..., "assumptions": ...}`; a refusal names the nested field."""
    if isinstance(data, dict):
        for name, nested in (("answers", AdvisorAnswers), ("assumptions", AdvisorAssumptions)):
            if isinstance(data.get(name), dict):
                _nested(name, nested, data[name])
    return valid_input(AdvisorIn, data)


def _nested(name: str, serializer: type[serializers.Serializer], data: dict[str, Any]) -> None:
    # valid_input's strict checks look at the top level only; run them on the nested object too.
    try:
        valid_input(serializer, data)
    except ValidationFailed as exc:
        details = exc.details
        if isinstance(details, dict) and "field" in details:
            details = {**details, "field": f"{name}.{details['field']}"}
        else:
            details = {name: details}
        raise ValidationFailed(exc.message, code=exc.code, details=details) from None


# --- Output ----------------------------------------------------------------------------------------


class AdvisorRuleOut(serializers.Serializer):
    id = serializers.CharField(help_text="Stable id of the rule, e.g. `behaviour_with_enough_pairs`")
    kind = serializers.CharField(help_text="`decision`, `exclusion` or `note`")
    text = serializers.CharField(help_text="What the rule found, in plain language")


class AdvisorCostLineOut(serializers.Serializer):
    id = serializers.CharField()
    # A declared field named `label` shadows Field.label for mypy only; DRF's metaclass takes it out.
    label = serializers.CharField()  # type: ignore[assignment]
    schedule = serializers.CharField(
        help_text="`one_off` (month 1), `monthly`, or `periodic` (every `every_months` after month 1)"
    )
    amount = serializers.FloatField()
    every_months = serializers.IntegerField(allow_null=True)


class AdvisorMonthOut(serializers.Serializer):
    month = serializers.IntegerField()
    cost = serializers.FloatField()
    cumulative = serializers.FloatField()


class AdvisorApproachCostOut(serializers.Serializer):
    lines = AdvisorCostLineOut(many=True)
    months = AdvisorMonthOut(many=True)
    total = serializers.FloatField(help_text="Cumulative cost over the horizon")


class AdvisorCostsOut(serializers.Serializer):
    prompting = AdvisorApproachCostOut()
    rag = AdvisorApproachCostOut()
    fine_tuning = AdvisorApproachCostOut()
    hybrid = AdvisorApproachCostOut()


class AdvisorBreakEvenMonthsOut(serializers.Serializer):
    rag = serializers.IntegerField(allow_null=True)
    fine_tuning = serializers.IntegerField(allow_null=True)
    hybrid = serializers.IntegerField(allow_null=True)


class AdvisorBreakEvenOut(serializers.Serializer):
    baseline = serializers.CharField(help_text="The approach the others are compared with (`prompting`)")
    definition = serializers.CharField()
    months = AdvisorBreakEvenMonthsOut()


class AdvisorAssessmentOut(serializers.Serializer):
    """The assessment: the recommendation, the rules that fired, and every approach's costs."""

    version = serializers.IntegerField(help_text="Version of this document's shape")
    answers = AdvisorAnswers()
    assumptions = AdvisorAssumptionsOut()
    assumptions_defaulted = serializers.ListField(
        child=serializers.CharField(), help_text="Assumptions left at their default"
    )
    recommendation = serializers.CharField(help_text="`prompting`, `rag`, `fine_tuning` or `hybrid`")
    rules_fired = AdvisorRuleOut(many=True)
    cost_basis = serializers.CharField(help_text="`self_hosted` or `hosted_api`")
    costs = AdvisorCostsOut()
    break_even = AdvisorBreakEvenOut()


class AdvisorRecordOut(AdvisorAssessmentOut):
    """The assessment as stored on the AI system."""

    recorded_by = serializers.CharField()
    recorded_at = serializers.DateTimeField()


# --- View ----------------------------------------------------------------------------------------


class AdvisorViewSet(viewsets.ViewSet):
    """Compute the advisor's recommendation and costs without storing anything."""

    # Stores nothing: whoever may read the AI systems register may ask the advisor.
    policy_resource = "ai_system"
    policy_verbs = {"create": "read"}
    parser_classes = [BoundedJSONParser]

    @extend_schema(request=AdvisorIn, responses={200: AdvisorAssessmentOut})
    def create(self, request: Request) -> Response:
        data = advisor_input(request.data)
        assessment = advisor.assess_data(data["answers"], data.get("assumptions"))
        return Response(assessment.as_json())
