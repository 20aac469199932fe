"""Access and portability requests in the admin: the add form's kind, the password page shown once, the
package download, and the same refusals as the API."""

from __future__ import annotations

import io
from typing import Any

import pytest
import pyzipper
from django.test import Client

from governance.models import ErasureRequest, SubjectPackage
from governance.services import subject_access

pytestmark = pytest.mark.django_db

ADD = "/admin/governance/erasurerequest/add/"
EMAIL = "jadwiga.mazur@example.org"


@pytest.fixture(autouse=True)
def _regex_engine(settings: Any) -> None:
    settings.PII_ENGINE = "regex"


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subject_access, "enqueue_on_commit", lambda *args, **kwargs: None)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def action_url(record: ErasureRequest, name: str) -> str:
    return f"/admin/governance/erasurerequest/{record.pk}/do/{name}/"


def add_access(officer: Any, kind: str = "access") -> ErasureRequest:
    response = client_for(officer).post(
        ADD, {"kind": kind, "reference": f"SAR-{kind}", "identifiers": f"email: {EMAIL}"}
    )
    assert response.status_code == 302, response.content[:2000]
    return ErasureRequest.objects.get(reference=f"SAR-{kind}")


def built(officer: Any) -> ErasureRequest:
    record = add_access(officer)
    page = client_for(officer).post(action_url(record, "execute"))
    assert page.status_code == 302, page.content[:2000]
    assert subject_access.subject_request_claim(request_id=record.pk)
    assert subject_access.subject_request_run_export(request_id=record.pk).state == "done"
    return ErasureRequest.objects.get(pk=record.pk)


def test_the_add_form_takes_the_kind_and_lists_filter_by_it(officer: Any) -> None:
    record = add_access(officer, "portability")

    assert record.kind == "portability" and record.status == "received"
    listed = client_for(officer).get("/admin/governance/erasurerequest/?kind__exact=portability")
    assert "SAR-portability" in listed.content.decode()
    other = client_for(officer).get("/admin/governance/erasurerequest/?kind__exact=erasure")
    assert "SAR-portability" not in other.content.decode()
    page = client_for(officer).get(f"/admin/governance/erasurerequest/{record.pk}/change/").content.decode()
    assert "Portability (Art. 20)" in page and EMAIL not in page


def test_the_password_page_shows_it_once_and_the_package_opens_with_it(officer: Any) -> None:
    record = built(officer)
    client = client_for(officer)
    page = client.get(f"/admin/governance/erasurerequest/{record.pk}/change/").content.decode()
    assert "Show the package password (once)" in page and "Download the package" in page
    # Its progress is the package's, not an erasure's.
    assert "In the package" in page and "in the package" in page
    assert "Purge due" not in page and ">erased<" not in page and "Erased at" not in page

    shown = client.post(action_url(record, "package_password"))
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    password = shown.context["password"]
    assert password in shown.content.decode()
    again = client.post(action_url(record, "package_password"))
    assert again.status_code == 410 and "password_already_shown" in again.content.decode()
    assert password not in again.content.decode()

    downloaded = client.post(action_url(record, "package"))
    assert downloaded.status_code == 200 and downloaded["Content-Type"] == "application/zip"
    with pyzipper.AESZipFile(io.BytesIO(b"".join(downloaded.streaming_content))) as archive:
        archive.setpassword(password.encode())
        assert b'"kind": "access"' in archive.read("data.json")
    second = client.post(action_url(record, "package"))
    assert second.status_code == 410 and "package_already_downloaded" in second.content.decode()
    assert SubjectPackage.objects.get(request=record).deleted_reason == "downloaded"


@pytest.mark.parametrize("role", ["auditor", "engineer"])
def test_only_officers_get_the_password_or_the_package(
    officer: Any, role: str, request: pytest.FixtureRequest
) -> None:
    record = built(officer)
    user = request.getfixturevalue(role)

    assert client_for(user).post(action_url(record, "package_password")).status_code == 403
    assert client_for(user).post(action_url(record, "package")).status_code == 403
    assert SubjectPackage.objects.get(request=record).password_encrypted is not None
