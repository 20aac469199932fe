"""The embedding model: loaded once per process, offline; a broken model's NaN never reaches the index."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import embedding
from retrieval.choices import DocumentStatus
from retrieval.chunking import chunk_offsets, chunk_text
from retrieval.models import Chunk
from tests.retrieval.conftest import doc, ingest_now


@pytest.fixture(scope="module")
def broken_model_path(tmp_path_factory):
    """A real sentence-transformers model whose weights are NaN, as a corrupted download would be."""
    import torch

    loaded = embedding.load_model("all-MiniLM-L6-v2")
    path = tmp_path_factory.mktemp("models") / "broken-minilm"
    loaded.model.save(str(path))
    from sentence_transformers import SentenceTransformer

    broken = SentenceTransformer(str(path), device="cpu")
    with torch.no_grad():
        for parameter in broken.parameters():
            parameter.fill_(float("nan"))
    broken.save(str(path))
    return str(path)


def test_the_model_is_loaded_once_per_process():
    assert embedding.load_model("all-MiniLM-L6-v2") is embedding.load_model("all-MiniLM-L6-v2")


def test_embeddings_have_the_models_dimension_and_are_finite():
    vectors = embedding.embed(embedding.load_model("all-MiniLM-L6-v2"), ["hello", "world"])
    assert vectors.shape == (2, 384) and np.isfinite(vectors).all()


def test_check_finite_refuses_nan_and_inf():
    with pytest.raises(embedding.NonFiniteEmbedding):
        embedding.check_finite(np.array([[0.1, np.nan], [0.2, 0.3]], dtype=np.float32))
    with pytest.raises(embedding.NonFiniteEmbedding):
        embedding.check_finite(np.array([[np.inf, 0.0]], dtype=np.float32))


@pytest.mark.django_db
def test_a_model_producing_nan_fails_the_document_before_anything_is_written(
    make_collection, engineer, broken_model_path
):
    collection = make_collection(embedding_model=broken_model_path, chunk_size=32, chunk_overlap=4)
    [document] = ingest_now(engineer, collection, [doc("faq", "Refunds take five working days.")])
    assert document.status == DocumentStatus.FAILED
    assert document.error_code == "non_finite_embedding"
    assert not Chunk.objects.filter(collection=collection).exists()


def test_chunks_are_windows_of_tokens_with_the_requested_overlap():
    offsets = [(i * 2, i * 2 + 1) for i in range(10)]
    chunks = chunk_offsets(offsets, size=4, overlap=1)
    assert [(c.start, c.end, c.token_count) for c in chunks] == [(0, 7, 4), (6, 13, 4), (12, 19, 4)]


def test_chunk_spans_cut_the_text_on_token_boundaries():
    tokenizer = embedding.load_model("all-MiniLM-L6-v2").tokenizer
    text = "Invoices are due within thirty days; reminders go out after forty-five days."
    chunks = chunk_text(tokenizer, text, size=5, overlap=2)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for chunk in chunks:
        piece = text[chunk.start : chunk.end]
        assert piece == piece.strip() and chunk.token_count <= 5


def test_an_empty_text_gives_no_chunk():
    assert chunk_text(embedding.load_model("all-MiniLM-L6-v2").tokenizer, "", size=5, overlap=1) == []
