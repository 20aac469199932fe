"""Token-window chunking with the embedding model's own tokenizer, keeping character spans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TextChunk:
    """A window of `token_count` tokens and the span of the text it covers."""

    ordinal: int
    start: int
    end: int
    token_count: int


def token_offsets(tokenizer: Any, text: str) -> list[tuple[int, int]]:
    """Character span of each token of text, without special tokens."""
    encoded = tokenizer(
        text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
    )
    return [(int(start), int(end)) for start, end in encoded["offset_mapping"] if end > start]


def chunk_offsets(offsets: list[tuple[int, int]], *, size: int, overlap: int) -> list[TextChunk]:
    """Windows of `size` tokens, each starting `size - overlap` tokens after the previous one."""
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError("chunk size must be positive and the overlap smaller than it")
    chunks: list[TextChunk] = []
    step = size - overlap
    first = 0
    while first < len(offsets):
        last = min(first + size, len(offsets))
        chunks.append(TextChunk(len(chunks), offsets[first][0], offsets[last - 1][1], last - first))
        if last == len(offsets):
            break
        first += step
    return chunks


def chunk_text(tokenizer: Any, text: str, *, size: int, overlap: int) -> list[TextChunk]:
    """Split text into overlapping token windows; an empty or token-less text gives no chunk."""
    return chunk_offsets(token_offsets(tokenizer, text), size=size, overlap=overlap)
