# ruff: noqa: F811 - the training fixtures imported below are parameters of the tests
"""Following lineage by clicking: AI system -> its story -> the adapter -> the dataset version it was
trained on -> back to the AI system. Every id on these pages is a link (governance/ui.py `link`).

The adapter is trained for real in this process (tests/training/conftest.py), on a scanned version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import click_through, goto, shot
from tests.training.conftest import (  # noqa: F401 - fixtures
    _training_settings,
    adapter,
    ai_system,
    base_model,
    demo_model_dir,
    make_version,
    trained_job,
    version,
)

pytestmark = pytest.mark.slow


def adapter_url(adapter: Any) -> str:
    return f"/admin/training/adapterversion/{adapter.pk}/change/"


def follow(page: Any, href_prefix: str, name: str) -> None:
    """Click the first link on the page whose href starts with `href_prefix` and screenshot the result."""
    link = page.locator(f'#content a[href^="{href_prefix}"]')
    assert link.count() > 0, f'no link a[href^="{href_prefix}"] on {page.url}'
    click_through(page, link.first)
    assert page.url.split("?")[0].endswith(href_prefix) or href_prefix in page.url, page.url
    shot(page, name)


def check_adapter_links(page: Any, adapter: Any, prefix: str) -> None:
    """On the adapter's page: its dataset version and AI system are links that lead there and back."""
    version_url = f"/admin/governance/datasetversion/{adapter.dataset_version_id}/change/"
    follow(page, version_url, f"{prefix}-dataset-version")
    assert page.url.endswith(version_url)
    assert str(adapter.dataset_version) in page.locator("#content").inner_text()
    page.go_back()
    page.wait_for_load_state()
    assert page.url.endswith(adapter_url(adapter)), page.url
    follow(page, f"/admin/governance/aisystem/{adapter.ai_system_id}/", f"{prefix}-ai-system")
    assert adapter.ai_system.name in page.locator("#content").inner_text()


def test_from_the_ai_systems_story_to_its_adapter_and_back(
    open_page: Callable[..., Any], officer: Any, ai_system: Any, adapter: Any
) -> None:
    page = open_page(officer)
    goto(page, f"/admin/governance/aisystem/{ai_system.pk}/change/", "lineage-ai-system")
    story = f"/admin/governance/aisystem/{ai_system.pk}/story/"

    follow(page, story, "lineage-story")
    assert page.url.endswith(story)
    assert ai_system.name in " ".join(page.locator("#content h1, #content h2").all_inner_texts())
    follow(page, adapter_url(adapter), "lineage-story-adapter")
    assert adapter.name in page.locator("#content").inner_text()
    check_adapter_links(page, adapter, "lineage-story-adapter")


def test_the_adapters_page_links_its_dataset_version_and_ai_system(
    open_page: Callable[..., Any], engineer: Any, adapter: Any
) -> None:
    page = open_page(engineer)
    goto(page, adapter_url(adapter), "lineage-adapter")
    assert adapter.name in page.locator("#content").inner_text()

    check_adapter_links(page, adapter, "lineage-adapter")
