"""A known-item retrieval set built from the Python standard library's docstrings (nothing downloaded).

Each documented function, class or method with a one-line summary and a longer body becomes a
document: its title is the qualified name (`json.JSONDecoder.raw_decode`), its text the body without
the summary. The summary is the query whose one relevant document is that body. Summaries that occur
more than once, or that the body repeats word for word, are left out, so a query is never answered by
copying. The same Python minor version gives the same set (the sample is taken by hash of the names).

It is small, public (PSF licence, read from the interpreter's own files) and unlike SciFact in topic,
which is the point: a second set to check that fusion and titles help beyond one benchmark.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sysconfig
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SKIPPED = ("test", "tests", "idlelib", "lib2to3", "turtledemo", "ensurepip", "site-packages", "__pycache__")


@dataclass(frozen=True)
class IRSet:
    """Documents (external_id, title, text) and queries (text, relevant external_id)."""

    documents: list[dict[str, str]]
    queries: list[tuple[str, str]]


def _entries(path: Path, module: str) -> list[tuple[str, str, str]]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    found: list[tuple[str, str, str]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                if child.name.startswith("_"):
                    continue
                name = f"{prefix}.{child.name}"
                doc = ast.get_docstring(child)
                if doc:
                    blocks = [" ".join(b.split()) for b in re.split(r"\n\s*\n", doc) if b.strip()]
                    if len(blocks) >= 2:
                        found.append((name, blocks[0], "\n\n".join(blocks[1:])))
                if isinstance(child, ast.ClassDef):
                    walk(child, name)

    walk(tree, module)
    return found


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build(documents: int = 2000, queries: int = 300) -> IRSet:
    """The set: `documents` bodies (every query's answer among them) and `queries` summaries."""
    root = Path(sysconfig.get_paths()["stdlib"])
    entries: list[tuple[str, str, str]] = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if any(part in SKIPPED for part in parts):
            continue
        module = ".".join(part for part in parts if part != "__init__")
        entries += _entries(path, module)
    counts = Counter(summary.lower() for _, summary, _ in entries)
    kept = [
        (name, summary, body)
        for name, summary, body in entries
        if counts[summary.lower()] == 1
        and 4 <= len(summary.split()) <= 30
        and 150 <= len(body) <= 6000
        and summary.lower().rstrip(".") not in body.lower()
        and not body.startswith((">>>", ".."))
        and "@" not in body  # no e-mail addresses: the PII scan would key them, which is not measured here
    ]
    kept.sort(key=lambda entry: _hash(entry[0]))
    chosen = kept[:documents]
    asked = sorted(chosen, key=lambda entry: _hash("query:" + entry[0]))[:queries]
    return IRSet(
        documents=[{"external_id": name, "title": name, "text": body} for name, _, body in chosen],
        queries=[(summary, name) for name, summary, _ in asked],
    )
