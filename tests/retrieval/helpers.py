"""Builders for test inputs: PDFs with and without a text layer, synthetic indexed documents."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from django.utils import timezone

from retrieval import storage
from retrieval.choices import DocumentStatus, SourceType
from retrieval.models import Collection, Document


def pdf_with_text(text: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=f"<html><body><p>{text}</p></body></html>").write_pdf()


def pdf_without_text_layer() -> bytes:
    """A one-page PDF with nothing but an empty page, like a scan before OCR."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def synthetic_documents(
    collection: Collection, vectors: np.ndarray, *, metadata: list[dict[str, Any]] | None = None
) -> list[Document]:
    """One indexed document per vector, each with one chunk, written straight to the partition."""
    now = timezone.now()
    documents = Document.objects.bulk_create(
        [
            Document(
                collection=collection,
                external_id=f"syn-{i}",
                title=f"Synthetic {i}",
                source_type=SourceType.JSON,
                sha256=f"{i:064d}",
                text=f"synthetic chunk {i}",
                status=DocumentStatus.INDEXED,
                progress=1.0,
                chunk_count=1,
                indexed_at=now,
                metadata=(metadata[i] if metadata else {}),
            )
            for i in range(len(vectors))
        ]
    )
    # Loaded the way a bulk load is: without the index, which is then built over all rows at once.
    had_index = storage.has_hnsw_index(collection)
    storage.drop_hnsw_index(collection)
    storage.copy_rows(
        collection,
        (
            (d.pk, storage.ChunkRow(0, d.text, 0, len(d.text), 3, []), vector)
            for d, vector in zip(documents, vectors, strict=True)
        ),
    )
    if had_index:
        storage.build_hnsw_index(collection)
    return documents
