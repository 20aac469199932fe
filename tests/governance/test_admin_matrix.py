"""The admin's own pages beyond Django's four (dashboard, reports, story, row buttons, live boxes),
walked for every role from the same policy as the API.

A named admin URL that is neither one of Django's standard views nor listed in ADMIN_PAGES fails
`test_every_admin_page_has_a_line`. Row buttons (`<id>/do/<name>/`) and live boxes
(`<id>/fragment/<name>/`) are found on every registered page and walked without a line each.
"""

# ruff: noqa: F811 - the matrix's fixtures are imported by name
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, reverse

from governance.models import AuditEvent
from governance.policy import READ, roles_allowed
from tests.governance.test_permissions_matrix import (  # noqa: F401
    ADMIN_ROWS,
    ANONYMOUS,
    NO_ROLE,
    ROLES,
    AdminWorld,
    World,
    _admin_client,
    _module_world,
    _registered,
    admin_world,
    world,
)

STANDARD = ("changelist", "add", "change", "delete", "history", "autocomplete")
SITE = (
    "index",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "jsi18n",
    "view_on_site",
    "app_list",
)
LOGGED_IN = frozenset(r for r in ROLES if r != ANONYMOUS)


@dataclass(frozen=True)
class Page:
    """An admin page: the URL name, how to build it, who may open it, what an allowed reader gets."""

    name: str
    url: Callable[[AdminWorld], str]
    allowed: frozenset[str]
    method: str = "GET"
    ok: int = 200
    data: tuple[tuple[str, str], ...] = ()


def _policy(resource: str, verb: str = READ) -> frozenset[str]:
    return frozenset(roles_allowed(resource, verb))


def _pk(label: str) -> Callable[[AdminWorld], Any]:
    return lambda w: w.rows[label].pk


ADMIN_PAGES = [
    Page("dashboard_cards", lambda w: reverse("admin:dashboard_cards"), LOGGED_IN),
    Page("verify_chain", lambda w: reverse("admin:verify_chain"), _policy("audit_event"), "POST", 302),
    Page(
        "governance_aisystem_story",
        lambda w: reverse("admin:governance_aisystem_story", args=[w.base.system.pk]),
        _policy("ai_system"),
    ),
    Page(
        "governance_dpia_report",
        lambda w: reverse("admin:governance_dpia_report", args=[w.base.dpia_review.pk]),
        _policy("report", "download"),
    ),
    Page(
        "governance_audit_report",
        lambda w: reverse("admin:governance_audit_report"),
        _policy("report", "download"),
    ),
    Page(
        "retrieval_collection_query",
        lambda w: reverse("admin:retrieval_collection_query", args=[w.rows["retrieval.collection"].pk]),
        _policy("collection"),
    ),
    Page(
        "governance_records_of_processing",
        lambda w: reverse("admin:governance_records_of_processing"),
        _policy("report", "download"),
    ),
    Page(
        "governance_retentionrun_report",
        lambda w: reverse("admin:governance_retentionrun_report"),
        _policy("retention", "download"),
    ),
]


def _walk(patterns: list[Any]) -> Iterator[URLPattern]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns)
        else:
            yield pattern


def _custom_names() -> set[str]:
    from django.contrib import admin

    names = {p.name for p in _walk(admin.site.get_urls()) if p.name}
    return {
        n
        for n in names
        if n not in SITE and n.rsplit("_", 1)[-1] not in STANDARD and not n.endswith(("_fragment", "_do"))
    }


def test_every_admin_page_has_a_line() -> None:
    assert sorted(_custom_names()) == sorted(page.name for page in ADMIN_PAGES)


def _expected(allowed: frozenset[str], role: str, ok: int) -> int:
    if role == ANONYMOUS:
        return 302
    return ok if role in allowed else 403


def page_cases() -> Iterator[Any]:
    for page in ADMIN_PAGES:
        for role in ROLES:
            yield pytest.param(page, role, id=f"{page.name}-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("page", "role"), page_cases())
def test_the_admin_s_own_pages_follow_the_policy(
    page: Page, role: str, admin_world: AdminWorld, request: pytest.FixtureRequest
) -> None:
    client = _admin_client(role, request)
    url = page.url(admin_world)
    call = client.post if page.method == "POST" else client.get
    response = call(url, dict(page.data))
    assert response.status_code == _expected(page.allowed, role, page.ok), (url, role)
    if role == ANONYMOUS:
        assert response["Location"].startswith("/admin/login/")


def _row_parts(kind: str) -> Iterator[tuple[str, Any, str]]:
    for label in ADMIN_ROWS:
        model_admin = _registered()[label]
        if kind == "do":
            for action in model_admin.object_actions:
                yield label, model_admin, action.name
        else:
            for name in model_admin.fragments:
                yield label, model_admin, name


def button_cases() -> Iterator[Any]:
    for label, _admin, name in _row_parts("do"):
        for role in ROLES:
            yield pytest.param(label, name, role, id=f"do-{label}-{name}-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "name", "role"), button_cases())
def test_every_row_button_follows_the_policy(
    label: str, name: str, role: str, admin_world: AdminWorld, request: pytest.FixtureRequest
) -> None:
    """Its page opens for those the verb allows; a POST by anyone else is refused and writes nothing."""
    model_admin = _registered()[label]
    action = next(a for a in model_admin.object_actions if a.name == name)
    allowed = _policy(model_admin.policy_resource) & _policy(model_admin.policy_resource, action.verb)
    row = admin_world.rows[label]
    url = reverse(f"admin:{label.replace('.', '_')}_do", args=[row.pk, name])
    client = _admin_client(role, request)
    assert client.get(url).status_code == _expected(allowed, role, 200), (url, role)
    if role not in allowed:
        before = AuditEvent.objects.count()
        assert client.post(url, {}).status_code == (302 if role == ANONYMOUS else 403)
        assert AuditEvent.objects.count() == before


def fragment_cases() -> Iterator[Any]:
    for label, _admin, name in _row_parts("fragment"):
        for role in ROLES:
            yield pytest.param(label, name, role, id=f"fragment-{label}-{name}-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "name", "role"), fragment_cases())
def test_every_live_box_follows_the_policy(
    label: str, name: str, role: str, admin_world: AdminWorld, request: pytest.FixtureRequest
) -> None:
    model_admin = _registered()[label]
    row = admin_world.rows[label]
    url = reverse(f"admin:{label.replace('.', '_')}_fragment", args=[row.pk, name])
    response = _admin_client(role, request).get(url)
    assert response.status_code == _expected(_policy(model_admin.policy_resource), role, 200), (url, role)


def test_buttons_and_live_boxes_exist_to_be_walked() -> None:
    """The walks above are not empty: the pages the officer works from carry buttons and live boxes."""
    buttons = {(label, name) for label, _a, name in _row_parts("do")}
    boxes = {label for label, _a, _n in _row_parts("fragment")}
    assert {label for label, _ in buttons} >= {
        "governance.dpia",
        "governance.deployment",
        "governance.erasurerequest",
    }
    assert boxes >= {"governance.erasurerequest", "training.finetunejob"}
    assert NO_ROLE in ROLES
