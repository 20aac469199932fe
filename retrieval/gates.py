"""The collection's gate of a deployment, registered in governance's "deployment" scope."""

from __future__ import annotations

from django.contrib.postgres.expressions import ArraySubquery

from governance import gates
from governance.gates import Failure
from governance.models import Deployment, SuppressedKey
from retrieval.choices import DocumentStatus
from retrieval.models import Document

SCOPE = "deployment"


def collection_suppressed_subject(d: Deployment) -> Failure | None:
    """The collection holds no live document carrying a key on the suppression list."""
    if d.collection_id is None:
        return None
    # One statement: the suppressed keys stay in the database (an InitPlan array) and the overlap is
    # answered by the GIN index on subject_keys, without carrying thousands of keys through Python.
    keys = ArraySubquery(SuppressedKey.objects.filter(lifted_at__isnull=True).values("key"))
    # Rejected and failed documents are out of the index (and emptied); the rest can be retrieved.
    found = list(
        Document.objects.filter(collection_id=d.collection_id, subject_keys__overlap=keys)
        .exclude(status__in=[DocumentStatus.REJECTED, DocumentStatus.FAILED])
        .order_by("pk")
        .values_list("pk", flat=True)[:100]
    )
    if found:
        return Failure(
            f"the collection holds {len(found)}{'+' if len(found) == 100 else ''} document(s) of a subject "
            "on the suppression list",
            {"documents": found},
        )
    return None


def register_gates() -> None:
    gates.register(
        SCOPE,
        "collection_suppressed_subject",
        collection_suppressed_subject,
        description="the collection holds no document of a subject on the suppression list",
        remedy="run the subject's erasure request (or delete the documents listed), then re-approve",
    )
