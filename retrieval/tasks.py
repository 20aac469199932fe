"""Celery tasks of retrieval: thin wrappers that claim rows and call one service."""

from __future__ import annotations

import logging

from celery import shared_task

from retrieval.services import collections, documents

logger = logging.getLogger(__name__)


@shared_task(queue="default", time_limit=4 * 3600, soft_time_limit=4 * 3600 - 60, acks_late=True)
def ingest_documents(document_ids: list[int]) -> None:
    """Ingest a group of documents; safe to run twice (finished documents are left alone)."""
    claimed = documents.documents_claim(document_ids=document_ids)
    if not claimed:
        logger.info("documents %s are not pending: someone else got there first", document_ids[:5])
        return
    for collection_id in documents.documents_process(document_ids=claimed):
        if collections.collection_claim_index_build(collection_id=collection_id):
            build_collection_index.delay(collection_id)


@shared_task(queue="default", time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60, acks_late=True)
def build_collection_index(collection_id: int) -> None:
    """Build a collection's HNSW index after a bulk load; a second run finds it ready and returns."""
    collections.collection_build_index(collection_id=collection_id)
