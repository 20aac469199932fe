"""The peer for the indexing benchmark: LlamaIndex into PGVectorStore, run with .venv-peer's python.

tests/benchmarks/test_indexing_peer_bench.py writes the documents (external_id, title, text) to a JSON
file and runs this script on them with the platform's chunking, model and HNSW settings, so the two
sides do the same work: split each document into windows of `--chunk-size` tokens of the model's own
tokenizer with `--chunk-overlap` shared, embed each chunk with its title (LlamaIndex's default metadata
mode; the platform embeds the title too), store the rows and their HNSW index in PostgreSQL.

Timed: `VectorStoreIndex.from_documents` from built Documents to rows committed, the way LlamaIndex's
documentation ingests into a vector store. Not timed, as on the platform's side: loading the model and
a warm-up batch, creating the table and its (empty) HNSW index. The database `--pg-database` must exist
and is the script's alone; the password, if any, comes from PEER_PG_PASSWORD (never the command line).

Prints one JSON object: {"chunks", "seconds", "chunks_per_s", "documents", "torch_threads", ...}.
Nothing is downloaded: the model is a local directory, the tokenizer is the model's, and llama_index
reads tiktoken and nltk data from the copies it ships.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib import metadata
from pathlib import Path

# Nothing may be downloaded at run time: set before transformers / huggingface_hub import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TABLE = "peer_chunks"
COUNT_ROWS = "SELECT count(*) FROM public.data_peer_chunks"  # PGVectorStore's rows go in data_<table>


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=Path, required=True, help="[{external_id, title, text}]")
    parser.add_argument("--model", required=True, help="local directory of the sentence-transformers model")
    parser.add_argument("--chunk-size", type=int, required=True, help="tokens per chunk")
    parser.add_argument("--chunk-overlap", type=int, required=True, help="tokens shared by neighbours")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per embedding batch")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--hnsw-m", type=int, default=16)
    parser.add_argument("--hnsw-ef-construction", type=int, default=64)
    parser.add_argument("--no-hnsw", action="store_true", help="store rows without an HNSW index")
    parser.add_argument("--pg-host", default="", help="host name or Unix socket directory")
    parser.add_argument("--pg-port", default="")
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--pg-database", required=True, help="an existing database this script may fill")
    return parser.parse_args(argv)


def _urls(args: argparse.Namespace) -> tuple[str, str]:
    """SQLAlchemy URLs (psycopg2 and asyncpg) for a TCP host or a Unix socket directory."""
    from sqlalchemy.engine import URL

    password = os.environ.get("PEER_PG_PASSWORD") or None
    socket = args.pg_host.startswith("/")
    port = int(args.pg_port) if args.pg_port else None
    urls = []
    for driver in ("postgresql+psycopg2", "postgresql+asyncpg"):
        # A socket directory goes in the query (libpq's host=), with the port that names its socket file.
        query = ({"host": args.pg_host} | ({"port": str(port)} if port else {})) if socket else {}
        url = URL.create(
            driver,
            username=args.pg_user,
            password=password,
            host=None if socket else (args.pg_host or None),
            port=None if socket else port,
            database=args.pg_database,
            query=query,
        )
        urls.append(url.render_as_string(hide_password=False))
    return urls[0], urls[1]


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    import torch

    torch.set_num_threads(args.threads)

    from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.postgres import PGVectorStore
    from sqlalchemy import create_engine, text
    from transformers import AutoTokenizer

    Settings.llm = None  # indexing needs no LLM; without this LlamaIndex would look for OpenAI's

    raw = json.loads(args.documents.read_text(encoding="utf-8"))
    documents = [
        Document(id_=item["external_id"], text=item["text"], metadata={"title": item["title"]})
        for item in raw
    ]

    # The chunk size counts the model's own (WordPiece) tokens, as the platform's does.
    tokenizer = AutoTokenizer.from_pretrained(args.model, local_files_only=True)

    def tokenize(value: str) -> list[int]:
        return list(tokenizer.encode(value, add_special_tokens=False, verbose=False))

    splitter = SentenceSplitter(
        chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap, tokenizer=tokenize
    )
    embed_model = HuggingFaceEmbedding(model_name=args.model, device="cpu", embed_batch_size=args.batch_size)
    embed_model.get_text_embedding_batch(["warm up the model"] * 8)
    dimension = len(embed_model.get_text_embedding("dimension probe"))

    sync_url, async_url = _urls(args)
    hnsw = (
        None
        if args.no_hnsw
        else {
            "hnsw_m": args.hnsw_m,
            "hnsw_ef_construction": args.hnsw_ef_construction,
            "hnsw_ef_search": 64,
            "hnsw_dist_method": "vector_cosine_ops",
        }
    )
    store = PGVectorStore.from_params(
        connection_string=sync_url,
        async_connection_string=async_url,
        table_name=TABLE,
        embed_dim=dimension,
        hnsw_kwargs=hnsw,
    )
    store.add([])  # creates the extension, table and empty HNSW index before the clock starts

    started = time.perf_counter()
    VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
        transformations=[splitter],
        show_progress=False,
    )
    seconds = time.perf_counter() - started

    engine = create_engine(sync_url)
    with engine.connect() as connection:
        chunks = int(connection.execute(text(COUNT_ROWS)).scalar_one())
    engine.dispose()

    versions = {
        name: metadata.version(name)
        for name in (
            "llama-index-core",
            "llama-index-vector-stores-postgres",
            "llama-index-embeddings-huggingface",
            "sentence-transformers",
            "transformers",
            "torch",
        )
    }
    result = {
        "documents": len(documents),
        "chunks": chunks,
        "seconds": seconds,
        "chunks_per_s": chunks / seconds if seconds > 0 else 0.0,
        "torch_threads": torch.get_num_threads(),
        "chunk_size": args.chunk_size,
        "chunk_overlap": args.chunk_overlap,
        "embed_batch_size": args.batch_size,
        "hnsw": hnsw is not None,
        "versions": versions,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
