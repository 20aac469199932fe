"""The answer register and the prompt templates in the admin: view-only records, officers and auditors."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _

from answers.models import AnswerRecord, PromptTemplate
from governance import ui
from governance.admin_base import PolicyAdmin


@admin.register(AnswerRecord)
class AnswerRecordAdmin(PolicyAdmin):
    policy_resource = "answer"
    offers_add = False
    offers_change = False
    list_display = [
        "id",
        "created_at",
        "deployment_link",
        "outcome",
        "feedback",
        "tokens_generated",
        "total_ms",
    ]
    list_filter = ["handoff", "feedback_rating", "backend"]
    search_fields = ["question_masked", "answer_masked"]
    readonly_fields = ["record"]
    fields = ["record"]

    @admin.display(description=_("deployment"))
    def deployment_link(self, obj: AnswerRecord) -> SafeString:
        return ui.link(obj.deployment)

    @admin.display(description=_("outcome"))
    def outcome(self, obj: AnswerRecord) -> SafeString:
        if obj.handoff:
            return ui.badge(
                "handoff", _g("handed off: %(reason)s") % {"reason": obj.handoff_reason}, tone_of=ui.WAIT
            )
        return ui.badge("answered", _g("answered"), tone_of=ui.OK)

    @admin.display(description=_("feedback"))
    def feedback(self, obj: AnswerRecord) -> SafeString:
        labels = {-1: (_g("wrong"), ui.BAD), 0: (_g("neutral"), ui.OFF), 1: (_g("right"), ui.OK)}
        if obj.feedback_rating is None:
            return ui.badge("none", "-", tone_of=ui.OFF)
        label, tone = labels[obj.feedback_rating]
        return ui.badge(label, label, tone_of=tone)

    @admin.display(description=_("total ms"))
    def total_ms(self, obj: AnswerRecord) -> Any:
        return (obj.timings or {}).get("total_ms", "-")

    @admin.display(description=_("what produced this answer"))
    def record(self, obj: AnswerRecord) -> SafeString:
        return ui.json_table(
            {
                _g("time"): ui.when(obj.created_at),
                _g("deployment"): str(obj.deployment),
                _g("base model"): str(obj.base_model),
                _g("adapter"): str(obj.adapter_version) if obj.adapter_version else None,
                _g("collection"): str(obj.collection) if obj.collection else None,
                _g("documentation version"): obj.documentation_version,
                _g("prompt template version"): obj.prompt_template_version,
                _g("prompt template sha256"): obj.prompt_template_sha256,
                _g("backend"): obj.backend,
                _g("question (masked)"): obj.question_masked,
                _g("answer (masked)"): obj.answer_masked,
                _g("fragments given"): obj.chunks,
                _g("personal data found"): obj.pii_summary,
                _g("hand-off"): obj.handoff,
                _g("hand-off reason"): obj.handoff_reason,
                _g("ms per stage"): obj.timings,
                _g("tokens generated"): obj.tokens_generated,
                _g("feedback rating"): obj.feedback_rating,
                _g("correction (masked)"): obj.feedback_correction_masked,
            }
        )

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("deployment", "deployment__ai_system")


@admin.register(PromptTemplate)
class PromptTemplateAdmin(PolicyAdmin):
    policy_resource = "deployment"
    offers_add = False  # new versions go through the API (placeholders checked, audited)
    offers_change = False  # a version is never edited
    list_display = ["__str__", "version", "created_by", "created_at"]
    readonly_fields = ["deployment", "version", "text", "sha256", "note", "created_by", "created_at"]
