"""Access (GDPR Art. 15) and portability (Art. 20) requests: export, package, release once.

They share the erasure register's intake, identifiers, deadlines, extension, refusal, hold and
name-match decisions (governance/services/erasure.py, `kind` on the row). What differs is the work:
- `subject_request_execute` (officer) checks every name-only item is decided and queues one export.
- `subject_request_run_export` (Celery, under the row's claim) asks every participant's `export` for
  the subject's items, chosen exactly as erasure chooses them (a key, or a name key the officer
  confirmed), and builds the response package: a letter (PDF, the Art. 15(1) information and what
  each store holds) and the data as JSON, in a ZIP encrypted with AES-256 (WinZip AES, which 7-Zip,
  macOS Archive Utility and most unzip tools open) under a generated one-time password.
- The password is kept Fernet-encrypted until an officer has been shown it once
  (`subject_package_password`), then destroyed. The package can be downloaded until it expires
  (SUBJECT_PACKAGE_TTL_S) and, when single use, once; the file is then deleted (`subject_packages_expire`
  on a beat schedule). Its sha256 is in the audit chain; its content is never logged or stored elsewhere.

A portability package carries the items the subject provided or that were observed about them
(`portable` items: documents, chunks, dataset records, query logs, answers); an access package
carries everything found, derived items such as an adapter's lineage included.
"""

from __future__ import annotations

import io
import json
import secrets
from collections import Counter
from datetime import UTC, timedelta
from pathlib import Path
from typing import IO, Any

import pyzipper
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from governance import claim
from governance.choices import ErasureStatus, NameMatchDecision, RequestKind
from governance.enqueue import enqueue_on_commit
from governance.errors import Conflict, Gone
from governance.models import ErasureRequest, SubjectPackage
from governance.participants import ParticipantNotReady, erasure_participants
from governance.policy import WRITE, require
from governance.roles import User, user_or_none
from governance.services.audit import audit_record
from governance.services.erasure import (
    RESOURCE,
    PhaseOutcome,
    _locked,
    _refuse_unless,
    action,
    erasure_request_create,
    erasure_request_execute,
    fernet,
    scope_for,
    start_run,
)

EXPORT_TASK = "governance.tasks.subject_export"
PACKAGE_DIR = "subject-packages"
LETTER_TEMPLATE = "reports/subject_access_letter.html"
EXPORT_FORMAT = "ai-governance-platform/subject-export/1"
# The letter lists at most this many items; data.json always holds every one.
LETTER_MAX_ITEMS = 500
KINDS = (RequestKind.ACCESS, RequestKind.PORTABILITY)
# What the letter calls the scanner's entity types (data.json keeps the types as found).
PII_LABELS = {
    "EMAIL_ADDRESS": "e-mail address",
    "PHONE_NUMBER": "phone number",
    "PERSON": "name",
    "PL_PESEL": "PESEL number",
    "PL_NIP": "NIP number",
    "IBAN_CODE": "bank account number (IBAN)",
    "CREDIT_CARD": "payment card number",
    "IP_ADDRESS": "IP address",
    "CUSTOMER_ID": "customer id",
}
ARTICLE = {RequestKind.ACCESS: "Article 15", RequestKind.PORTABILITY: "Article 20"}


def subject_request_create(**kwargs: Any) -> ErasureRequest:
    """Receive a request of any kind (the erasure register's intake, with `kind`)."""
    return erasure_request_create(**kwargs)


# --- Execute -------------------------------------------------------------------------------------------


@transaction.atomic
def subject_request_execute(*, actor: User, request: ErasureRequest) -> ErasureRequest:
    """Erasure: the two-phase erasure. Access or portability: queue the export (again, after a
    completed one: the new package replaces the old, which is deleted)."""
    if request.kind == RequestKind.ERASURE:
        return erasure_request_execute(actor=actor, request=request)
    require(actor, RESOURCE, WRITE)
    request = _locked(request)
    _refuse_unless(
        request, [ErasureStatus.RECEIVED, ErasureStatus.FAILED, ErasureStatus.COMPLETED], "execute"
    )
    previous = start_run(request, actor)
    request.completed_at = None
    request.save()
    enqueue_on_commit(EXPORT_TASK, request.pk)
    audit_record(
        actor=actor,
        action=action(request, "executed"),
        obj=request,
        payload={
            "kind": request.kind,
            "preview": request.preview,
            "again": previous == ErasureStatus.COMPLETED,
        },
    )
    return request


def subject_request_claim(*, request_id: int) -> bool:
    """Take an access or portability request for its export; a redelivery stands down beside a live owner."""
    if not ErasureRequest.objects.filter(pk=request_id, kind__in=KINDS).exists():
        return False
    return (
        claim.claim_row(
            ErasureRequest,
            request_id,
            claimable_statuses=[ErasureStatus.IN_PROGRESS],
            running_status=ErasureStatus.IN_PROGRESS,
            on_exhausted=_exhausted,
        )
        is not None
    )


def _exhausted(request_id: int, attempts: int) -> None:
    from governance.services.erasure import _fail

    _fail(request_id, f"worker_lost: the worker stopped during each of {attempts} attempts", held=False)


def subject_request_run_export(*, request_id: int) -> PhaseOutcome:
    """Every participant's export, the package built and stored, the request completed."""
    request = ErasureRequest.objects.get(pk=request_id)
    scope = scope_for(request)
    exports: dict[str, dict[str, Any]] = {}
    for name, participant in erasure_participants().items():
        if participant.export is None:
            continue
        try:
            exports[name] = participant.export(scope)
        except ParticipantNotReady as exc:
            claim.release(ErasureRequest, [request_id], attempts=F("attempts") - 1)
            return PhaseOutcome("not_ready", f"{name}: {exc}")
        if not claim.heartbeat(ErasureRequest, [request_id]):
            return PhaseOutcome("stood_down", "the request was taken over")
    now = timezone.now()
    password = _password()
    letter = letter_facts(request, exports, now)
    data = export_document(request, exports, now)
    archive = build_archive(request, letter, data, password)
    relative = f"{PACKAGE_DIR}/{request.pk}-{secrets.token_hex(8)}.zip"
    from governance.rendering import store_rendered

    path, sha256 = store_rendered(relative, archive)
    try:
        return _complete(request_id, path, sha256, len(archive), password, letter, now)
    except BaseException:
        _delete_file(path)
        raise


@transaction.atomic
def _complete(
    request_id: int, path: str, sha256: str, size: int, password: str, letter: dict[str, Any], now: Any
) -> PhaseOutcome:
    request = ErasureRequest.objects.select_for_update().get(pk=request_id)
    if request.status != ErasureStatus.IN_PROGRESS or not claim.is_mine(request):
        _delete_file(path)
        return PhaseOutcome("stood_down", "the request was taken over")
    for old in SubjectPackage.objects.select_for_update().filter(request=request, deleted_at__isnull=True):
        _retire(old, "replaced")
    summary = {"stores": letter["store_counts"], "items": letter["item_count"], "kind": request.kind}
    package = SubjectPackage.objects.create(
        request=request,
        file=path,
        sha256=sha256,
        size_bytes=size,
        summary=summary,
        single_use=bool(settings.SUBJECT_PACKAGE_SINGLE_USE),
        password_encrypted=_fernet().encrypt(password.encode()),
        created_at=now,
        expires_at=now + timedelta(seconds=int(settings.SUBJECT_PACKAGE_TTL_S)),
    )
    request.results = {name: {"counts": counts} for name, counts in sorted(letter["store_counts"].items())}
    request.status, request.completed_at = ErasureStatus.COMPLETED, now
    request.identifiers_encrypted = None  # exports need the keys only; nothing raw is kept
    request.worker_pid = None
    request.save()
    audit_record(
        actor=None,
        action="subject_request.package_created",
        obj=request,
        payload={
            "kind": request.kind,
            "package": package.pk,
            "sha256": sha256,
            "size_bytes": size,
            "counts": letter["store_counts"],
            "expires_at": package.expires_at.isoformat(),
            "single_use": package.single_use,
        },
    )
    return PhaseOutcome("done")


# --- What the package says -------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _day(value: Any) -> str:
    """A date the subject reads: 2026-12-03 14:05 UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _included(request: ErasureRequest, item: dict[str, Any]) -> bool:
    return request.kind == RequestKind.ACCESS or bool(item.get("portable"))


def _contexts(exports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The processing contexts of every store, one per (register, id), in a fixed order."""
    seen: dict[tuple[str, Any], dict[str, Any]] = {}
    for result in exports.values():
        for context in result.get("processing", []):
            seen.setdefault((str(context.get("register")), context.get("id")), dict(context))
    return [seen[key] for key in sorted(seen, key=lambda k: (k[0], str(k[1])))]


def _label(item: dict[str, Any]) -> str:
    """Where an item is and what it is, for the letter's list (its content is in data.json)."""
    kind = item.get("kind", "")
    where = item.get("collection") or item.get("dataset") or item.get("deployment") or ""
    name = item.get("title") or item.get("name") or item.get("adapter") or ""
    parts = [str(p) for p in (where, name) if p]
    if kind == "dataset_record":
        parts.append(f"version {item.get('version')}, {item.get('split', '')} record {item.get('ordinal')}")
    if kind == "chunk":
        parts.append(f"document {item.get('document_id')}, chunk {item.get('ordinal')}")
    return " \u00b7 ".join(parts) or f"{kind} {item.get('id')}"


def letter_facts(request: ErasureRequest, exports: dict[str, dict[str, Any]], now: Any) -> dict[str, Any]:
    """What the letter states. It names the subject's items (titles, places), so it lives only in the
    encrypted package: the row keeps `store_counts` alone."""
    participants = erasure_participants()
    stores: list[dict[str, Any]] = []
    store_counts: dict[str, dict[str, int]] = {}
    items: list[dict[str, Any]] = []
    pii_types: Counter[str] = Counter()
    for name in sorted(exports, key=lambda n: (participants[n].order, n)):
        included = [item for item in exports[name].get("items", []) if _included(request, item)]
        counts = dict(sorted(Counter(str(item.get("kind")) for item in included).items()))
        store_counts[name] = counts
        stores.append({"name": name, "counts": [{"name": k, "value": v} for k, v in counts.items()]})
        for item in included:
            items.append(
                {"store": name, "kind": item.get("kind"), "id": item.get("id"), "label": _label(item)}
            )
            pii_types.update(str(t) for t in item.get("pii_types", []) or [])
    decisions = {
        decision: request.name_matches.filter(decision=decision).count()
        for decision in (NameMatchDecision.CONFIRMED, NameMatchDecision.EXCLUDED)
    }
    contexts = _contexts(exports)
    return {
        "kind": request.kind,
        "article": ARTICLE[RequestKind(request.kind)],
        "reference": request.reference,
        "request_id": request.pk,
        "received_at": _iso(request.received_at),
        "due_at": _iso(request.due_at),
        "generated_at": _iso(now),
        "received": _day(request.received_at),
        "answered": _day(now),
        "controller": settings.SUBJECT_REQUEST_CONTROLLER,
        "authority": settings.SUBJECT_REQUEST_AUTHORITY,
        "identifier_types": dict(sorted(request.identifier_types.items())),
        "stores": stores,
        "store_counts": store_counts,
        "item_count": len(items),
        "items": items[:LETTER_MAX_ITEMS],
        "items_not_listed": max(0, len(items) - LETTER_MAX_ITEMS),
        "nothing_found": not items,
        "personal_data_types": sorted(pii_types),
        "personal_data_labels": [PII_LABELS.get(t, t.replace("_", " ").lower()) for t in sorted(pii_types)],
        "processing": contexts,
        "name_matches": {
            "confirmed": decisions[NameMatchDecision.CONFIRMED],
            "excluded": decisions[NameMatchDecision.EXCLUDED],
        },
    }


def export_document(request: ErasureRequest, exports: dict[str, dict[str, Any]], now: Any) -> dict[str, Any]:
    """data.json: the subject's items, machine-readable (Art. 20(1): structured, commonly used)."""
    return {
        "format": EXPORT_FORMAT,
        "kind": request.kind,
        "reference": request.reference,
        "generated_at": _iso(now),
        "stores": {
            name: [item for item in result.get("items", []) if _included(request, item)]
            for name, result in sorted(exports.items())
        },
        "processing": _contexts(exports),
    }


def render_letter(facts: dict[str, Any]) -> bytes:
    from django.utils.dateparse import parse_datetime

    from governance.rendering import render_pdf

    created = parse_datetime(facts["generated_at"])
    assert created is not None
    title = f"Response to {facts['kind']} request {facts['reference']}"
    return render_pdf(LETTER_TEMPLATE, {"facts": facts}, title=title, created=created)


def build_archive(
    request: ErasureRequest, letter: dict[str, Any], data: dict[str, Any], password: str
) -> bytes:
    """The ZIP: letter.pdf and data.json, AES-256 encrypted under `password`."""
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode())
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        archive.writestr("letter.pdf", render_letter(letter))
        archive.writestr(
            "data.json", json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str)
        )
    return buffer.getvalue()


# --- Password, download, expiry --------------------------------------------------------------------


def _password() -> str:
    # 20 characters from 32 letters and digits without look-alikes: about 100 bits, easy to read out.
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def _fernet() -> Fernet:
    return fernet(b"subject-package-password")


def is_available(package: SubjectPackage) -> bool:
    """Whether the package can still be downloaded."""
    if package.deleted_at is not None or package.expires_at <= timezone.now():
        return False
    return not (package.single_use and package.download_count)


def live_package(request: ErasureRequest) -> SubjectPackage | None:
    return request.packages.filter(deleted_at__isnull=True).order_by("-created_at", "-id").first()


def latest_package(request: ErasureRequest) -> SubjectPackage:
    if request.kind == RequestKind.ERASURE:
        raise Conflict(
            "an erasure request has no package; its result is the certificate",
            code="wrong_kind",
            details={"kind": request.kind, "allowed_kinds": [str(k) for k in KINDS]},
        )
    package = request.packages.order_by("-created_at", "-id").first()
    if package is None:
        raise Conflict(
            "this request has no package yet", code="no_package", details={"status": request.status}
        )
    return package


@transaction.atomic
def subject_package_password(*, actor: User, request: ErasureRequest) -> str:
    """The package's password, shown once: the ciphertext is destroyed as it is read."""
    require(actor, RESOURCE, WRITE)
    package = SubjectPackage.objects.select_for_update().get(pk=latest_package(request).pk)
    _refuse_if_gone(package)
    if not package.password_encrypted:
        raise Gone(
            "the package's password was shown once already; build a new package to get another",
            code="password_already_shown",
            details={"shown_at": _iso(package.password_shown_at)},
        )
    password = _fernet().decrypt(bytes(package.password_encrypted)).decode()
    package.password_encrypted = None
    package.password_shown_at, package.password_shown_by = timezone.now(), user_or_none(actor)
    package.save(update_fields=["password_encrypted", "password_shown_at", "password_shown_by"])
    audit_record(
        actor=actor,
        action="subject_package.password_shown",
        obj=package.request,
        payload={"package": package.pk},
    )
    return password


def _refuse_if_gone(package: SubjectPackage) -> None:
    if package.deleted_at is not None and package.deleted_reason == "downloaded":
        raise Gone(
            "the package was single use and has been downloaded",
            code="package_already_downloaded",
            details={"downloaded_at": _iso(package.downloaded_at)},
        )
    if package.deleted_at is not None and package.deleted_reason == "replaced":
        raise Gone("a newer package replaced this one", code="package_replaced")
    if package.deleted_at is not None or package.expires_at <= timezone.now():
        raise Gone(
            "the package has expired and was deleted",
            code="package_expired",
            details={"expires_at": _iso(package.expires_at)},
        )


@transaction.atomic
def subject_package_open(*, actor: User, request: ErasureRequest) -> tuple[IO[bytes], SubjectPackage]:
    """Open the package for download; a single-use package's file is unlinked as it is opened."""
    require(actor, RESOURCE, WRITE)
    package = SubjectPackage.objects.select_for_update().get(pk=latest_package(request).pk)
    _refuse_if_gone(package)
    if package.single_use and package.download_count:
        raise Gone("the package was single use and has been downloaded", code="package_already_downloaded")
    path = Path(settings.MEDIA_ROOT) / package.file
    handle = path.open("rb")
    now = timezone.now()
    package.download_count += 1
    package.downloaded_at, package.downloaded_by = now, user_or_none(actor)
    if package.single_use:
        # The open handle still reads the bytes; no later request can.
        path.unlink(missing_ok=True)
        package.deleted_at, package.deleted_reason, package.file = now, "downloaded", ""
        package.password_encrypted = None
    package.save()
    audit_record(
        actor=actor,
        action="subject_package.downloaded",
        obj=package.request,
        payload={"package": package.pk, "sha256": package.sha256, "single_use": package.single_use},
    )
    return handle, package


def _delete_file(path: str) -> None:
    if path:
        (Path(settings.MEDIA_ROOT) / path).unlink(missing_ok=True)


def _retire(package: SubjectPackage, reason: str) -> None:
    _delete_file(package.file)
    package.deleted_at, package.deleted_reason, package.file = timezone.now(), reason, ""
    package.password_encrypted = None
    package.save(update_fields=["deleted_at", "deleted_reason", "file", "password_encrypted"])
    audit_record(
        actor=None,
        action="subject_package.deleted",
        obj=package.request,
        payload={"package": package.pk, "reason": reason, "sha256": package.sha256},
    )


def subject_packages_expire() -> int:
    """Delete every package past its expiry (the beat sweep); returns how many."""
    deleted = 0
    for pk in SubjectPackage.objects.filter(
        deleted_at__isnull=True, expires_at__lte=timezone.now()
    ).values_list("pk", flat=True):
        with transaction.atomic():
            package = SubjectPackage.objects.select_for_update().get(pk=pk)
            if package.deleted_at is None:
                _retire(package, "expired")
                deleted += 1
    return deleted
