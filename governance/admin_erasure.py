"""Data subject requests (erasure, access, portability), name matches and the suppression list in the
admin: the officer's workbench.

The same services as the API: receiving a request validates the identifiers (the form names the bad
line, never echoes another's value), execute/reject/hold/extend go through the service and its checks,
and an engineer sees none of it (policy line `erasure_request`). A request's page shows each store's
progress, live while the worker runs it, and the days left to the Art. 12(3) deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy, ngettext

from governance import ui
from governance.admin_actions import ReasonPage, ask_then_run, run_each
from governance.admin_base import ObjectAction, PolicyAdmin, PolicyTabularInline
from governance.choices import ALL_GROUNDS, ErasureStatus, NameMatchDecision, RequestKind
from governance.errors import DomainError
from governance.models import ErasureNameMatch, ErasureRequest, SuppressedKey
from governance.participants import erasure_participants
from governance.pii.identifiers import IDENTIFIER_TYPES, validate_identifiers
from governance.policy import DOWNLOAD, REVIEW, WRITE, allowed
from governance.selectors import erasure as selectors
from governance.services import erasure, subject_access

# Translated when shown, in the reader's language; typed as str for the dataclasses and admin attributes
# that take one. makemessages finds `_(...)` as usual.
_ = cast("Callable[[str], str]", gettext_lazy)

# While the worker runs a request its page refreshes itself; any other status is settled until an
# officer acts (and acting reloads the page).
RUNNING = (ErasureStatus.IN_PROGRESS, ErasureStatus.ERASED)


def parse_identifier_lines(text: str) -> tuple[list[dict[str, str]], list[int]]:
    """`type: value` per line (blank lines skipped) -> the API's identifier list and each item's line."""
    items: list[dict[str, str]] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        kind, sep, value = line.partition(":")
        if not sep:
            raise forms.ValidationError(
                _("line %(line)s: write it as type: value") % {"line": number}, code="invalid_identifier"
            )
        items.append({"type": kind.strip().lower(), "value": value.strip()})
        lines.append(number)
    return items, lines


class ErasureRequestAddForm(ModelForm):  # type: ignore[type-arg]
    identifiers = forms.CharField(
        label=_("Identifiers"),
        strip=False,  # line numbers in errors count the lines as typed, leading blank ones included
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "autocomplete": "off", "spellcheck": "false"}),
        help_text=format_lazy(
            "{} {}. {}",
            _("One per line as type: value. Types:"),
            ", ".join(IDENTIFIER_TYPES),
            _("Only the types and keys are stored; the values are kept encrypted until the request ends."),
        ),
    )

    class Meta:
        model = ErasureRequest
        fields = ["kind", "reference", "received_at"]

    def clean_received_at(self) -> Any:
        received = self.cleaned_data.get("received_at")
        if received is not None and received > timezone.now() + timedelta(minutes=5):
            raise forms.ValidationError(_("received_at cannot be in the future"), code="received_in_future")
        return received

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["received_at"].required = False
        self.fields["received_at"].help_text = _("When the subject's request arrived; empty: now")
        self.fields["kind"].required = False
        self.fields["kind"].help_text = _(
            "Erasure forgets the person; access and portability build an encrypted package of their data"
        )

    def clean_kind(self) -> str:
        return str(self.cleaned_data.get("kind") or RequestKind.ERASURE)

    def clean_identifiers(self) -> list[dict[str, str]]:
        items, lines = parse_identifier_lines(self.cleaned_data["identifiers"])
        try:
            validate_identifiers(items)
        except DomainError as exc:
            # Named by its line in the box, never by its value (the service counts items from 0).
            index = (exc.details or {}).get("index")
            if isinstance(index, int) and 0 <= index < len(lines):
                reason = exc.message.split(": ", 1)[-1]
                raise forms.ValidationError(
                    _("line %(line)s: %(reason)s") % {"line": lines[index], "reason": reason}, code=exc.code
                ) from None
            raise forms.ValidationError(exc.message, code=exc.code) from None
        return items


class ErasureNameMatchInline(PolicyTabularInline):
    model = ErasureNameMatch
    policy_resource = "erasure_request"
    fields = ("store", "kind", "object_id", "label", "decision", "decided_at")
    readonly_fields = fields


class RejectForm(forms.Form):
    ground = forms.ChoiceField(
        label=_("Ground"),
        choices=ALL_GROUNDS,
        help_text=_(
            "Art. 17(3) grounds refuse an erasure; Art. 12(5) any kind; Art. 15(4) / 20(4) an access or "
            "portability request; Art. 20(1) a portability request"
        ),
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 5, "cols": 80}))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 5, "cols": 80}))


class ExtendForm(forms.Form):
    months = forms.TypedChoiceField(
        label=_("Months"), choices=[(1, _("1 month")), (2, _("2 months"))], coerce=int
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 5, "cols": 80}))


REJECT_INTRO = _(
    "A rejection needs a ground the request's kind may be refused on (Art. 17(3) for an erasure) and "
    "the reason you will give the data subject. The request's encrypted identifiers are destroyed at once."
)
HOLD_INTRO = _("Nothing runs while a request is on hold. Write the reason (the hold's legal basis).")
EXTEND_INTRO = _(
    "The deadline can be extended by two further months in total, where necessary given the "
    "complexity and number of requests. The subject must be told why within the first month."
)
REJECT_PAGE = ReasonPage("reject", _("Reject erasure requests"), REJECT_INTRO, _("Reject"))
HOLD_PAGE = ReasonPage("hold", _("Put erasure requests on legal hold"), HOLD_INTRO, _("Put on hold"))
EXTEND_PAGE = ReasonPage("extend", _("Extend the deadline (Art. 12(3))"), EXTEND_INTRO, _("Extend"))
LIFT_PAGE = ReasonPage(
    action="lift",
    title=_("Lift suppressions"),
    intro=_("Lifting lets documents and dataset records of this subject in again. Write why."),
    submit=_("Lift"),
)


class OverdueFilter(admin.SimpleListFilter):
    """Requests past their due date that have not ended (Art. 12(3))."""

    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> QuerySet[ErasureRequest]:
        if self.value() == "yes":
            return queryset.filter(selectors.overdue_q())
        if self.value() == "no":
            return queryset.exclude(selectors.overdue_q())
        return queryset


# --- What the request's page shows -----------------------------------------------------------------


def deadline(record: ErasureRequest) -> SafeString:
    """Days left to the Art. 12(3) deadline; red once it has passed on a request that has not ended."""
    if record.status in erasure.TERMINAL:
        return format_html("{}", _("ended"))
    days = (timezone.localdate(record.due_at) - timezone.localdate()).days
    if selectors.is_overdue(record):
        late = max(-days, 0)
        text = ngettext("overdue by %(n)d day", "overdue by %(n)d days", late) % {"n": late}
        return format_html('<span class="gv-overdue">{}</span>', text)
    if days == 0:
        return format_html('<span class="gv-overdue">{}</span>', _("due today"))
    return format_html("{}", ngettext("%(n)d day left", "%(n)d days left", days) % {"n": days})


def store_status(record: ErasureRequest, name: str) -> SafeString:
    """Where one store stands, from the furthest phase it has recorded."""
    checked = record.verification.get("stores", {}).get(name)
    if checked is not None:
        return ui.badge("verified", _("verified")) if checked.get("ok") else ui.badge("failed", _("failed"))
    if name in record.purge_results:
        return ui.badge("purged", _("purged"), tone_of=ui.OK)
    if name in record.results:
        return ui.badge("erased", _("erased"))
    if record.status == ErasureStatus.IN_PROGRESS:
        return ui.badge("running", _("running"))
    if "not_ready" in record.preview.get(name, {}):
        return ui.badge("pending", _("not ready"))
    if record.status == ErasureStatus.REJECTED:
        return ui.badge("rejected", _("not erased"))
    return ui.badge("pending", _("found, not erased yet"))


def _store_names(record: ErasureRequest) -> list[str]:
    """Every registered store in run order, then any store a recorded phase names that is gone since."""
    names = list(erasure_participants())
    recorded = {
        *record.preview,
        *erasure.store_results(record),
        *record.purge_results,
        *record.verification.get("stores", {}),
    }
    return names + sorted(n for n in recorded if n not in names and not n.startswith("_"))


def _phase(value: Any) -> SafeString:
    if not value:
        return format_html("{}", "-")
    shown = _without_paths(value)
    return ui.json_table(shown)


# Where files lived on the server is for the logs, not for readers of the page.
_PATH_KEYS = ("path", "paths", "files", "file", "directory", "directories")


def _without_paths(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_paths(v) for k, v in value.items() if k != "run" and not k.endswith(_PATH_KEYS)}
    if isinstance(value, list):
        return [_without_paths(v) for v in value if not (isinstance(v, str) and v.startswith("/"))]
    return value


def export_table(record: ErasureRequest) -> SafeString:
    """An access or portability request: one row per store, what it found and what the package holds."""
    results = erasure.store_results(record)

    def status(name: str) -> SafeString:
        if name in results and record.status == ErasureStatus.COMPLETED:
            return ui.badge("completed", _("in the package"), tone_of=ui.OK)
        if record.status == ErasureStatus.IN_PROGRESS:
            return ui.badge("running", _("collecting"))
        if "not_ready" in record.preview.get(name, {}):
            return ui.badge("pending", _("not ready"))
        return ui.badge("pending", _("found, not collected yet"))

    rows = format_html_join(
        "",
        "<tr><th scope='row'>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                name,
                status(name),
                _phase(record.preview.get(name)),
                _phase(results.get(name, {}).get("counts")),
            )
            for name in _store_names(record)
        ),
    )
    head = format_html_join(
        "",
        "<th scope='col'>{}</th>",
        ((h,) for h in (_("Store"), _("Status"), _("Found"), _("In the package"))),
    )
    return format_html(
        '<table class="gv-grid gv-stores"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, rows
    )


def progress_table(record: ErasureRequest) -> SafeString:
    """One row per store: its status, what it found, erased, purged and what verification said."""
    if record.kind != RequestKind.ERASURE:
        return export_table(record)
    results = erasure.store_results(record)
    checked = record.verification.get("stores", {})
    rows = format_html_join(
        "",
        "<tr><th scope='row'>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                name,
                store_status(record, name),
                _phase(record.preview.get(name)),
                _phase(results.get(name)),
                _phase(record.purge_results.get(name)),
                _phase(checked.get(name)),
            )
            for name in _store_names(record)
        ),
    )
    head = format_html_join(
        "",
        "<th scope='col'>{}</th>",
        ((h,) for h in (_("Store"), _("Status"), _("Found"), _("Erased"), _("Purged"), _("Verification"))),
    )
    text = checked.get("_identifiers")
    note = (
        format_html('<p class="gv-overdue">{}: {}</p>', _("Text verification"), text.get("error", ""))
        if isinstance(text, dict) and not text.get("ok")
        else ""
    )
    return format_html(
        '<table class="gv-grid gv-stores"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>{}',
        head,
        rows,
        note,
    )


def phase_times(record: ErasureRequest) -> SafeString:
    if record.kind != RequestKind.ERASURE:
        done = {_("Executed"): ui.when(record.executed_at), _("Completed"): ui.when(record.completed_at)}
        return format_html_join(
            mark_safe(" &middot; "), "{}: {}", ((k, v) for k, v in done.items() if v != "-")
        )
    times = {
        _("Executed"): ui.when(record.executed_at),
        _("Logical erasure finished"): ui.when(record.erased_at),
        _("Purge due"): ui.when(record.purge_due_at),
        _("Purged"): ui.when(record.purged_at),
        _("Completed"): ui.when(record.completed_at),
    }
    return format_html_join(mark_safe(" &middot; "), "{}: {}", ((k, v) for k, v in times.items() if v != "-"))


def package_state(package: Any) -> SafeString:
    """Where a request's package stands: until when it can be downloaded, or why it is gone."""
    if subject_access.is_available(package):
        state = format_html(
            "{} {}{}",
            _("available until"),
            ui.when(package.expires_at),
            _(", single use") if package.single_use else "",
        )
    elif package.deleted_reason:
        state = format_html("{} {}", _("deleted:"), package.deleted_reason)
    else:
        state = format_html("{}", _("expired"))
    shown = _("password shown") if package.password_shown_at else _("password not shown yet")
    return format_html("{} &middot; {} &middot; sha256 {}", state, shown, ui.short_hash(package.sha256))


def _certificate_links(record: ErasureRequest) -> SafeString:
    pdf = reverse("erasure-request-certificate", args=[record.pk])
    facts = reverse("erasure-request-facts", args=[record.pk])
    return format_html(
        '<a class="gv-button" data-action="certificate" href="{}">{}</a> <a href="{}">{}</a> sha256 {}',
        pdf,
        _("Download the erasure certificate (PDF)"),
        facts,
        _("its facts (JSON)"),
        ui.short_hash(record.certificate_sha256),
    )


# --- Buttons on a request's page -------------------------------------------------------------------


def _call(service: Callable[..., Any]) -> Callable[[HttpRequest, ErasureRequest, dict[str, Any]], Any]:
    """An ObjectAction's run: the service with the reader as actor and the form's fields."""
    return lambda request, record, data: service(actor=request.user, request=record, **data)


def _in(*statuses: str) -> Callable[[ErasureRequest], bool]:
    return lambda record: record.status in statuses


def _executable(record: ErasureRequest) -> bool:
    if record.kind == RequestKind.ERASURE:
        return record.status in (ErasureStatus.RECEIVED, ErasureStatus.FAILED)
    return record.status in (ErasureStatus.RECEIVED, ErasureStatus.FAILED, ErasureStatus.COMPLETED)


def _has_password(record: ErasureRequest) -> bool:
    package = subject_access.live_package(record)
    return package is not None and bool(package.password_encrypted)


def _has_live_package(record: ErasureRequest) -> bool:
    package = subject_access.live_package(record)
    return package is not None and subject_access.is_available(package)


def show_password(request: HttpRequest, record: ErasureRequest, data: dict[str, Any]) -> HttpResponseBase:
    """The package's password on a page of its own, once; never in a message, a cookie or a log."""
    password = subject_access.subject_package_password(actor=request.user, request=record)
    response = TemplateResponse(
        request,
        "admin/governance/package_password.html",
        {
            **admin.site.each_context(request),
            "title": _("Package password: %(ref)s") % {"ref": record.reference},
            "password": password,
            "package": subject_access.latest_package(record),
            "original": record,
            "opts": ErasureRequest._meta,
            "back": ui.admin_url(record),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


def download_package(request: HttpRequest, record: ErasureRequest, data: dict[str, Any]) -> FileResponse:
    handle, package = subject_access.subject_package_open(actor=request.user, request=record)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{record.kind}-request-{record.pk}.zip",
        content_type="application/zip",
    )


REQUEST_ACTIONS = (
    ObjectAction(
        "execute",
        _("Execute"),
        WRITE,
        _call(subject_access.subject_request_execute),
        intro=_(
            "Erasure: logical erasure in every store now, in the worker; the physical purge, the "
            "verification and the certificate follow. Access or portability: the worker collects what "
            "every store holds about the subject into an encrypted package (a new one replaces the old). "
            "Every name-only match must be decided first."
        ),
        applies=_executable,
    ),
    ObjectAction(
        "package_password",
        _("Show the package password (once)"),
        WRITE,
        show_password,
        intro=_(
            "The password opens the package (an AES-256 ZIP). It is shown on the next page once and then "
            "destroyed: write it down and give it to the subject by another channel than the package."
        ),
        applies=_has_password,
        response=True,
    ),
    ObjectAction(
        "package",
        _("Download the package"),
        WRITE,
        download_package,
        intro=_(
            "The encrypted ZIP with the letter (PDF) and the data (JSON). A single-use package is deleted "
            "as it is downloaded; any package is deleted when it expires."
        ),
        applies=_has_live_package,
        response=True,
    ),
    ObjectAction(
        "purge",
        _("Purge and verify now"),
        WRITE,
        _call(erasure.erasure_request_purge_now),
        intro=_("Run the physical purge and the verification now instead of at their due time."),
        applies=_in(ErasureStatus.ERASED),
    ),
    ObjectAction(
        "refresh",
        _("Ask every store again"),
        WRITE,
        _call(erasure.erasure_request_refresh),
        intro=_("New documents or dataset versions may have arrived since the request was received."),
        applies=_in(ErasureStatus.RECEIVED, ErasureStatus.ON_HOLD, ErasureStatus.FAILED),
    ),
    ObjectAction(
        "reject",
        _("Reject"),
        REVIEW,
        _call(erasure.erasure_request_reject),
        form=RejectForm,
        intro=REJECT_INTRO,
        applies=_in(ErasureStatus.RECEIVED, ErasureStatus.ON_HOLD, ErasureStatus.FAILED),
    ),
    ObjectAction(
        "hold",
        _("Put on legal hold"),
        REVIEW,
        _call(erasure.erasure_request_hold),
        form=ReasonForm,
        intro=HOLD_INTRO,
        applies=_in(ErasureStatus.RECEIVED, ErasureStatus.FAILED),
    ),
    ObjectAction(
        "release",
        _("Release from hold"),
        REVIEW,
        _call(erasure.erasure_request_release),
        intro=_("The request goes back to received; execute it when it may run."),
        applies=_in(ErasureStatus.ON_HOLD),
    ),
    ObjectAction(
        "extend",
        _("Extend the deadline"),
        REVIEW,
        _call(erasure.erasure_request_extend),
        form=ExtendForm,
        intro=EXTEND_INTRO,
        applies=lambda record: (
            record.status not in erasure.TERMINAL and record.extension_months < erasure.MAX_EXTENSION_MONTHS
        ),
    ),
)


# What only an erasure has: an access or portability request's page leaves them out.
ERASURE_ONLY_FIELDS = (
    "erased_at",
    "purge_due_at",
    "purged_at",
    "certificate",
    "chain_head_sequence",
    "chain_head_hash_short",
)


@admin.register(ErasureRequest)
class ErasureRequestAdmin(PolicyAdmin):
    policy_resource = "erasure_request"
    offers_change = False  # every change is an action through the service
    list_display = [
        "reference",
        "kind",
        "status_badge",
        "received_at",
        "due_at",
        "days_left",
        "name_matches_undecided",
        "counts",
    ]
    list_filter = ["kind", "status", OverdueFilter]
    search_fields = ["reference"]
    inlines = [ErasureNameMatchInline]
    actions = ["execute", "purge_now", "refresh", "reject", "hold", "release", "extend"]
    object_actions = REQUEST_ACTIONS
    panels = ("overview_panel", "progress_panel")
    fragments = ("progress",)
    # The stores' JSON (preview, results, purge, verification) is in the progress panel, as tables.
    readonly_fields = [
        "kind",
        "reference",
        "status",
        "identifier_types_table",
        "received_at",
        "due_at",
        "overdue",
        "extension_months",
        "extension_reason",
        "rejection_ground",
        "rejection_reason",
        "hold_reason",
        "error",
        "executed_at",
        "erased_at",
        "purge_due_at",
        "purged_at",
        "completed_at",
        "certificate",
        "chain_head_sequence",
        "chain_head_hash_short",
    ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ErasureRequestAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["kind", "reference", "received_at", "identifiers"]
        if obj.kind != RequestKind.ERASURE:
            return [f for f in self.readonly_fields if f not in ERASURE_ONLY_FIELDS]
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.inlines

    def save_model(self, request: HttpRequest, obj: ErasureRequest, form: ModelForm, change: bool) -> None:
        data = form.cleaned_data
        created = erasure.erasure_request_create(
            actor=request.user,
            kind=data["kind"],
            reference=data["reference"],
            identifiers=data["identifiers"],
            received_at=data.get("received_at"),
        )
        obj.pk = created.pk

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        pass

    # --- Panels and the live fragment ---

    def overview_panel(self, request: HttpRequest, record: ErasureRequest) -> SafeString:
        facts: dict[str, Any] = {
            _("Status"): ui.badge(record.status, record.get_status_display()),
            _("Deadline (Art. 12(3))"): format_html("{} ({})", ui.when(record.due_at), deadline(record)),
            _("Received"): ui.when(record.received_at),
        }
        if record.extension_months:
            facts[_("Extended by")] = ngettext("%(n)d month", "%(n)d months", record.extension_months) % {
                "n": record.extension_months
            }
        if record.status == ErasureStatus.REJECTED:
            facts[_("Rejected on")] = record.get_rejection_ground_display()
        if record.hold_reason:
            facts[_("On hold because")] = record.hold_reason
        facts[_("Kind")] = record.get_kind_display()
        package = record.packages.order_by("-created_at", "-id").first()
        if package is not None:
            facts[_("Package")] = package_state(package)
        if record.status == ErasureStatus.COMPLETED and record.certificate_sha256:
            facts[_("Certificate")] = (
                _certificate_links(record)
                if allowed(request.user, self.policy_resource, DOWNLOAD)
                else ui.short_hash(record.certificate_sha256)
            )
        return format_html("<h3>{}</h3>{}", _("Request"), ui.json_table(facts))

    def progress_panel(self, request: HttpRequest, record: ErasureRequest) -> SafeString:
        box = self.live(record, "progress", done=record.status not in RUNNING)
        return format_html("<h3>{}</h3>{}", _("Progress per store"), box)

    def progress(self, record: ErasureRequest) -> SafeString:
        """Each store's phases; polled while the worker runs the request, marked done once it settles."""
        error = format_html('<p class="gv-overdue">{}</p>', record.error) if record.error else ""
        return format_html(
            "<p>{} {}</p>{}{}{}",
            ui.badge(record.status, record.get_status_display()),
            phase_times(record),
            error,
            progress_table(record),
            "" if record.status in RUNNING else ui.done_marker(),
        )

    # --- Columns and fields ---

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj: ErasureRequest) -> SafeString:
        return ui.badge(obj.status, obj.get_status_display())

    @admin.display(description=_("Deadline"), ordering="due_at")
    def days_left(self, obj: ErasureRequest) -> SafeString:
        return deadline(obj)

    @admin.display(boolean=True, description=_("Overdue"))
    def overdue(self, obj: ErasureRequest) -> bool:
        return selectors.is_overdue(obj)

    @admin.display(description=_("Identifiers (types)"))
    def identifier_types_table(self, obj: ErasureRequest) -> SafeString:
        return ui.json_table(obj.identifier_types)

    @admin.display(description=_("Audit chain head certified"))
    def chain_head_hash_short(self, obj: ErasureRequest) -> SafeString:
        return ui.short_hash(obj.chain_head_hash)

    @admin.display(description=_("Name matches to decide"))
    def name_matches_undecided(self, obj: ErasureRequest) -> int:
        return obj.name_matches.filter(decision=NameMatchDecision.UNDECIDED).count()

    @admin.display(description=_("Erased or exported"))
    def counts(self, obj: ErasureRequest) -> str:
        parts = [
            f"{name} {value}"
            for store in erasure.totals(obj).values()
            for name, value in store.items()
            if value
        ]
        return ", ".join(parts) or "-"

    @admin.display(description=_("Certificate"))
    def certificate(self, obj: ErasureRequest) -> str:
        if not obj.certificate_sha256:
            return "-"
        url = reverse("erasure-request-certificate", args=[obj.pk])
        return format_html('<a href="{}">PDF</a> sha256 {}', url, obj.certificate_sha256)

    # --- List actions (several requests at once) ---

    @admin.action(
        description=_(
            "Execute (erasure: now, purge and certificate after; access, portability: build the package)"
        ),
        permissions=["write"],
    )
    def execute(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> None:
        done = run_each(
            request, queryset, lambda r: subject_access.subject_request_execute(actor=request.user, request=r)
        )
        if done:
            messages.success(request, _("Queued: %(n)s") % {"n": done})

    @admin.action(description=_("Purge and verify now (erased requests)"), permissions=["write"])
    def purge_now(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> None:
        done = run_each(
            request, queryset, lambda r: erasure.erasure_request_purge_now(actor=request.user, request=r)
        )
        if done:
            messages.success(request, _("Purge queued: %(n)s") % {"n": done})

    @admin.action(description=_("Ask every store again"), permissions=["write"])
    def refresh(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> None:
        done = run_each(
            request, queryset, lambda r: erasure.erasure_request_refresh(actor=request.user, request=r)
        )
        if done:
            messages.success(request, _("Refreshed: %(n)s") % {"n": done})

    @admin.action(description=_("Reject (Art. 17(3) ground)"), permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            RejectForm,
            REJECT_PAGE,
            lambda r, d: erasure.erasure_request_reject(actor=request.user, request=r, **d),
            _("Rejected"),
        )

    @admin.action(description=_("Put on legal hold"), permissions=["review"])
    def hold(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            ReasonForm,
            HOLD_PAGE,
            lambda r, d: erasure.erasure_request_hold(actor=request.user, request=r, **d),
            _("On hold"),
        )

    @admin.action(description=_("Release from hold"), permissions=["review"])
    def release(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> None:
        done = run_each(
            request, queryset, lambda r: erasure.erasure_request_release(actor=request.user, request=r)
        )
        if done:
            messages.success(request, _("Released: %(n)s") % {"n": done})

    @admin.action(description=_("Extend the deadline (Art. 12(3))"), permissions=["review"])
    def extend(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            ExtendForm,
            EXTEND_PAGE,
            lambda r, d: erasure.erasure_request_extend(actor=request.user, request=r, **d),
            _("Extended"),
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

    @admin.action(description=_("Confirm: the subject's, erase it"), permissions=["write"])
    def confirm_matches(self, request: HttpRequest, queryset: QuerySet[ErasureNameMatch]) -> None:
        self._decide(request, queryset, NameMatchDecision.CONFIRMED)

    @admin.action(description=_("Exclude: someone else's, keep it"), permissions=["write"])
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

    @admin.action(description=_("Lift (with a reason)"), permissions=["review"])
    def lift(self, request: HttpRequest, queryset: QuerySet[SuppressedKey]) -> Any:
        return ask_then_run(
            self,
            request,
            queryset,
            ReasonForm,
            LIFT_PAGE,
            lambda row, d: erasure.suppression_lift(actor=request.user, suppression=row, **d),
            _("Lifted"),
        )
