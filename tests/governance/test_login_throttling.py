"""django-axes: repeated wrong passwords lock the admin login and the API token endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture
def staff_user() -> Any:
    return UserFactory(username="alice", is_superuser=True)


def test_fifty_wrong_passwords_then_the_right_one_is_refused_by_the_token_endpoint(staff_user: Any) -> None:
    client = APIClient()
    for _ in range(50):
        client.post(TOKEN_URL, {"username": "alice", "password": "wrong"}, format="json")

    response = client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "too_many_login_attempts"
    assert error["details"] == {"retry_after_minutes": 15}
    assert "token" not in response.json()


def test_failures_below_the_limit_do_not_stop_the_right_password(staff_user: Any, settings: Any) -> None:
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(TOKEN_URL, {"username": "alice", "password": "wrong"}, format="json")
        assert response.status_code == 400

    response = client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


def test_a_locked_username_does_not_lock_another_user(staff_user: Any, settings: Any) -> None:
    UserFactory(username="bob")
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(TOKEN_URL, {"username": "alice", "password": "wrong"}, format="json")

    response = client.post(TOKEN_URL, {"username": "bob", "password": PASSWORD}, format="json")

    assert response.status_code == 200


def test_fifty_wrong_passwords_then_the_right_one_shows_the_admin_lockout_page(staff_user: Any) -> None:
    client = Client()
    for _ in range(50):
        client.post("/admin/login/", {"username": "alice", "password": "wrong"})

    response = client.post("/admin/login/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 429
    assert b"Too many login attempts" in response.content
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still sent to the login page
