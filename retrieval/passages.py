"""What is embedded for a chunk: the collection's header and the document's title, then the chunk text.

A chunk cut from the middle of a document often does not say what the document is about; the title
does. Embedding "header, title, text" together (the heading first, on its own line) lets the vector
carry that context, and the same heading is indexed for full-text search with a higher weight. The
stored chunk text and its character span stay the document's own, so citations are unchanged.

The heading shares the model's window with the chunk: it is cut to at most a quarter of the window,
and the chunk's token window shrinks by the heading's tokens when both would not fit, so the model
never truncates the end of a chunk it is said to represent.
"""

from __future__ import annotations

from typing import Any

from retrieval.chunking import token_offsets

HEADING_SHARE = 4  # a heading takes at most 1/HEADING_SHARE of the model's window


def heading(*, header: str, title: str, embed_title: bool) -> str:
    """The collection's header and (when the collection embeds titles) the document's title."""
    parts = [header.strip(), title.strip() if embed_title else ""]
    return "\n".join(part for part in parts if part)


def fit_heading(tokenizer: Any, text: str, max_tokens: int) -> tuple[str, int]:
    """The heading cut to its share of the window at a token boundary, and its token count."""
    if not text:
        return "", 0
    offsets = token_offsets(tokenizer, text)
    limit = max(1, max_tokens // HEADING_SHARE)
    if len(offsets) > limit:
        return text[: offsets[limit - 1][1]], limit
    return text, len(offsets)


def window(*, chunk_size: int, chunk_overlap: int, max_tokens: int, heading_tokens: int) -> tuple[int, int]:
    """Chunk size and overlap for a document whose chunks are embedded after `heading_tokens` tokens."""
    size = max(1, min(chunk_size, max_tokens - heading_tokens))
    overlap = chunk_overlap if chunk_overlap < size else size // 2
    return size, overlap


def passage(heading_text: str, text: str) -> str:
    """The string the embedding model reads for a chunk."""
    return f"{heading_text}\n{text}" if heading_text else text
