"""Compressed-bomb PDFs are refused quickly with 413 extraction_limit, and nothing is stored."""

from __future__ import annotations

import io
import time
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from retrieval.models import Document

pytestmark = pytest.mark.django_db


def pdf_with_flate_content(content: bytes, *, repeat: int) -> bytes:
    """A one-page PDF whose content stream is `content` repeated, FlateDecode-compressed."""
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(content) for _ in range(repeat)) + compressor.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _upload(client, collection, name, data):
    started = time.monotonic()
    response = client.post(
        f"/api/v1/collections/{collection.pk}/documents/",
        {"file": [SimpleUploadedFile(name, data, content_type="application/pdf")]},
        format="multipart",
    )
    return response, time.monotonic() - started


def test_a_300_mb_flate_bomb_of_zeros_is_refused_fast_with_413(api, engineer, collection):
    bomb = pdf_with_flate_content(b"\0" * (1024 * 1024), repeat=300)
    assert len(bomb) < 400 * 1024  # ~1000x compression: a few hundred KB on the wire

    response, elapsed = _upload(api(engineer), collection, "bomb.pdf", bomb)

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "extraction_limit"
    assert error["details"]["limit"] == "stream_bytes"
    assert elapsed < 10
    assert not Document.objects.exists()


def test_a_page_of_millions_of_text_operators_is_refused_before_it_is_parsed(api, engineer, collection):
    line = b"BT /F1 12 Tf 72 720 Td (All work and no play makes a dull report) Tj ET\n"
    bomb = pdf_with_flate_content(line * 1000, repeat=120)  # ~8 MB of operators: ~15 s to parse

    response, elapsed = _upload(api(engineer), collection, "operators.pdf", bomb)

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "extraction_limit"
    assert error["details"]["limit"] == "page_content_bytes"
    assert elapsed < 5
    assert not Document.objects.exists()


def test_text_past_the_character_limit_is_refused(api, engineer, collection, settings):
    settings.RETRIEVAL_PDF_MAX_CHARS = 1000
    line = b"BT /F1 12 Tf 72 720 Td (All work and no play makes a dull report) Tj ET\n"

    response, _ = _upload(api(engineer), collection, "long.pdf", pdf_with_flate_content(line, repeat=100))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "extraction_limit"
    assert response.json()["error"]["details"] == {"file": "long.pdf", "limit": "characters", "maximum": 1000}


def test_a_pdf_over_the_page_limit_is_refused(api, engineer, collection, settings):
    settings.RETRIEVAL_PDF_MAX_PAGES = 0
    line = b"BT /F1 12 Tf 72 720 Td (hello) Tj ET\n"

    response, _ = _upload(api(engineer), collection, "pages.pdf", pdf_with_flate_content(line, repeat=1))

    assert response.status_code == 413
    assert response.json()["error"]["details"]["limit"] == "pages"
