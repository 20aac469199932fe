"""Celery tasks of retrieval: thin wrappers that claim rows and call one service."""

from __future__ import annotations

import logging

from celery import shared_task

from governance import claim
from governance.enqueue import enqueue_on_commit, send_now
from retrieval.choices import IN_FLIGHT, IndexState
from retrieval.models import Collection, Document
from retrieval.services import collections, documents

logger = logging.getLogger(__name__)

BUILD_TASK = "retrieval.tasks.build_collection_index"


@shared_task(queue="default", time_limit=4 * 3600, soft_time_limit=4 * 3600 - 60, acks_late=True)
def ingest_documents(document_ids: list[int]) -> None:
    """Ingest a group of documents; a redelivery stands down beside a live owner or resumes a dead one's."""
    claimed = documents.documents_claim(document_ids=document_ids)
    if not claimed:
        logger.info("documents %s are finished or held by a live worker: standing down", document_ids[:5])
        return
    for collection_id in documents.documents_process(document_ids=claimed):
        if collections.collection_index_build_due(collection_id=collection_id):
            # Two groups finishing together both send it; the build's claim lets one of them run.
            enqueue_on_commit(BUILD_TASK, collection_id)


@shared_task(queue="default", time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60, acks_late=True)
def build_collection_index(collection_id: int) -> None:
    """Build a collection's HNSW index after a bulk load; a second run finds it ready or held and returns."""
    collections.collection_build_index(collection_id=collection_id)


def _resend_documents(document_ids: list[int]) -> None:
    for group in documents.task_groups(document_ids, [0] * len(document_ids)):
        send_now(documents.INGEST_TASK, group)


def _resend_builds(collection_ids: list[int]) -> None:
    for collection_id in collection_ids:
        send_now(BUILD_TASK, collection_id)


claim.register(
    claim.ClaimKind(
        name="document_ingest", model=Document, claimable_statuses=list(IN_FLIGHT), resend=_resend_documents
    )
)
claim.register(
    claim.ClaimKind(
        name="collection_index_build",
        model=Collection,
        status_field="index_state",
        claimable_statuses=[IndexState.DEFERRED, IndexState.BUILDING],
        resend=_resend_builds,
    )
)
