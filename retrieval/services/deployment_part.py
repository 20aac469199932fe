"""What a collection adds to a deployment: validation, datasets, personal data and Annex IV facts.

Registered with governance in RetrievalConfig.ready() (governance/participants.py, DeploymentPart).
The facts are counts and settings only: no document title, source, text or metadata reaches them,
so the documentation of a collection of personal data carries none of it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, Sum

from governance.choices import DatasetPurpose
from governance.errors import ValidationFailed
from governance.models import Dataset, Deployment
from governance.participants import DatasetUse, DeploymentPart
from retrieval.choices import DocumentStatus, PiiPolicy, SourceType
from retrieval.models import Collection, Document

Item = dict[str, Any]


def fact(label: str, value: Any, *, required: bool = False) -> Item:
    return {"kind": "fact", "label": label, "value": value, "required": required}


def validate(deployment: Deployment) -> None:
    """A collection must belong to the deployment's AI system."""
    collection = deployment.collection
    if collection is not None and collection.ai_system_id != deployment.ai_system_id:
        raise ValidationFailed(
            f"the collection {collection.name} belongs to another AI system",
            code="collection_of_another_system",
            details={"field": "collection"},
        )


def datasets(deployment: Deployment) -> list[DatasetUse]:
    """The AI system's knowledge datasets, as a whole: what a collection of the system is fed from."""
    if deployment.collection_id is None:
        return []
    knowledge = Dataset.objects.filter(
        ai_systems=deployment.ai_system_id, purpose=DatasetPurpose.KNOWLEDGE
    ).order_by("id")
    return [DatasetUse(dataset=dataset, version=None, role="knowledge") for dataset in knowledge]


def _indexed(collection_id: int) -> Any:
    return Document.objects.filter(collection_id=collection_id, status=DocumentStatus.INDEXED)


def personal_data(deployment: Deployment) -> bool:
    """Whether an indexed document of the collection had personal data found in it."""
    if deployment.collection_id is None:
        return False
    return bool(_indexed(deployment.collection_id).exclude(pii_summary={}).exists())


def facts(deployment: Deployment) -> dict[int, list[Item]]:
    """Section 2 (the collection's sources, chunking, embedding, PII policy) and 3 (the query log)."""
    collection = deployment.collection
    if collection is None:
        return {2: [fact("Retrieval", "none: the deployment retrieves from no collection")]}
    return {2: _collection_items(collection), 3: _logging_items(collection)}


def _collection_items(collection: Collection) -> list[Item]:
    indexed = _indexed(collection.pk)
    totals = indexed.aggregate(
        documents=Count("id"),
        chunks=Sum("chunk_count"),
        sources=Count("source", distinct=True, filter=~Q(source="")),
        with_pii=Count("id", filter=~Q(pii_summary={})),
    )
    by_type = dict(indexed.order_by().values_list("source_type").annotate(n=Count("id")))
    labels = dict(SourceType.choices)
    return [
        {"kind": "heading", "label": "Retrieval collection"},
        fact("Collection", f"{collection.name} (id {collection.pk})", required=True),
        fact("Embedding model", collection.embedding_model, required=True),
        fact("Embedding dimension", collection.embedding_dimension),
        fact(
            "Chunking",
            f"{collection.chunk_size} tokens per chunk, {collection.chunk_overlap} tokens of overlap; "
            f"the model reads {collection.model_max_tokens} tokens per chunk",
        ),
        fact("Personal data policy", PiiPolicy(collection.pii_policy).label),
        fact("Indexed documents", totals["documents"]),
        fact("Indexed chunks", totals["chunks"] or 0),
        fact("Distinct sources", totals["sources"]),
        fact("Indexed documents in which personal data was found", totals["with_pii"]),
        {
            "kind": "table",
            "label": "Indexed documents by source type",
            "columns": ["Source type", "Documents"],
            "rows": [[labels.get(kind, kind), by_type[kind]] for kind in sorted(by_type)],
        },
    ]


def _logging_items(collection: Collection) -> list[Item]:
    return [
        {"kind": "heading", "label": "Retrieval logging (AI Act Art. 12)"},
        fact(
            "Query log",
            "every query on the collection is recorded: who asked and when, the query with identifiers "
            "masked, the chunks returned with their scores; erasure requests reach it by subject key",
        ),
        fact(
            "Relevance threshold",
            f"fragments scoring below {collection.min_score} are not returned; with none left the answer "
            "is 'no relevant fragment'",
        ),
    ]


part = DeploymentPart(
    name="retrieval", validate=validate, datasets=datasets, personal_data=personal_data, facts=facts, order=30
)
