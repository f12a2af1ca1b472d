"""Warm `ask` latency with BBC News indexed beside the seeds, in process.

    python -m eval.bench.ask [--data-dir DIR] [--questions 300]

Prints p50/p95/p99 of the whole ask (rewrite, hybrid retrieval, answer, citation check) and,
as the baseline measured in the same run, of the bare Chroma nearest-neighbour query for the
same questions: the ratios say what everything on top of the vector store costs. More rows
split out the answer step (answerer and citation check, after retrieval) and, within it, the
span reader (qa/answer/readers.py), which reads the ranker's best few sentences in one pass for
their span margins and the short answer.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eval.bench.common import bench_index, questions
from qa.answer.base import SpanFinder
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.features import InPassage
from qa.answer.readers import Found


class Timed:
    """Passes the span reader through, adding up the milliseconds it takes."""

    def __init__(self, spans: SpanFinder) -> None:
        self.spans, self.ms = spans, 0.0

    def find(self, question: str, sentences: Sequence[str]) -> Sequence[Found | None]:
        t = time.perf_counter()
        try:
            return self.spans.find(question, sentences)
        finally:
            self.ms += (time.perf_counter() - t) * 1000

    def read(self, question: str, items: Sequence[InPassage]) -> Sequence[Found | None]:
        t = time.perf_counter()
        try:
            return self.spans.read(question, items)
        finally:
            self.ms += (time.perf_counter() - t) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="Reuse (or build) the index here.")
    parser.add_argument("--questions", type=int, default=300)
    args = parser.parse_args(argv)
    with bench_index(args.data_dir) as data_dir:
        from qa.answer.readers import load_span_reader
        from qa.service import Service
        from qa.settings import Settings

        asked = questions(limit=args.questions)
        # The shipped span reader, wrapped to time it, through the answerer's constructor.
        timed = Timed(load_span_reader())
        answerer = ExtractiveAnswerer(spans=timed)
        settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
        with Service(settings, answerer=answerer) as service:
            for q in asked[:20]:  # warm up: first calls load and compile
                service.ask(q)
            vectors = [service.embedder.embed_documents([q])[0] for q in asked]
            chroma_ms, ask_ms, answered = [], [], 0
            for vector in vectors:
                t = time.perf_counter()
                service.store.query(vector, 20)
                chroma_ms.append((time.perf_counter() - t) * 1000)
            step_ms: list[float] = []
            reader_ms: list[float] = []
            for q in asked:
                spent = timed.ms
                t = time.perf_counter()
                answer = service.ask(q)
                ask_ms.append((time.perf_counter() - t) * 1000)
                step_ms.append(answer.timings_ms["answer"])
                answered += answer.answered
                reader_ms.append(timed.ms - spent)
            counts = service.counts()
    print(
        f"index: {counts['articles']} articles, {counts['chunks']} chunks; "
        f"{len(asked)} distinct questions, {answered} answered"
    )
    print(f"{'':<28}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    rows = [
        ("ask (warm, whole pipeline)", ask_ms),
        ("chroma query (baseline)", chroma_ms),
        ("  answer step", step_ms),
        ("    span reader", reader_ms),
    ]
    for name, values in rows:
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        print(f"{name:<28}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{statistics.fmean(values):>9.1f}")
    print()
    for pct in (50, 95):
        ratio = float(np.percentile(ask_ms, pct) / np.percentile(chroma_ms, pct))
        print(f"ask p{pct} / chroma query p{pct}: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
