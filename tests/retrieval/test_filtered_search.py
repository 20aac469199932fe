"""Filtered search returns k rows whenever k rows match, at any selectivity, and uses the index."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import transaction

from retrieval import storage
from retrieval.services.search import filter_q, search_vectors
from tests.retrieval.conftest import random_unit_vectors
from tests.retrieval.helpers import synthetic_documents

pytestmark = pytest.mark.django_db

SIZE = 1000
K = 10


@pytest.fixture
def corpus(collection):
    vectors = random_unit_vectors(SIZE, collection.embedding_dimension, seed=1)
    # bucket 0 is 1% of the documents (exactly k), tenth 0 is 10%, and no filter is 100%.
    metadata = [{"bucket": i % 100, "tenth": i % 10} for i in range(SIZE)]
    synthetic_documents(collection, vectors, metadata=metadata)
    return collection, vectors


def _search(collection, vector, q):
    with transaction.atomic():
        return search_vectors(collection, vector, k=K, q=q)


def _exact_ids(collection, vector, q):
    from retrieval.models import Document

    ids = (
        list(Document.objects.filter(collection=collection).filter(q).values_list("pk", flat=True))
        if q
        else None
    )
    with transaction.atomic():
        return [h.chunk_id for h in storage.search(collection, vector, k=K, document_ids=ids, exact=True)]


FILTERS = {"1%": {"metadata": {"bucket": 0}}, "10%": {"metadata": {"tenth": 0}}, "100%": None}


@pytest.mark.parametrize("share", FILTERS)
def test_it_returns_exactly_k_rows_at_each_selectivity(corpus, share):
    collection, _ = corpus
    q = filter_q(FILTERS[share])
    for seed in range(5):
        query = random_unit_vectors(1, collection.embedding_dimension, seed=100 + seed)[0]
        assert len(_search(collection, query, q).hits) == K


@pytest.mark.parametrize("share", FILTERS)
def test_it_still_returns_k_rows_when_forced_through_the_hnsw_index(corpus, share, settings):
    settings.RETRIEVAL_EXACT_MAX_ROWS = 0
    settings.RETRIEVAL_EXACT_MAX_FRACTION = 0
    settings.RETRIEVAL_HNSW_EF_SEARCH = 10  # start narrow so the widening has to work
    collection, _ = corpus
    q = filter_q(FILTERS[share])
    for seed in range(5):
        query = random_unit_vectors(1, collection.embedding_dimension, seed=200 + seed)[0]
        result = _search(collection, query, q)
        assert len(result.hits) == K


def test_a_selective_filter_runs_as_exact_search_and_matches_the_exact_answer(corpus):
    collection, _ = corpus
    q = filter_q(FILTERS["1%"])
    query = random_unit_vectors(1, collection.embedding_dimension, seed=7)[0]
    result = _search(collection, query, q)
    assert result.mode == "exact"
    assert [h.chunk_id for h in result.hits] == _exact_ids(collection, query, q)


def test_a_filter_matching_fewer_than_k_rows_returns_all_of_them(corpus):
    collection, _ = corpus
    q = filter_q({"external_id": ["syn-1", "syn-2", "syn-3"]})
    query = random_unit_vectors(1, collection.embedding_dimension, seed=8)[0]
    assert len(_search(collection, query, q).hits) == 3


def test_the_planner_uses_the_partitions_hnsw_index_and_exact_mode_avoids_it(corpus):
    collection, _ = corpus
    query = np.ones(collection.embedding_dimension, dtype=np.float32)
    assert collection.hnsw_index in storage.explain_search(collection, query, k=K, exact=False)
    assert collection.hnsw_index not in storage.explain_search(collection, query, k=K, exact=True)


def test_without_its_hnsw_index_a_collection_is_searched_exactly(corpus):
    from retrieval.services.collections import collection_defer_index

    collection, _ = corpus
    assert collection_defer_index(collection=collection)
    collection.refresh_from_db()
    query = random_unit_vectors(1, collection.embedding_dimension, seed=9)[0]
    result = _search(collection, query, None)
    assert result.mode == "exact" and len(result.hits) == K
