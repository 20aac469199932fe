"""A basic accessibility check of the dashboard and form pages, in a real browser.

Every visible input, select and textarea has an accessible name from a <label>, `aria-label` or
`aria-labelledby` (a placeholder or a title is not enough), and every enabled one is reached by
pressing Tab from the top of the page: nobody needs a mouse to fill a form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import goto
from tests.factories import AISystemFactory

pytestmark = pytest.mark.slow

# Marks each visible control with data-a11y=<n> and says whether it has a name.
CONTROLS_JS = """
() => {
  const text = (node) => (node && node.textContent || "").trim();
  const visible = (e) => e.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  const skip = ["hidden", "submit", "button", "reset", "image"];
  const controls = [...document.querySelectorAll("input, select, textarea")]
    .filter((e) => !skip.includes((e.getAttribute("type") || "").toLowerCase()) && visible(e));
  return controls.map((e, i) => {
    e.setAttribute("data-a11y", String(i));
    const byLabel = [...(e.labels || [])].some((l) => text(l));
    const byAria = !!(e.getAttribute("aria-label") || "").trim();
    const byIds = (e.getAttribute("aria-labelledby") || "").split(/\\s+/)
      .some((id) => id && text(document.getElementById(id)));
    return {
      index: i,
      what: `${e.tagName.toLowerCase()} name=${e.name || "-"} id=${e.id || "-"}`,
      named: byLabel || byAria || byIds,
      enabled: !e.disabled,
      group: (e.type === "radio" && e.name) ? `radio:${e.name}` : `#${i}`,
    };
  });
}
"""


def focus_walk(page: Any, presses: int) -> list[str]:
    """Press Tab `presses` times from the top; the data-a11y marks focused on the way."""
    page.locator("body").focus()
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    seen: list[str] = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        mark = page.evaluate(
            "() => document.activeElement && document.activeElement.getAttribute('data-a11y')"
        )
        if mark is not None:
            seen.append(mark)
    return seen


def check(page: Any) -> None:
    controls = page.evaluate(CONTROLS_JS)
    assert controls, f"no form control on {page.url}: nothing checked"
    unnamed = [c["what"] for c in controls if not c["named"]]
    assert not unnamed, f"controls without a label, aria-label or aria-labelledby on {page.url}: {unnamed}"
    focusable = page.evaluate(
        "() => document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]').length"
    )
    seen = set(focus_walk(page, focusable + 10))
    reached_groups = {c["group"] for c in controls if str(c["index"]) in seen}
    unreachable = [c["what"] for c in controls if c["enabled"] and c["group"] not in reached_groups]
    assert not unreachable, f"controls not reachable with Tab on {page.url}: {unreachable}"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/admin/", "a11y-dashboard"),
        ("/admin/governance/dpia/add/", "a11y-dpia-add"),
        ("/admin/governance/auditevent/report/", "a11y-audit-report"),
    ],
)
def test_every_visible_control_has_a_label_and_is_reached_with_tab(
    open_page: Callable[..., Any], officer: Any, path: str, name: str
) -> None:
    AISystemFactory(name="Helpdesk")  # so the DPIA form's AI system list is not empty
    page = open_page(officer)
    goto(page, path, name)

    check(page)


def test_the_check_catches_an_unlabelled_and_an_unreachable_control(
    open_page: Callable[..., Any], officer: Any
) -> None:
    page = open_page(officer)
    goto(page, "/admin/")
    page.evaluate(
        "() => document.querySelector('#content').insertAdjacentHTML('beforeend', '<input name=bad>')"
    )
    with pytest.raises(AssertionError, match="without a label.*name=bad"):
        check(page)

    goto(page, "/admin/")
    page.evaluate(
        "() => document.querySelector('#content')"
        ".insertAdjacentHTML('beforeend', '<input name=skipped aria-label=Skipped tabindex=-1>')"
    )
    with pytest.raises(AssertionError, match="not reachable with Tab.*name=skipped"):
        check(page)
