"""Access (Art. 15) and portability (Art. 20) requests over the API: intake shared with erasure, the
package (encrypted ZIP, password shown once, single use, expiry) and the bad inputs of issue 13.

The export runs here in this process through the functions the Celery task calls (claim, then run);
tests/training/test_subject_access_end_to_end.py runs it through the real worker.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pyzipper
from django.conf import settings
from django.utils import timezone
from pypdf import PdfReader

from governance.models import AuditEvent, ErasureRequest, SubjectPackage
from governance.services import erasure, subject_access
from governance.services.audit import audit_verify_chain

pytestmark = pytest.mark.django_db

URL = "/api/v1/subject-requests/"
EMAIL = "ewa.nowakowska@example.org"
PESEL = "44051401359"
IDENTIFIERS = [{"type": "email", "value": EMAIL}, {"type": "pesel", "value": PESEL}]


@pytest.fixture(autouse=True)
def _regex_engine(settings: Any) -> None:
    settings.PII_ENGINE = "regex"


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is sent to a broker: the test runs the export itself (a worker would race it)."""
    monkeypatch.setattr(subject_access, "enqueue_on_commit", lambda *args, **kwargs: None)
    monkeypatch.setattr(erasure, "enqueue_on_commit", lambda *args, **kwargs: None)


def create(api: Any, user: Any, kind: str = "access", **body: Any) -> Any:
    payload = {"kind": kind, "reference": "SAR-2026-001", "identifiers": IDENTIFIERS, **body}
    return api(user).post(URL, payload, format="json")


def code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def run_export(request_id: int) -> ErasureRequest:
    assert subject_access.subject_request_claim(request_id=request_id)
    assert subject_access.subject_request_run_export(request_id=request_id).state == "done"
    return ErasureRequest.objects.get(pk=request_id)


def executed(api: Any, officer: Any, kind: str = "access") -> ErasureRequest:
    created = create(api, officer, kind)
    assert created.status_code == 201, created.content
    request_id = created.json()["id"]
    response = api(officer).post(f"{URL}{request_id}/execute/", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "in_progress"
    return run_export(request_id)


def open_package(content: bytes, password: str) -> tuple[str, dict[str, Any]]:
    with pyzipper.AESZipFile(io.BytesIO(content)) as archive:
        archive.setpassword(password.encode())
        assert sorted(archive.namelist()) == ["data.json", "letter.pdf"]
        letter = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(archive.read("letter.pdf"))).pages)
        return letter, json.loads(archive.read("data.json"))


def password_of(api: Any, officer: Any, request_id: int) -> str:
    response = api(officer).post(f"{URL}{request_id}/package/password/", {}, format="json")
    assert response.status_code == 200, response.content
    return str(response.json()["password"])


def download(api: Any, user: Any, request_id: int) -> Any:
    return api(user).get(f"{URL}{request_id}/package/")


# --- Intake ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["access", "portability"])
def test_an_officer_receives_an_access_or_portability_request_like_an_erasure(
    api: Any, officer: Any, kind: str
) -> None:
    response = create(api, officer, kind)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == kind and body["status"] == "received" and body["package"] is None
    assert body["identifier_types"] == {"email": 1, "pesel": 1}
    assert EMAIL not in response.content.decode()
    event = AuditEvent.objects.get(action="subject_request.received")
    assert event.payload["kind"] == kind and EMAIL not in json.dumps(event.payload)
    # The erasure register lists erasures only; the subject request register lists every kind.
    assert api(officer).get("/api/v1/erasure-requests/").json()["count"] == 0
    listed = api(officer).get(f"{URL}?kind={kind}").json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]


def test_an_erasure_made_through_subject_requests_is_an_erasure(api: Any, officer: Any) -> None:
    response = create(api, officer, "erasure")

    assert response.status_code == 201, response.content
    assert api(officer).get("/api/v1/erasure-requests/").json()["count"] == 1
    assert AuditEvent.objects.filter(action="erasure_request.received").count() == 1


def test_an_unknown_kind_is_refused_and_nothing_is_stored(api: Any, officer: Any) -> None:
    before = AuditEvent.objects.count()

    response = create(api, officer, "rectification")

    assert response.status_code == 400
    assert ErasureRequest.objects.count() == 0 and AuditEvent.objects.count() == before


def test_an_engineer_gets_403_on_an_access_request_and_its_package(
    api: Any, engineer: Any, officer: Any
) -> None:
    assert create(api, engineer).status_code == 403
    request = executed(api, officer)

    assert api(engineer).get(f"{URL}{request.pk}/").status_code == 403
    assert download(api, engineer, request.pk).status_code == 403
    assert api(engineer).post(f"{URL}{request.pk}/package/password/", {}, format="json").status_code == 403
    assert ErasureRequest.objects.count() == 1


def test_an_auditor_reads_the_register_but_never_gets_the_package(
    api: Any, auditor: Any, officer: Any
) -> None:
    request = executed(api, officer)

    assert api(auditor).get(f"{URL}{request.pk}/").status_code == 200
    assert download(api, auditor, request.pk).status_code == 403
    assert api(auditor).post(f"{URL}{request.pk}/package/password/", {}, format="json").status_code == 403
    assert create(api, auditor).status_code == 403


def test_an_access_request_is_refused_only_on_its_own_grounds(api: Any, officer: Any) -> None:
    request_id = create(api, officer).json()["id"]
    url = f"{URL}{request_id}/reject/"

    wrong = api(officer).post(url, {"ground": "legal_claims", "reason": "x"}, format="json")
    assert wrong.status_code == 400 and code(wrong) == "rejection_ground_required"
    assert "rights_of_others" in wrong.json()["error"]["details"]["allowed"]
    right = api(officer).post(
        url, {"ground": "manifestly_unfounded", "reason": "third identical request"}, format="json"
    )
    assert right.status_code == 200, right.content
    assert right.json()["status"] == "rejected"
    assert AuditEvent.objects.filter(action="subject_request.rejected").count() == 1


def test_deadline_extension_and_hold_work_as_for_erasure(api: Any, officer: Any) -> None:
    request_id = create(api, officer).json()["id"]

    extended = api(officer).post(
        f"{URL}{request_id}/extend/", {"months": 2, "reason": "many stores"}, format="json"
    )
    held = api(officer).post(f"{URL}{request_id}/hold/", {"reason": "identity check"}, format="json")
    blocked = api(officer).post(f"{URL}{request_id}/execute/", {}, format="json")

    assert extended.status_code == 200 and extended.json()["extension_months"] == 2
    assert held.status_code == 200 and held.json()["status"] == "on_hold"
    assert blocked.status_code == 409 and code(blocked) == "erasure_on_hold"


def test_a_purge_or_certificate_of_an_access_request_is_refused(api: Any, officer: Any) -> None:
    request = executed(api, officer)

    purge = api(officer).post(f"{URL}{request.pk}/purge/", {}, format="json")
    certificate = api(officer).get(f"{URL}{request.pk}/certificate/")

    assert purge.status_code == 409 and code(purge) == "wrong_kind"
    assert certificate.status_code == 409 and code(certificate) == "wrong_kind"


def test_an_erasure_has_no_package(api: Any, officer: Any) -> None:
    request_id = create(api, officer, "erasure").json()["id"]

    response = download(api, officer, request_id)
    password = api(officer).post(f"{URL}{request_id}/package/password/", {}, format="json")

    assert response.status_code == 409 and code(response) == "wrong_kind"
    assert password.status_code == 409 and code(password) == "wrong_kind"


def test_the_password_and_the_package_are_not_cached(api: Any, officer: Any) -> None:
    request = executed(api, officer)

    shown = api(officer).post(f"{URL}{request.pk}/package/password/", {}, format="json")
    downloaded = download(api, officer, request.pk)

    assert "no-store" in shown["Cache-Control"] and "no-store" in downloaded["Cache-Control"]


def test_an_access_request_never_runs_erase(api: Any, officer: Any) -> None:
    request_id = create(api, officer).json()["id"]

    assert erasure.erasure_request_claim(request_id=request_id, phase="logical") is False
    assert erasure.erasure_request_claim(request_id=request_id, phase="purge") is False


# --- The package ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["access", "portability"])
def test_identifiers_that_match_nothing_give_a_package_that_says_so(
    api: Any, officer: Any, kind: str
) -> None:
    request = executed(api, officer, kind)

    assert request.status == "completed" and request.identifiers_encrypted is None
    password = password_of(api, officer, request.pk)
    response = download(api, officer, request.pk)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    content = b"".join(response.streaming_content)
    letter, data = open_package(content, password)
    assert "We found no personal data linked to the identifiers you gave" in letter
    assert "SAR-2026-001" in letter
    assert ("Article 20" if kind == "portability" else "Article 15") in letter
    assert data["kind"] == kind and data["reference"] == "SAR-2026-001"
    assert all(items == [] for items in data["stores"].values())
    assert set(data["stores"]) >= {"datasets", "retrieval", "answers", "training"}


def test_the_package_is_encrypted_and_its_hash_is_audited_not_its_content(api: Any, officer: Any) -> None:
    request = executed(api, officer)
    package = SubjectPackage.objects.get(request=request)
    stored = (Path(settings.MEDIA_ROOT) / package.file).read_bytes()

    with pyzipper.AESZipFile(io.BytesIO(stored)) as archive:
        archive.setpassword(b"not the password")
        with pytest.raises(RuntimeError):
            archive.read("data.json")
    event = AuditEvent.objects.get(action="subject_request.package_created")
    assert event.payload["sha256"] == package.sha256 == hashlib.sha256(stored).hexdigest()
    assert b"SAR-2026-001" not in stored  # the letter and the data are inside the encryption
    assert audit_verify_chain().ok


def test_the_password_is_shown_once(api: Any, officer: Any) -> None:
    request = executed(api, officer)

    first = api(officer).post(f"{URL}{request.pk}/package/password/", {}, format="json")
    second = api(officer).post(f"{URL}{request.pk}/package/password/", {}, format="json")

    assert first.status_code == 200 and len(first.json()["password"]) == 23
    assert second.status_code == 410 and code(second) == "password_already_shown"
    assert SubjectPackage.objects.get(request=request).password_encrypted is None
    assert first.json()["password"] not in json.dumps(
        list(AuditEvent.objects.values_list("payload", flat=True))
    )


def test_a_single_use_package_downloaded_twice_is_gone_and_its_file_deleted(api: Any, officer: Any) -> None:
    request = executed(api, officer)
    package = SubjectPackage.objects.get(request=request)
    path = Path(settings.MEDIA_ROOT) / package.file

    first = download(api, officer, request.pk)
    assert first.status_code == 200
    assert b"".join(first.streaming_content).startswith(b"PK")
    second = download(api, officer, request.pk)

    assert second.status_code == 410 and code(second) == "package_already_downloaded"
    assert not path.exists()
    package.refresh_from_db()
    assert package.deleted_reason == "downloaded" and package.download_count == 1
    detail = api(officer).get(f"{URL}{request.pk}/").json()["package"]
    assert detail["available"] is False and detail["download_count"] == 1


def test_a_package_downloaded_after_expiry_is_gone(api: Any, officer: Any, settings: Any) -> None:
    settings.SUBJECT_PACKAGE_SINGLE_USE = False
    request = executed(api, officer)
    assert download(api, officer, request.pk).status_code == 200
    assert download(api, officer, request.pk).status_code == 200  # not single use: twice is fine
    package = SubjectPackage.objects.get(request=request)
    SubjectPackage.objects.filter(pk=package.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = download(api, officer, request.pk)

    assert response.status_code == 410 and code(response) == "package_expired"


def test_the_sweep_deletes_expired_packages_and_says_so_in_the_audit_chain(api: Any, officer: Any) -> None:
    request = executed(api, officer)
    package = SubjectPackage.objects.get(request=request)
    path = Path(settings.MEDIA_ROOT) / package.file
    assert path.exists()
    assert subject_access.subject_packages_expire() == 0  # not due yet

    SubjectPackage.objects.filter(pk=package.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert subject_access.subject_packages_expire() == 1

    assert not path.exists()
    package.refresh_from_db()
    assert package.deleted_reason == "expired" and package.file == "" and package.password_encrypted is None
    event = AuditEvent.objects.get(action="subject_package.deleted")
    assert event.payload == {"package": package.pk, "reason": "expired", "sha256": package.sha256}
    assert download(api, officer, request.pk).json()["error"]["code"] == "package_expired"


def test_executing_again_replaces_the_package(api: Any, officer: Any) -> None:
    request = executed(api, officer)
    old = SubjectPackage.objects.get(request=request)
    old_path = Path(settings.MEDIA_ROOT) / old.file
    assert old_path.exists()

    again = api(officer).post(f"{URL}{request.pk}/execute/", {}, format="json")
    assert again.status_code == 200, again.content
    run_export(request.pk)

    old.refresh_from_db()
    assert old.deleted_reason == "replaced" and not old_path.exists()
    assert SubjectPackage.objects.filter(request=request, deleted_at__isnull=True).count() == 1
    assert password_of(api, officer, request.pk)


def test_executing_while_the_export_runs_is_a_conflict(api: Any, officer: Any) -> None:
    request_id = create(api, officer).json()["id"]
    assert api(officer).post(f"{URL}{request_id}/execute/", {}, format="json").status_code == 200

    second = api(officer).post(f"{URL}{request_id}/execute/", {}, format="json")

    assert second.status_code == 409 and code(second) == "erasure_running"


def test_no_package_before_the_export(api: Any, officer: Any) -> None:
    request_id = create(api, officer).json()["id"]

    response = download(api, officer, request_id)
    password = api(officer).post(f"{URL}{request_id}/package/password/", {}, format="json")

    assert response.status_code == 409 and code(response) == "no_package"
    assert password.status_code == 409 and code(password) == "no_package"
