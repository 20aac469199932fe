"""The answer register and the prompt templates in the admin: view-only records, officers and auditors."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

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

    @admin.display(description="deployment")
    def deployment_link(self, obj: AnswerRecord) -> SafeString:
        return ui.link(obj.deployment)

    @admin.display(description="outcome")
    def outcome(self, obj: AnswerRecord) -> SafeString:
        if obj.handoff:
            return ui.badge("handoff", f"handed off: {obj.handoff_reason}", tone_of=ui.WAIT)
        return ui.badge("answered", "answered", tone_of=ui.OK)

    @admin.display(description="feedback")
    def feedback(self, obj: AnswerRecord) -> SafeString:
        labels = {-1: ("wrong", ui.BAD), 0: ("neutral", ui.OFF), 1: ("right", ui.OK)}
        if obj.feedback_rating is None:
            return ui.badge("none", "-", tone_of=ui.OFF)
        label, tone = labels[obj.feedback_rating]
        return ui.badge(label, label, tone_of=tone)

    @admin.display(description="total ms")
    def total_ms(self, obj: AnswerRecord) -> Any:
        return (obj.timings or {}).get("total_ms", "-")

    @admin.display(description="what produced this answer")
    def record(self, obj: AnswerRecord) -> SafeString:
        return ui.json_table(
            {
                "time": ui.when(obj.created_at),
                "deployment": str(obj.deployment),
                "base model": str(obj.base_model),
                "adapter": str(obj.adapter_version) if obj.adapter_version else None,
                "collection": str(obj.collection) if obj.collection else None,
                "documentation version": obj.documentation_version,
                "prompt template version": obj.prompt_template_version,
                "prompt template sha256": obj.prompt_template_sha256,
                "backend": obj.backend,
                "question (masked)": obj.question_masked,
                "answer (masked)": obj.answer_masked,
                "fragments given": obj.chunks,
                "personal data found": obj.pii_summary,
                "hand-off": obj.handoff,
                "hand-off reason": obj.handoff_reason,
                "ms per stage": obj.timings,
                "tokens generated": obj.tokens_generated,
                "feedback rating": obj.feedback_rating,
                "correction (masked)": obj.feedback_correction_masked,
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
