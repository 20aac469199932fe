"""Polish as the second language of the dashboard and the erasure pages; the catalogue is compiled."""

from __future__ import annotations

import gettext
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from governance.services import erasure

pytestmark = pytest.mark.django_db

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "pl" / "LC_MESSAGES"


def _polish(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "pl"
    return client


def test_the_erasure_pages_speak_polish(officer: Any) -> None:
    record = erasure.erasure_request_create(
        actor=officer,
        reference="ER-PL-1",
        identifiers=[{"type": "email", "value": "jan.kowalski@example.com"}],
    )
    client = _polish(officer)
    html = client.get(f"/admin/governance/erasurerequest/{record.pk}/change/").content.decode()
    assert 'lang="pl"' in html
    assert "Postęp w każdym magazynie" in html  # "Progress per store"
    assert "Termin (art. 12 ust. 3)" in html  # "Deadline (Art. 12(3))"
    assert re.search(r"został\w* \d+ dn", html)  # "N days left", with Polish plural forms
    listing = client.get("/admin/governance/erasurerequest/").content.decode()
    assert "Termin" in listing
    assert "żądania osób, których dane dotyczą" in listing.lower() and "Otrzymano" in listing  # model, status
    assert "Usunięcie (art. 17)" in listing  # the request's kind
    dashboard = client.get("/admin/").content.decode()
    assert "Otwarte żądania osób, których dane dotyczą" in dashboard
    assert "jan.kowalski" not in html + listing + dashboard


def test_english_stays_the_default(officer: Any) -> None:
    client = Client()
    client.force_login(officer)
    html = client.get("/admin/").content.decode()
    assert 'lang="en-gb"' in html and "Verify now" in html


def _po_entries(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    entries = {}
    for block in text.split("\n\n"):
        if "msgid_plural" in block:
            continue
        found = re.search(r"^msgid (.*?)^msgstr (.*)", block, re.M | re.S)
        if found is None:
            continue
        msgid, msgstr = ("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', part)) for part in found.groups())
        if msgid and msgstr and "#, fuzzy" not in block:
            entries[msgid.replace('\\"', '"')] = msgstr.replace('\\"', '"')
    return entries


def test_the_compiled_catalogue_holds_every_translation_of_the_source() -> None:
    """A translation added to django.po without `make messages` would never reach a page."""
    entries = _po_entries(CATALOGUE / "django.po")
    assert len(entries) > 150
    with (CATALOGUE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [msgid for msgid, msgstr in entries.items() if compiled.gettext(msgid) != msgstr]
    assert stale == []
