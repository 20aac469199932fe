"""Erasure requests, name matches and the suppression list in the admin: the officer's workbench.

The same services as the API: receiving a request validates the identifiers (the form names the bad
line, never echoes another's value), execute/reject/hold/extend go through the service and its checks,
and an engineer sees none of it (policy line `erasure_request`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from governance.admin_actions import ReasonPage, ask_then_run, run_each
from governance.admin_base import PolicyAdmin, PolicyTabularInline
from governance.choices import ErasureGround, NameMatchDecision
from governance.errors import DomainError
from governance.models import ErasureNameMatch, ErasureRequest, SuppressedKey
from governance.pii.identifiers import IDENTIFIER_TYPES, validate_identifiers
from governance.selectors import erasure as selectors
from governance.services import erasure


def parse_identifier_lines(text: str) -> tuple[list[dict[str, str]], list[int]]:
    """`type: value` per line (blank lines skipped) -> the API's identifier list and each item's line."""
    items: list[dict[str, str]] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        kind, sep, value = line.partition(":")
        if not sep:
            raise forms.ValidationError(f"line {number}: write it as type: value", code="invalid_identifier")
        items.append({"type": kind.strip().lower(), "value": value.strip()})
        lines.append(number)
    return items, lines


class ErasureRequestAddForm(ModelForm):  # type: ignore[type-arg]
    identifiers = forms.CharField(
        strip=False,  # line numbers in errors count the lines as typed, leading blank ones included
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One per line as type: value. Types: " + ", ".join(IDENTIFIER_TYPES) + ". Only the types "
        "and keys are stored; the values are kept encrypted until the request ends.",
    )

    class Meta:
        model = ErasureRequest
        fields = ["reference", "received_at"]

    def clean_received_at(self) -> Any:
        received = self.cleaned_data.get("received_at")
        if received is not None and received > timezone.now() + timedelta(minutes=5):
            raise forms.ValidationError("received_at cannot be in the future", code="received_in_future")
        return received

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["received_at"].required = False
        self.fields["received_at"].help_text = "When the subject's request arrived; empty: now"

    def clean_identifiers(self) -> list[dict[str, str]]:
        items, lines = parse_identifier_lines(self.cleaned_data["identifiers"])
        try:
            validate_identifiers(items)
        except DomainError as exc:
            # Named by its line in the box, never by its value (the service counts items from 0).
            index = (exc.details or {}).get("index")
            if isinstance(index, int) and 0 <= index < len(lines):
                reason = exc.message.split(": ", 1)[-1]
                raise forms.ValidationError(f"line {lines[index]}: {reason}", code=exc.code) from None
            raise forms.ValidationError(exc.message, code=exc.code) from None
        return items


class ErasureNameMatchInline(PolicyTabularInline):
    model = ErasureNameMatch
    policy_resource = "erasure_request"
    fields = ("store", "kind", "object_id", "label", "decision", "decided_at")
    readonly_fields = fields


class RejectForm(forms.Form):
    ground = forms.ChoiceField(choices=ErasureGround.choices, help_text="GDPR Art. 17(3)")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 5, "cols": 80}))


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 5, "cols": 80}))


class ExtendForm(forms.Form):
    months = forms.TypedChoiceField(choices=[(1, "1 month"), (2, "2 months")], coerce=int)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 5, "cols": 80}))


REJECT_PAGE = ReasonPage(
    action="reject",
    title="Reject erasure requests",
    intro="A rejection needs an Art. 17(3) ground and the reason you will give the data subject. The "
    "request's encrypted identifiers are destroyed at once.",
    submit="Reject",
)
HOLD_PAGE = ReasonPage(
    action="hold",
    title="Put erasure requests on legal hold",
    intro="Nothing runs while a request is on hold. Write the reason (the hold's legal basis).",
    submit="Put on hold",
)
EXTEND_PAGE = ReasonPage(
    action="extend",
    title="Extend the deadline (Art. 12(3))",
    intro="The deadline can be extended by two further months in total, where necessary given the "
    "complexity and number of requests. The subject must be told why within the first month.",
    submit="Extend",
)
LIFT_PAGE = ReasonPage(
    action="lift",
    title="Lift suppressions",
    intro="Lifting lets documents and dataset records of this subject in again. Write why.",
    submit="Lift",
)


class OverdueFilter(admin.SimpleListFilter):
    """Requests past their due date that have not ended (Art. 12(3))."""

    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> QuerySet[ErasureRequest]:
        if self.value() == "yes":
            return queryset.filter(selectors.overdue_q())
        if self.value() == "no":
            return queryset.exclude(selectors.overdue_q())
        return queryset


@admin.register(ErasureRequest)
class ErasureRequestAdmin(PolicyAdmin):
    policy_resource = "erasure_request"
    offers_change = False  # every change is an action through the service
    list_display = [
        "reference",
        "status",
        "received_at",
        "due_at",
        "overdue",
        "name_matches_undecided",
        "counts",
    ]
    list_filter = ["status", OverdueFilter]
    search_fields = ["reference"]
    inlines = [ErasureNameMatchInline]
    actions = ["execute", "purge_now", "refresh", "reject", "hold", "release", "extend"]
    readonly_fields = [
        "reference",
        "status",
        "identifier_types",
        "received_at",
        "due_at",
        "overdue",
        "extension_months",
        "extension_reason",
        "rejection_ground",
        "rejection_reason",
        "hold_reason",
        "preview",
        "results",
        "purge_results",
        "verification",
        "error",
        "executed_at",
        "erased_at",
        "purge_due_at",
        "purged_at",
        "completed_at",
        "certificate",
        "chain_head_sequence",
        "chain_head_hash",
    ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ErasureRequestAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["reference", "received_at", "identifiers"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.inlines

    def save_model(self, request: HttpRequest, obj: ErasureRequest, form: ModelForm, change: bool) -> None:
        data = form.cleaned_data
        created = erasure.erasure_request_create(
            actor=request.user,
            reference=data["reference"],
            identifiers=data["identifiers"],
            received_at=data.get("received_at"),
        )
        obj.pk = created.pk

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        pass

    @admin.display(boolean=True, description="Overdue")
    def overdue(self, obj: ErasureRequest) -> bool:
        return selectors.is_overdue(obj)

    @admin.display(description="Name matches to decide")
    def name_matches_undecided(self, obj: ErasureRequest) -> int:
        return obj.name_matches.filter(decision=NameMatchDecision.UNDECIDED).count()

    @admin.display(description="Erased")
    def counts(self, obj: ErasureRequest) -> str:
        parts = [
            f"{name} {value}"
            for store in erasure.totals(obj).values()
            for name, value in store.items()
            if value
        ]
        return ", ".join(parts) or "-"

    @admin.display(description="Certificate")
    def certificate(self, obj: ErasureRequest) -> str:
        if not obj.certificate_sha256:
            return "-"
        url = reverse("erasure-request-certificate", args=[obj.pk])
        return format_html('<a href="{}">PDF</a> sha256 {}', url, obj.certificate_sha256)

    @admin.action(
        description="Execute (logical erasure now, purge and certificate after)", permissions=["write"]
    )
    def execute(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> None:
        done = run_each(
            request, queryset, lambda r: erasure.erasure_request_execute(actor=request.user, request=r)
        )
        if done:
            messages.success(request, f"Queued: {done}")

    @admin.action(description="Purge and verify now (erased requests)", permissions=["write"])
    def purge_now(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> None:
        done = run_each(
            request, queryset, lambda r: erasure.erasure_request_purge_now(actor=request.user, request=r)
        )
        if done:
            messages.success(request, f"Purge queued: {done}")

    @admin.action(description="Ask every store again", permissions=["write"])
    def refresh(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> None:
        done = run_each(
            request, queryset, lambda r: erasure.erasure_request_refresh(actor=request.user, request=r)
        )
        if done:
            messages.success(request, f"Refreshed: {done}")

    @admin.action(description="Reject (Art. 17(3) ground)", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            RejectForm,
            REJECT_PAGE,
            lambda r, d: erasure.erasure_request_reject(actor=request.user, request=r, **d),
            "Rejected",
        )

    @admin.action(description="Put on legal hold", permissions=["review"])
    def hold(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            ReasonForm,
            HOLD_PAGE,
            lambda r, d: erasure.erasure_request_hold(actor=request.user, request=r, **d),
            "On hold",
        )

    @admin.action(description="Release from hold", permissions=["review"])
    def release(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> None:
        done = run_each(
            request, queryset, lambda r: erasure.erasure_request_release(actor=request.user, request=r)
        )
        if done:
            messages.success(request, f"Released: {done}")

    @admin.action(description="Extend the deadline (Art. 12(3))", permissions=["review"])
    def extend(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            ExtendForm,
            EXTEND_PAGE,
            lambda r, d: erasure.erasure_request_extend(actor=request.user, request=r, **d),
            "Extended",
        )


@admin.register(ErasureNameMatch)
class ErasureNameMatchAdmin(PolicyAdmin):
    """Items matched by the subject's name only: the officer confirms (erase) or excludes (keep) each."""

    policy_resource = "erasure_request"
    offers_add = False
    offers_change = False
    list_display = ["request", "store", "kind", "object_id", "label", "decision", "decided_at"]
    list_filter = ["decision", "store", "kind"]
    search_fields = ["request__reference"]
    readonly_fields = ("request", "store", "kind", "object_id", "label", "decision", "decided_at")
    actions = ["confirm_matches", "exclude_matches"]

    def _decide(self, request: HttpRequest, queryset: QuerySet[ErasureNameMatch], decision: str) -> None:
        done = 0
        for request_id in sorted(set(queryset.values_list("request_id", flat=True))):
            ids = list(queryset.filter(request_id=request_id).values_list("pk", flat=True))
            record = ErasureRequest.objects.get(pk=request_id)
            try:
                erasure.erasure_request_decide_matches(
                    actor=request.user,
                    request=record,
                    confirm=ids if decision == NameMatchDecision.CONFIRMED else [],
                    exclude=ids if decision == NameMatchDecision.EXCLUDED else [],
                )
                done += len(ids)
            except DomainError as exc:
                messages.error(request, f"{record}: {exc.message}")
        if done:
            messages.success(request, f"{NameMatchDecision(decision).label.split(':')[0]}: {done}")

    @admin.action(description="Confirm: the subject's, erase it", permissions=["write"])
    def confirm_matches(self, request: HttpRequest, queryset: QuerySet[ErasureNameMatch]) -> None:
        self._decide(request, queryset, NameMatchDecision.CONFIRMED)

    @admin.action(description="Exclude: someone else's, keep it", permissions=["write"])
    def exclude_matches(self, request: HttpRequest, queryset: QuerySet[ErasureNameMatch]) -> None:
        self._decide(request, queryset, NameMatchDecision.EXCLUDED)


@admin.register(SuppressedKey)
class SuppressedKeyAdmin(PolicyAdmin):
    policy_resource = "suppression"
    offers_add = False
    offers_change = False
    list_display = ["key_type", "request", "created_at", "lifted_at", "lifted_by", "lift_reason"]
    list_filter = ["key_type", "lifted_at"]
    search_fields = ["request__reference"]
    readonly_fields = ["key_type", "request", "created_at", "lifted_at", "lifted_by", "lift_reason"]
    actions = ["lift"]

    @admin.action(description="Lift (with a reason)", permissions=["review"])
    def lift(self, request: HttpRequest, queryset: QuerySet[SuppressedKey]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            ReasonForm,
            LIFT_PAGE,
            lambda row, d: erasure.suppression_lift(actor=request.user, suppression=row, **d),
            "Lifted",
        )
