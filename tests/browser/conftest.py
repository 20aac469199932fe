"""Real-browser tests of the admin: headless Chromium (the system's binary) and pytest-django's live server.

Playwright's own browser download cannot run here, so the browser is the Debian `chromium` package,
found through `CHROMIUM_PATH` or the PATH; without it every test fails with one line saying how to
install it (never a skip: a missing browser must not pass CI silently). `.ci/run` installs it.

Each test opens its own browser context (fresh cookies) per user and logs in through the real login
form. Screenshots of the pages visited go to `screenshots/` at the repository root and are kept after
the run; a failed test also leaves a screenshot of every page it had open (`FAILED-...png`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
PASSWORD = "a-long-browser-test-password"
TIMEOUT_MS = 20_000
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


def chromium_path() -> str | None:
    """The system's Chromium: `CHROMIUM_PATH`, else the first of the usual names on the PATH."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist (`make test` runs two workers) all browser tests go to one worker (`--dist
    loadgroup`): one Chromium, not one per worker, and the FAILED-*.png this run leaves are its own."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(autouse=True)
def _regex_pii_engine(settings: Any) -> None:
    """The in-process scans of the live server use the regex engine (the worker keeps its own)."""
    settings.PII_ENGINE = "regex"


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for these tests (a context per test keeps tests apart).

    Package-scoped: its event loop (see below) stops when the last browser test has run, so the rest
    of a whole-suite run sees the main thread as it always was.
    """
    executable = chromium_path()
    if executable is None:
        pytest.fail(
            "chromium not found: apt-get install -y --no-install-recommends chromium "
            "(or set CHROMIUM_PATH to a Chromium binary)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    SCREENSHOTS.mkdir(exist_ok=True)
    for stale in SCREENSHOTS.glob("FAILED-*.png"):  # a failure's pictures are from this run only
        stale.unlink()
    # Playwright's sync API keeps an asyncio loop running on the main thread from here on, so Django
    # would refuse every query made on that thread ("cannot call this from an async context"): the
    # tests' own queries and pytest-django's flushes. They are plain synchronous code; the live server
    # answers the browser from its own thread. Allowed for exactly as long as the loop runs.
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=executable, headless=True, args=args)
    except Exception as exc:  # a broken install: say so in one line
        manager.stop()
        _restore(previous)
        pytest.fail(f"chromium at {executable} did not start: {str(exc).splitlines()[0]}", pytrace=False)
    yield browser
    browser.close()
    manager.stop()
    _restore(previous)


def _restore(previous: str | None) -> None:
    if previous is None:
        os.environ.pop(ASYNC_UNSAFE, None)
    else:
        os.environ[ASYNC_UNSAFE] = previous


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Keep each phase's report on the test, so fixtures can see at teardown whether it failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:150]


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot of what the page shows now, as screenshots/<name>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{_slug(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page: Any, user: Any) -> Any:
    """Log `user` in through the admin's login form; the user gets a known password first."""
    user.set_password(PASSWORD)
    user.save()
    page.goto("/admin/login/?next=/admin/")
    page.fill("input[name=username]", user.get_username())
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.locator("#login-form [type=submit]").click()
    assert "/admin/login/" not in page.url, (
        f"login of {user} failed: {page.locator('.errornote').all_inner_texts()}"
    )
    return page


@pytest.fixture
def open_page(browser: Any, live_server: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """open_page(user=None) -> a page in a fresh browser context, logged in as `user` when given."""
    contexts: list[Any] = []
    pages: list[Any] = []

    def make(user: Any = None) -> Any:
        context = browser.new_context(
            base_url=live_server.url,
            accept_downloads=True,
            locale="en-GB",
            timezone_id="UTC",
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        if user is not None:
            login(page, user)
        return page

    yield make
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for number, page in enumerate(pages):
            try:
                shot(page, f"FAILED-{request.node.name}-{number}")
            except Exception:  # noqa: S110 - a closed page has nothing to show; the failure is reported
                pass
    for context in contexts:
        context.close()


def click_through(page: Any, locator: Any) -> Any:
    """Click a link or button that navigates, and wait for the new page; its response."""
    with page.expect_navigation() as navigation:
        locator.click()
    return navigation.value


def goto(page: Any, path: str, name: str | None = None, *, status: int | None = 200) -> Any:
    """Open `path`, check the HTTP status (None: any) and take a screenshot named `name`."""
    response = page.goto(path)
    assert response is not None, path
    if status is not None:
        assert response.status == status, f"{path}: HTTP {response.status}, expected {status}"
    if name:
        shot(page, name)
    return response


def count_of(page: Any, key: str) -> int | None:
    """The number a dashboard card shows (`data-card="<key>"` ... `.gv-count[data-count]`), or None."""
    card = page.locator(f'[data-card="{key}"]')
    if card.count() == 0:
        return None
    return int(card.first.locator("[data-count]").first.get_attribute("data-count"))


def action_button(page: Any, name: str) -> Any:
    """The button of a row's page that opens the object action `name`."""
    return page.locator(f'a[data-action="{name}"]')


def messages_of(page: Any, level: str) -> list[str]:
    """The texts of the admin's messages of one level (success, error, warning, info)."""
    return [t.strip() for t in page.locator(f"ul.messagelist li.{level}").all_text_contents()]


def fill_action_form(page: Any, texts: dict[str, str] | None = None) -> None:
    """Fill what an object action's form asks for: named fields first, then any empty required field."""
    import datetime as dt

    for name, value in (texts or {}).items():
        field = page.locator(f'#content form [name="{name}"]')
        if field.count():
            field.first.fill(value)
    from django.utils import timezone

    future = (timezone.localdate() + dt.timedelta(days=200)).isoformat()
    fields = "#content form textarea:visible, #content form input:visible, #content form select:visible"
    for field in page.locator(fields).all():
        kind = (field.get_attribute("type") or "").lower()
        if kind in ("hidden", "submit", "button", "checkbox", "radio", "file"):
            continue
        tag = field.evaluate("e => e.tagName.toLowerCase()")
        if tag == "select":
            if not field.input_value():
                values = [v for v in field.locator("option").evaluate_all("os => os.map(o => o.value)") if v]
                if values:
                    field.select_option(values[0])
            continue
        if field.input_value():
            continue
        name = (field.get_attribute("name") or "").lower()
        if kind == "date" or any(word in name for word in ("date", "due", "until")):
            field.fill(future)
        elif kind == "number":
            field.fill("1")
        elif field.get_attribute("required") is not None or tag == "textarea":
            field.fill("Checked in the browser test.")


def submit_action(page: Any) -> Any:
    """Press the confirmation page's submit button; the answer's response (after any redirect)."""
    with page.expect_navigation() as navigation:
        page.locator('#content form[method="post"] [type="submit"]').last.click()
    return navigation.value
