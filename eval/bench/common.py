"""What the ask and load benchmarks share: a BBC News + seeds index, and questions to ask."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BBC = ROOT.parent / "shared" / "data" / "bbc-news"


def build_index(data_dir: Path, bbc: Path = BBC) -> None:
    """Indexes seeds/ and the BBC articles into data_dir (skipped when already there)."""
    from qa.service import Service
    from qa.settings import Settings

    with Service(Settings(data_dir=data_dir, _env_file=None)) as service:  # type: ignore[call-arg]
        if service.counts()["articles"] >= 2000:
            return
        print(f"indexing seeds/ and {bbc} into {data_dir}…", file=sys.stderr, flush=True)
        report = service.ingest([ROOT / "seeds", bbc])
        print(f"indexed {report.added} articles in {report.seconds:.0f} s", file=sys.stderr)


@contextmanager
def bench_index(data_dir: Path | None) -> Iterator[Path]:
    """The index to measure: data_dir (built there if missing) or a temporary one."""
    if not BBC.exists():
        raise SystemExit(f"no data at {BBC}")
    with tempfile.TemporaryDirectory() as tmp:
        path = data_dir or Path(tmp)
        build_index(path)
        yield path


def questions(bbc: Path = BBC, limit: int = 400) -> list[str]:
    """Distinct questions: the seed set's, then one per BBC headline."""
    seed = ROOT / "eval" / "sets" / "seed.jsonl"
    out = [json.loads(line)["question"] for line in seed.read_text().splitlines() if line.strip()]
    for path in sorted(bbc.rglob("*.txt"))[: limit - len(out)]:
        title = path.read_bytes().decode("utf-8", "replace").strip().splitlines()[0]
        out.append(f"What happened in the story '{title}'?")
    return out[:limit]
