"""Retrieval registers: collections, documents, chunks (partitioned per collection) and the query log."""

from retrieval.models.collections import Collection
from retrieval.models.documents import Chunk, Document
from retrieval.models.querylog import QueryLog

__all__ = ["Chunk", "Collection", "Document", "QueryLog"]
