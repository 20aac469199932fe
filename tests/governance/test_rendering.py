"""The one rendering layer: same facts, same bytes; nothing fetched but our static files; user text inert."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from pypdf import PdfReader

from governance.rendering import FetchRefused, StaticOnlyFetcher, render_html, render_pdf, store_rendered

CERTIFICATE = "reports/erasure_certificate.html"
CREATED = datetime(2026, 5, 1, 10, 20, tzinfo=UTC)
CHAIN_HASH = "3f" * 32
CSS_URL = "platform-static:reports/report.css"
# The smallest valid PNG (1x1, transparent), as a template might inline a generated chart.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
INJECTIONS = (
    "<link href=file:///etc/passwd>",
    "<style>@import url(http://127.0.0.1:6379/)</style>",
    "url(http://127.0.0.1:6379/)",
)


def certificate_facts(**overrides: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "reference": "ER-2026-0042",
        "request_id": 42,
        "status": "completed",
        "received_at": "2026-04-30T08:00:00+00:00",
        "due_at": "2026-05-30T08:00:00+00:00",
        "executed_at": "2026-05-01T10:00:00+00:00",
        "erased_at": "2026-05-01T10:00:02+00:00",
        "purged_at": "2026-05-01T10:15:00+00:00",
        "completed_at": "2026-05-01T10:20:00+00:00",
        "identifier_types": {"email": 1, "pesel": 1},
        "stores": [
            {
                "name": "retrieval",
                "counts": [{"name": "documents", "value": 3}, {"name": "chunks", "value": 41}],
            },
            {
                "name": "datasets",
                "counts": [
                    {"name": "dataset_versions_replaced", "value": 2},
                    {"name": "records_removed", "value": 17},
                ],
            },
            {
                "name": "training",
                "counts": [{"name": "adapters_tainted", "value": 1}, {"name": "shadow_copies", "value": 5}],
            },
        ],
        "nothing_found": False,
        "name_matches": {"confirmed": 1, "excluded": 2},
        "verification": {"ok": True, "stores": {"datasets": {"ok": True}, "retrieval": {"ok": True}}},
        "purge_method": "VACUUM of the affected partitions only.",
        "limits": ["WAL segments keep deleted rows until recycled."],
        "chain_head": {"sequence": 977, "hash": CHAIN_HASH},
        "generated_at": "2026-05-01T10:20:00+00:00",
    }
    facts.update(overrides)
    return facts


def render_certificate(facts: dict[str, Any]) -> bytes:
    return render_pdf(CERTIFICATE, {"facts": facts}, title="Certificate of erasure", created=CREATED)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def squeezed(text: str) -> str:
    # Text extraction breaks lines where the layout wrapped them; compare without any whitespace.
    return "".join(text.split())


@pytest.fixture
def outside_css(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.css"
    secret.parent.mkdir()
    secret.write_text("body { color: red }")
    return secret


# Bytes


def test_the_same_facts_render_to_the_same_bytes():
    facts = certificate_facts()
    assert render_certificate(facts) == render_certificate(copy.deepcopy(facts))


def test_other_facts_render_to_other_bytes():
    assert render_certificate(certificate_facts()) != render_certificate(certificate_facts(request_id=43))


def test_the_pdf_dates_and_title_come_from_the_arguments_not_the_clock():
    metadata = PdfReader(io.BytesIO(render_certificate(certificate_facts()))).metadata
    assert metadata is not None
    assert metadata["/CreationDate"] == "D:20260501102000Z"
    assert metadata["/ModDate"] == "D:20260501102000Z"
    assert metadata.title == "Certificate of erasure"


def test_a_created_time_in_another_zone_is_written_in_utc():
    created = datetime(2026, 5, 1, 12, 20, tzinfo=timezone(timedelta(hours=2)))
    data = render_pdf(CERTIFICATE, {"facts": certificate_facts()}, title="x", created=created)
    metadata = PdfReader(io.BytesIO(data)).metadata
    assert metadata is not None
    assert metadata["/CreationDate"] == "D:20260501102000Z"


def test_a_naive_created_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        render_pdf(CERTIFICATE, {"facts": certificate_facts()}, title="x", created=datetime(2026, 5, 1))  # noqa: DTZ001


# Fetcher


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://127.0.0.1:6379/",
        "https://example.org/x.css",
        "data:text/css,body{background:url(http://127.0.0.1:6379/)}",
        "data:text/html;base64,PGgxPmhpPC9oMT4=",
        "ftp://example.org/x.css",
        "reports/report.css",
        "platform-static:reports/../../rendering.py",
        "platform-static:../governance/static/reports/report.css",
        "platform-static:%2e%2e/%2e%2e/settings.py",
        "platform-static:/etc/passwd",
        "platform-static:reports/missing.css",
        "platform-static:admin/js/core.js",
    ],
)
def test_the_fetcher_refuses_anything_but_our_static_files(url):
    with pytest.raises(FetchRefused):
        StaticOnlyFetcher().fetch(url)


def test_a_traversal_from_a_static_root_to_a_css_file_outside_it_is_refused(outside_css):
    static_root = Path(settings.BASE_DIR) / "governance" / "static"
    climb = "../" * len(static_root.resolve().parts)
    with pytest.raises(FetchRefused):
        StaticOnlyFetcher().fetch(f"platform-static:reports/{climb}{str(outside_css).lstrip('/')}")


def test_a_symlink_in_a_static_root_pointing_outside_it_is_refused(settings, tmp_path, outside_css):
    static_dir = tmp_path / "static"
    static_dir.mkdir()
    (static_dir / "linked.css").symlink_to(outside_css)
    settings.STATICFILES_DIRS = [str(static_dir)]
    with pytest.raises(FetchRefused):
        StaticOnlyFetcher().fetch("platform-static:linked.css")


def test_a_refusal_logs_the_scheme_and_nothing_else_of_the_url(caplog):
    with (
        caplog.at_level(logging.WARNING, logger="governance.rendering"),
        pytest.raises(FetchRefused) as refused,
    ):
        StaticOnlyFetcher().fetch("http://127.0.0.1:6379/secret-path")
    assert [r.getMessage() for r in caplog.records] == ["rendering refused a http URL"]
    assert str(refused.value) == "refused a http URL"


def test_the_fetcher_serves_the_platform_stylesheet():
    response = StaticOnlyFetcher().fetch(CSS_URL)
    expected = (Path(settings.BASE_DIR) / "governance" / "static" / "reports" / "report.css").read_bytes()
    assert (response.read(), response.content_type) == (expected, "text/css")


def test_the_fetcher_serves_an_inline_png():
    url = "data:image/png;base64," + base64.b64encode(PNG_1X1).decode()
    response = StaticOnlyFetcher().fetch(url)
    assert (response.read(), response.content_type) == (PNG_1X1, "image/png")


def test_a_render_fetches_the_platform_stylesheet_and_nothing_else(fetched):
    render_certificate(certificate_facts())
    assert fetched == [CSS_URL]


# User text


@pytest.fixture
def injected_facts() -> dict[str, Any]:
    return certificate_facts(
        reference=INJECTIONS[0],
        purge_method=INJECTIONS[2],
        limits=[INJECTIONS[1]],
        stores=[{"name": INJECTIONS[1], "counts": [{"name": INJECTIONS[0], "value": 1}]}],
    )


def test_markup_in_user_text_reaches_weasyprint_escaped(injected_facts):
    html = render_html(CERTIFICATE, {"facts": injected_facts}, title="x", created=CREATED)
    assert "&lt;link href=file:///etc/passwd&gt;" in html
    assert "<link href=file:" not in html
    assert "<style>@import" not in html


def test_markup_in_user_text_is_printed_literally_and_fetches_nothing(injected_facts, fetched):
    text = squeezed(pdf_text(render_certificate(injected_facts)))
    for injection in INJECTIONS:
        assert squeezed(injection) in text
    assert fetched == [CSS_URL]


# The certificate


def test_the_certificate_states_the_reference_counts_verification_and_chain_head():
    text = pdf_text(render_certificate(certificate_facts()))
    flat = " ".join(text.split())
    assert "Certificate of erasure" in flat
    assert "ER-2026-0042" in flat
    assert "Article 17" in flat
    assert "Documents deleted 3" in flat
    assert "Chunks deleted 41" in flat
    assert "Dataset versions replaced 2" in flat
    assert "Records removed 17" in flat
    assert "Adapters marked tainted 1" in flat
    assert "E-mail address 1" in flat
    assert "PESEL number 1" in flat
    assert "Overall Passed" in flat
    assert "2026-05-01T10:15:00+00:00" in flat
    assert "event #977" in flat
    assert CHAIN_HASH in squeezed(text)
    assert "Nothing was found" not in flat


def test_a_count_name_without_a_label_is_printed_as_is():
    flat = " ".join(pdf_text(render_certificate(certificate_facts())).split())
    assert "shadow_copies 5" in flat


def test_the_certificate_says_nothing_was_found_when_nothing_was():
    facts = certificate_facts(
        nothing_found=True, stores=[{"name": "retrieval", "counts": [{"name": "documents", "value": 0}]}]
    )
    flat = " ".join(pdf_text(render_certificate(facts)).split())
    assert "Nothing was found: no store held data linked to the identifiers given" in flat


def test_a_failed_verification_is_stated_as_failed():
    facts = certificate_facts(verification={"ok": False, "stores": {"retrieval": {"ok": False}}})
    flat = " ".join(pdf_text(render_certificate(facts)).split())
    assert "Overall Failed" in flat
    assert "Retrieval Failed" in flat


def test_a_pending_purge_is_stated_as_pending():
    flat = " ".join(pdf_text(render_certificate(certificate_facts(purged_at=None))).split())
    assert "Physical purge done pending" in flat


def test_the_certificate_states_only_what_it_was_given():
    text = pdf_text(render_certificate(certificate_facts()))
    assert "@" not in text  # no e-mail address: the facts hold types, never values


# Storing


def test_a_rendered_file_is_stored_under_media_root_with_its_sha256():
    data = render_certificate(certificate_facts())
    path, digest = store_rendered("certificates/erasure-42.pdf", data)
    assert (path, digest) == ("certificates/erasure-42.pdf", hashlib.sha256(data).hexdigest())
    assert (Path(settings.MEDIA_ROOT) / path).read_bytes() == data


def test_storing_again_replaces_the_file_and_leaves_no_temporary_file():
    store_rendered("certificates/again.pdf", b"first")
    store_rendered("certificates/again.pdf", b"second")
    folder = Path(settings.MEDIA_ROOT) / "certificates"
    assert (folder / "again.pdf").read_bytes() == b"second"
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".again.pdf")]


@pytest.mark.parametrize("path", ["../outside.pdf", "/etc/outside.pdf", "certificates/../../x.pdf", ".", ""])
def test_a_path_outside_media_root_is_refused(path):
    with pytest.raises(ValueError, match="inside MEDIA_ROOT"):
        store_rendered(path, b"x")
