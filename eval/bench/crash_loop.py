"""Crash safety under SIGKILL: `qa ingest` killed at random moments while it writes.

Each loop ingests one of two versions of a corpus (so kills land in additions and in
replacements alike) with small write batches, is killed at a random moment after its first
batch was stored, and the index is then checked: every article whole (its chunks are exactly
0..n-1 of its committed version and their texts are the article's text at their offsets), no
chunk of another version left once reopened. At the end one ingest runs to completion and the
index must equal a clean ingest of the same corpus.

    python -m eval.bench.crash_loop [--loops 30] [--articles 600] [--batch 32] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from qa.service import Service
from qa.settings import Settings


@dataclass
class Loop:
    version: str
    killed_after_s: float
    stored_batches: int  # batches the process reported stored before it was killed
    killed: bool  # False when it finished before the kill came
    articles: int  # committed articles found after the kill
    partial: int  # articles not whole
    orphans: int  # chunks of no committed version, cleared on reopening


def write_corpus(folder: Path, n: int, version: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        # Short stories: embedding them is quick, so a good share of the run is store writes.
        words = " ".join(
            f"Sentence {j} of story {i} ({version}) about harbour {i % 13} and cranes."
            for j in range(1 + i % 4)
        )
        (folder / f"story-{i:04}.txt").write_text(f"Story {i} {version}\n\n{words}\n")


def _env(data: Path, batch: int) -> dict[str, str]:
    return {
        **os.environ,
        "QA_DATA_DIR": str(data),
        "QA_INGEST_BATCH_ARTICLES": str(batch),
        "HF_HUB_OFFLINE": "1",
    }


def _ingest_cmd(corpus: Path) -> list[str]:
    return [sys.executable, "-m", "qa.cli", "-v", "ingest", str(corpus), "--json"]


def killed_ingest(corpus: Path, data: Path, batch: int, delay: float) -> tuple[int, float, bool]:
    """Starts `qa ingest` and kills it `delay` s after its first stored batch; returns the
    batches it reported stored, how long after the first it ended, and whether it was killed
    (rather than finishing first)."""
    proc = subprocess.Popen(
        _ingest_cmd(corpus),
        env=_env(data, batch),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    stored, first = 0, None
    timer: threading.Timer | None = None
    for line in proc.stderr:  # ends when the process dies
        if "stored" in line:
            stored += 1
            if timer is None:
                first = time.monotonic()
                timer = threading.Timer(delay, proc.kill)  # SIGKILL, wherever it then is
                timer.start()
    proc.wait()
    if timer is not None:
        timer.cancel()
    return stored, (time.monotonic() - first) if first else 0.0, proc.returncode < 0


def check(data: Path) -> tuple[int, int, int, dict[str, tuple[str, tuple[str, ...]]]]:
    """(articles, partial ones, orphan chunks) of the index, and id -> (version, chunk texts)."""
    settings = Settings(data_dir=data, _env_file=None)  # type: ignore[call-arg]
    client, lock = _raw(settings)
    try:
        orphans = _orphans(client)
    finally:
        client.close()
        lock.release()
    state: dict[str, tuple[str, tuple[str, ...]]] = {}
    partial = 0
    with Service(settings) as service:  # opening repairs what the crash left
        for article_id, info in service.store.manifest().items():
            _, text = service.store.article(article_id)
            got = service.store.chunks.get(
                where={"article_id": article_id}, include=["metadatas", "documents"]
            )
            rows = sorted(zip(got["metadatas"], got["documents"], strict=True), key=_n)
            whole = [m["n"] for m, _ in rows] == list(range(info.chunks)) and all(
                m["version"] == info.version and text[m["start"] : m["end"]] == doc
                for m, doc in rows
            )
            partial += not whole
            state[article_id] = (info.version, tuple(doc for _, doc in rows))
    return len(state), partial, orphans, state


def _n(row: tuple[dict, str]) -> int:  # type: ignore[type-arg]
    return int(row[0]["n"])


def _raw(settings: Settings):  # type: ignore[no-untyped-def]
    from qa.index.store import connect

    return connect(settings)


def _orphans(client) -> int:  # type: ignore[no-untyped-def]
    """Chunks whose version is not their article's committed one, before any repair."""
    try:
        articles = client.get_collection("qa_articles")
        chunks = client.get_collection("qa_chunks")
    except Exception:  # nothing was created before the kill
        return 0
    got = articles.get(include=["metadatas"])
    versions = {i: m.get("version") for i, m in zip(got["ids"], got["metadatas"], strict=True)}
    metas = chunks.get(include=["metadatas"])["metadatas"]
    return sum(versions.get(m["article_id"]) != m["version"] for m in metas)


def run(loops: int, articles: int, seed: int, batch: int = 32) -> dict[str, object]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="crash-loop-") as tmp:
        root = Path(tmp)
        corpora = {v: root / f"corpus-{v}" for v in ("a", "b")}
        for version, folder in corpora.items():
            write_corpus(folder, articles, version)
        # The clean reference, which also says how long the writes of one ingest last.
        clean = root / "clean"
        _, writing, _ = killed_ingest(corpora["b"], clean, batch, delay=1e9)
        _, _, _, reference = check(clean)
        data = root / "data"
        results: list[Loop] = []
        for i in range(loops):
            version = "a" if i % 2 == 0 else "b"
            delay = rng.uniform(0.0, writing)
            stored, after, killed = killed_ingest(corpora[version], data, batch, delay)
            count, partial, orphans, _ = check(data)
            results.append(Loop(version, after, stored, killed, count, partial, orphans))
            print(
                f"loop {i + 1:2}/{loops}: version {version}, "
                f"{'killed' if killed else 'finished'} {after:5.2f} s after the "
                f"first batch ({stored:3} batches stored): {count:4} articles, "
                f"{partial} partial, {orphans:3} orphan chunks",
                flush=True,
            )
        subprocess.run(
            _ingest_cmd(corpora["b"]), env=_env(data, batch), check=True, capture_output=True
        )
        _, partial_end, _, final = check(data)
    return {
        "loops": loops,
        "articles": articles,
        "partial_after_kills": sum(r.partial for r in results),
        "killed_mid_ingest": sum(r.killed for r in results),
        "kills_with_orphans": sum(r.orphans > 0 for r in results),
        "partial_at_end": partial_end,
        "equal_to_clean": final == reference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", type=int, default=30)
    parser.add_argument("--articles", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=32, help="articles per write batch")
    args = parser.parse_args()
    summary = run(args.loops, args.articles, args.seed, args.batch)
    print()
    for key, value in summary.items():
        print(f"{key:>22}: {value}")
    sys.exit(0 if summary["partial_after_kills"] == 0 and summary["equal_to_clean"] else 1)


if __name__ == "__main__":
    main()
