"""Conventions every API endpoint shares (DESIGN section 12): auth, errors, pagination, filters, docs."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.http import HttpRequest
from rest_framework.test import APIClient

from governance.models import AISystem
from governance.services import dpia
from tests.factories import AISystemFactory, DatasetFactory, DPIAFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"  # the one UserFactory sets


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The house error shape: exactly {"error": {"code", "message", "details"}}."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    payload = response.json()
    assert set(payload) == {"error"}, payload
    error = payload["error"]
    assert set(error) == {"code", "message", "details"}, payload
    assert isinstance(error["code"], str) and error["code"], payload
    assert isinstance(error["message"], str) and error["message"], payload
    if code is not None:
        assert error["code"] == code, payload
    return error


# --- Token and session authentication ---------------------------------------------------------


def test_good_credentials_give_a_token_that_authenticates_requests(engineer: Any) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "engineer", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    token = response.json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/ai-systems/").status_code == 200


def test_asking_twice_for_a_token_returns_the_same_token(engineer: Any) -> None:
    body = {"username": "engineer", "password": PASSWORD}
    first = APIClient().post("/api/v1/auth/token/", body, format="json").json()["token"]
    second = APIClient().post("/api/v1/auth/token/", body, format="json").json()["token"]
    assert first == second


def test_a_wrong_password_is_refused_with_400_and_no_token(engineer: Any) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "engineer", "password": "wrong"}, format="json"
    )
    error = assert_error(response, 400)
    assert "token" not in response.json()
    assert error["details"]


def test_an_unknown_user_is_refused_like_a_wrong_password(engineer: Any) -> None:
    unknown = APIClient().post("/api/v1/auth/token/", {"username": "nobody", "password": "x"}, format="json")
    wrong = APIClient().post("/api/v1/auth/token/", {"username": "engineer", "password": "x"}, format="json")
    # The same answer for both, so the endpoint does not reveal which usernames exist.
    assert assert_error(unknown, 400) == assert_error(wrong, 400)


def test_missing_credentials_name_the_missing_fields() -> None:
    error = assert_error(APIClient().post("/api/v1/auth/token/", {}, format="json"), 400)
    assert {"username", "password"} <= set(error["details"])


def test_the_token_endpoint_refuses_form_encoded_bodies(engineer: Any) -> None:
    response = APIClient().post("/api/v1/auth/token/", {"username": "engineer", "password": PASSWORD})
    assert_error(response, 415, "unsupported_media_type")


def test_a_forged_token_is_401() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert_error(client.get("/api/v1/ai-systems/"), 401, "authentication_failed")


def test_a_session_login_can_read(engineer: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(request=HttpRequest(), username="engineer", password=PASSWORD)
    assert client.get("/api/v1/ai-systems/").status_code == 200


def test_a_session_write_without_a_csrf_token_is_refused_and_stores_nothing(engineer: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(request=HttpRequest(), username="engineer", password=PASSWORD)

    response = client.post(
        "/api/v1/ai-systems/", {"name": "Helpdesk", "intended_purpose": "x"}, format="json"
    )

    error = assert_error(response, 403)
    assert "CSRF" in error["message"]
    assert not AISystem.objects.exists()


def test_a_session_write_with_the_csrf_token_succeeds(engineer: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(request=HttpRequest(), username="engineer", password=PASSWORD)
    # Any page that renders a form hands out the CSRF cookie; the admin index does for staff users.
    assert client.get("/admin/").status_code == 200
    token = client.cookies[settings.CSRF_COOKIE_NAME].value

    response = client.post(
        "/api/v1/ai-systems/",
        {"name": "Helpdesk", "intended_purpose": "x"},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )

    assert response.status_code == 201, response.content


def test_an_anonymous_session_client_is_401_not_403() -> None:
    assert_error(APIClient(enforce_csrf_checks=True).get("/api/v1/ai-systems/"), 401, "not_authenticated")


# --- One error shape for every 4xx ------------------------------------------------------------


def _bad_input(api: Any, users: dict[str, Any]) -> Any:
    return api(users["engineer"]).post("/api/v1/ai-systems/", {}, format="json")


def _anonymous(api: Any, users: dict[str, Any]) -> Any:
    return api(None).get("/api/v1/ai-systems/")


def _auditor_writes(api: Any, users: dict[str, Any]) -> Any:
    return api(users["auditor"]).post(
        "/api/v1/ai-systems/", {"name": "x", "intended_purpose": "x"}, format="json"
    )


def _missing_row(api: Any, users: dict[str, Any]) -> Any:
    return api(users["engineer"]).get("/api/v1/ai-systems/999999/")


def _malformed_id(api: Any, users: dict[str, Any]) -> Any:
    return api(users["engineer"]).get("/api/v1/ai-systems/not-a-number/")


def _page_past_the_end(api: Any, users: dict[str, Any]) -> Any:
    return api(users["engineer"]).get("/api/v1/ai-systems/?page=99")


def _unknown_api_path(api: Any, users: dict[str, Any]) -> Any:
    return api(users["engineer"]).get("/api/v1/no-such-register/")


def _method_not_offered(api: Any, users: dict[str, Any]) -> Any:
    system = AISystemFactory()
    return api(users["engineer"]).delete(f"/api/v1/ai-systems/{system.pk}/")


def _malformed_json(api: Any, users: dict[str, Any]) -> Any:
    return api(users["engineer"]).post("/api/v1/ai-systems/", b'{"name": ', content_type="application/json")


def _illegal_transition(api: Any, users: dict[str, Any]) -> Any:
    draft = DPIAFactory()
    return api(users["officer"]).post(f"/api/v1/dpias/{draft.pk}/approve/", {}, format="json")


def _lowering_personal_data(api: Any, users: dict[str, Any]) -> Any:
    dataset = DatasetFactory(contains_personal_data=True)
    return api(users["engineer"]).patch(
        f"/api/v1/datasets/{dataset.pk}/", {"contains_personal_data": False}, format="json"
    )


ERROR_CASES: list[tuple[Callable[[Any, dict[str, Any]], Any], int, str | None]] = [
    (_bad_input, 400, "validation_failed"),
    (_malformed_json, 400, None),
    (_anonymous, 401, "not_authenticated"),
    (_auditor_writes, 403, "forbidden"),
    (_missing_row, 404, "not_found"),
    (_malformed_id, 404, "not_found"),
    (_page_past_the_end, 404, "not_found"),
    (_unknown_api_path, 404, "not_found"),
    (_method_not_offered, 405, "method_not_allowed"),
    (_illegal_transition, 409, "invalid_transition"),
    (_lowering_personal_data, 409, "personal_data_flag_cannot_lower"),
]


@pytest.mark.parametrize(
    ("make_request", "status", "code"), ERROR_CASES, ids=[case[0].__name__.strip("_") for case in ERROR_CASES]
)
def test_every_error_has_the_same_shape(
    make_request: Callable[[Any, dict[str, Any]], Any],
    status: int,
    code: str | None,
    api: Any,
    officer: Any,
    engineer: Any,
    auditor: Any,
) -> None:
    users = {"officer": officer, "engineer": engineer, "auditor": auditor}
    assert_error(make_request(api, users), status, code)


def test_a_validation_error_names_each_bad_field(api: Any, engineer: Any) -> None:
    error = assert_error(api(engineer).post("/api/v1/ai-systems/", {}, format="json"), 400)
    assert set(error["details"]) == {"name", "intended_purpose"}


def test_a_405_says_which_methods_are_allowed(api: Any, engineer: Any) -> None:
    system = AISystemFactory()
    response = api(engineer).put(f"/api/v1/ai-systems/{system.pk}/", {}, format="json")
    assert_error(response, 405)
    assert {"GET", "PATCH"} <= {m.strip() for m in response["Allow"].split(",")}


def test_an_illegal_transition_changes_nothing(api: Any, officer: Any) -> None:
    draft = DPIAFactory()
    api(officer).post(f"/api/v1/dpias/{draft.pk}/approve/", {}, format="json")
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert draft.reviewer is None


def test_an_approval_by_an_author_is_403_with_its_own_code(api: Any, officer: Any) -> None:
    record = DPIAFactory(created_by=officer)
    dpia.dpia_submit(actor=officer, dpia=record)
    response = api(officer).post(f"/api/v1/dpias/{record.pk}/approve/", {}, format="json")
    assert_error(response, 403, "author_cannot_review")


# --- Pagination -------------------------------------------------------------------------------


def test_lists_are_paginated_with_count_next_and_results(api: Any, engineer: Any) -> None:
    AISystemFactory.create_batch(3)
    first = api(engineer).get("/api/v1/ai-systems/?page_size=2").json()

    assert first["count"] == 3
    assert len(first["results"]) == 2
    assert first["next"] is not None and "page=2" in first["next"]
    assert first["previous"] is None

    second = api(engineer).get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert {r["id"] for r in first["results"]}.isdisjoint({r["id"] for r in second["results"]})


def test_the_default_page_size_applies_without_page_size(api: Any, engineer: Any) -> None:
    AISystemFactory.create_batch(3)
    page = api(engineer).get("/api/v1/ai-systems/").json()
    assert page["count"] == 3 and len(page["results"]) == 3


def test_the_largest_page_size_allowed_is_accepted(api: Any, engineer: Any) -> None:
    response = api(engineer).get(f"/api/v1/ai-systems/?page_size={settings.API_MAX_PAGE_SIZE}")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "page_size",
    [
        str(10**9),
        "0",
        "-1",
        "abc",
        "",
        "1.5",
        " 5",
        # Unicode digits pass str.isdigit() yet int() rejects them.
        "²",
        # Longer than Python's int() digit limit (4300): must be a 400, not a ValueError.
        "9" * 5000,
    ],
    ids=[
        "billion",
        "zero",
        "negative",
        "letters",
        "empty",
        "fraction",
        "space",
        "superscript",
        "5000-digits",
    ],
)
def test_a_page_size_out_of_range_or_not_a_number_is_400(api: Any, engineer: Any, page_size: str) -> None:
    response = api(engineer).get("/api/v1/ai-systems/", {"page_size": page_size})
    error = assert_error(response, 400, "invalid_page_size")
    assert error["details"]["max"] == settings.API_MAX_PAGE_SIZE


# --- Filters ----------------------------------------------------------------------------------


def test_a_valid_filter_filters(api: Any, engineer: Any) -> None:
    high = AISystemFactory(risk_class="high")
    AISystemFactory(risk_class="minimal")
    page = api(engineer).get("/api/v1/ai-systems/", {"risk_class": "high"}).json()
    assert [r["id"] for r in page["results"]] == [high.pk]
    assert page["count"] == 1


def test_filters_combine(api: Any, engineer: Any) -> None:
    wanted = AISystemFactory(name="Helpdesk bot", risk_class="high")
    AISystemFactory(name="Helpdesk search", risk_class="minimal")
    AISystemFactory(name="Invoices", risk_class="high")
    page = api(engineer).get("/api/v1/ai-systems/", {"name": "helpdesk", "risk_class": "high"}).json()
    assert [r["id"] for r in page["results"]] == [wanted.pk]


def test_a_boolean_filter_filters(api: Any, engineer: Any) -> None:
    personal = DatasetFactory(contains_personal_data=True)
    DatasetFactory(contains_personal_data=False)
    page = api(engineer).get("/api/v1/datasets/", {"contains_personal_data": "true"}).json()
    assert [r["id"] for r in page["results"]] == [personal.pk]


def test_an_unknown_filter_field_is_400_not_the_whole_table(api: Any, engineer: Any) -> None:
    AISystemFactory.create_batch(2)
    error = assert_error(
        api(engineer).get("/api/v1/ai-systems/", {"riskclass": "high"}), 400, "unknown_filter"
    )
    assert error["details"]["unknown"] == ["riskclass"]
    assert "risk_class" in error["details"]["allowed"]


def test_an_invalid_filter_value_is_400(api: Any, engineer: Any) -> None:
    assert_error(api(engineer).get("/api/v1/ai-systems/", {"risk_class": "extreme"}), 400, "invalid_filter")


def test_pagination_parameters_are_not_mistaken_for_filters(api: Any, engineer: Any) -> None:
    AISystemFactory.create_batch(2)
    response = api(engineer).get("/api/v1/ai-systems/", {"page": "1", "page_size": "1", "format": "json"})
    assert response.status_code == 200, response.content


# --- OpenAPI schema and offline docs ----------------------------------------------------------

GOVERNANCE_PATHS = {
    "/api/v1/auth/token/": {"post"},
    "/api/v1/ai-systems/": {"get", "post"},
    "/api/v1/ai-systems/{id}/": {"get", "patch"},
    "/api/v1/datasets/": {"get", "post"},
    "/api/v1/datasets/{id}/": {"get", "patch"},
    "/api/v1/datasets/{id}/versions/": {"get", "post"},
    "/api/v1/dataset-versions/": {"get"},
    "/api/v1/dataset-versions/{id}/": {"get"},
    "/api/v1/dpias/": {"get", "post"},
    "/api/v1/dpias/{id}/": {"get", "patch"},
    "/api/v1/dpias/{id}/submit/": {"post"},
    "/api/v1/dpias/{id}/approve/": {"post"},
    "/api/v1/dpias/{id}/reject/": {"post"},
    "/api/v1/audit-events/": {"get"},
    "/api/v1/audit-events/{sequence}/": {"get"},
    "/api/v1/audit-events/verify/": {"get"},
}
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}


def test_the_schema_is_an_openapi_document_listing_the_governance_paths(client: Any) -> None:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)

    assert str(schema["openapi"]).startswith("3.")
    listed = {path: set(ops) & HTTP_METHODS for path, ops in schema["paths"].items()}
    assert {path: listed.get(path) for path in GOVERNANCE_PATHS} == GOVERNANCE_PATHS


def test_the_schema_is_also_served_as_json(client: Any) -> None:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert set(GOVERNANCE_PATHS) <= set(response.json()["paths"])


def test_the_schema_describes_token_and_session_auth(client: Any) -> None:
    schemes = yaml.safe_load(client.get("/api/schema/").content)["components"]["securitySchemes"]
    kinds = {(s["type"], s.get("in")) for s in schemes.values()}
    assert ("apiKey", "header") in kinds  # Token <key>
    assert ("apiKey", "cookie") in kinds  # the session cookie


def test_the_schema_generates_without_warnings(tmp_path: Any) -> None:
    # A warning means a field or enum the generator had to guess; clients built from it would be wrong.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


DOC_PAGES = ["/api/docs/", "/api/redoc/"]


def _asset_urls(html: bytes) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    urls = [tag["src"] for tag in soup.find_all(src=True)]
    urls += [tag["href"] for tag in soup.find_all("link", href=True)]
    return urls


@pytest.mark.parametrize("page", DOC_PAGES)
def test_the_docs_page_loads_nothing_from_another_host(client: Any, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()

    foreign = sorted(
        {
            url
            for url in re.findall(r"""https?://[^\s"'<>)]+""", html)
            if urlsplit(url).hostname != "testserver"
        }
    )
    assert foreign == [], f"{page} refers to other hosts: {foreign}"
    assert all(not urlsplit(url).netloc for url in _asset_urls(response.content))


@pytest.mark.parametrize("page", DOC_PAGES)
def test_every_asset_the_docs_page_loads_is_a_local_static_file(client: Any, page: str) -> None:
    assets = _asset_urls(client.get(page).content)
    assert any(url.endswith(".js") for url in assets), assets

    missing = []
    for url in assets:
        if urlsplit(url).netloc:
            continue  # another host: test_the_docs_page_loads_nothing_from_another_host reports it
        path = urlsplit(url).path
        assert path.startswith(settings.STATIC_URL), f"{url} is not served from STATIC_URL"
        if not finders.find(path.removeprefix(settings.STATIC_URL)):
            missing.append(url)
    assert missing == []
