"""Warm `ask` latency with BBC News indexed beside the seeds, in process.

    python -m eval.bench.ask [--data-dir DIR] [--questions 300]

Prints p50/p95/p99 of the whole ask (rewrite, hybrid retrieval, answer, citation check) and,
as the baseline measured in the same run, of the bare Chroma nearest-neighbour query for the
same questions: the ratio says what everything on top of the vector store costs. Two more rows
split the answer step (answerer and citation check, after retrieval) into the asks the first
reader settled and those the answerer read again with the second (qa/answer/extractive.py): what the
cascade saves, and how often it does not. The last says what the span reader costs an ask: it
reads the sentence the answerer would answer with (whether it holds the words that answer weighs
in the confidence), and those words are the short answer.
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
from qa.answer.base import Reader, SpanFinder
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.readers import Found


class Counting:
    """Passes a reader through, counting the questions it reads."""

    def __init__(self, reader: Reader) -> None:
        self.reader, self.calls = reader, 0

    def logits(
        self,
        question: str,
        sentences: Sequence[str],
        previous: Sequence[str | None] | None = None,
    ) -> list[float]:
        self.calls += 1
        return self.reader.logits(question, sentences, previous)


class Timed:
    """Passes a span finder through, adding up the milliseconds it takes."""

    def __init__(self, spans: SpanFinder) -> None:
        self.spans, self.ms = spans, 0.0

    def find(self, question: str, sentences: Sequence[str]) -> Sequence[Found | None]:
        t = time.perf_counter()
        try:
            return self.spans.find(question, sentences)
        finally:
            self.ms += (time.perf_counter() - t) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="Reuse (or build) the index here.")
    parser.add_argument("--questions", type=int, default=300)
    args = parser.parse_args(argv)
    with bench_index(args.data_dir) as data_dir:
        from qa.answer.readers import load_readers, load_span_reader
        from qa.service import Service
        from qa.settings import Settings

        asked = questions(limit=args.questions)
        # The shipped parts, wrapped to count and time them, through the answerer's constructor.
        first, *others = load_readers()
        second = Counting(others[0]) if others else None
        spans = Timed(load_span_reader())
        readers: tuple[Reader, ...] = (first, second, *others[1:]) if second else (first,)
        answerer = ExtractiveAnswerer(readers=readers, spans=spans)
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
            steps: dict[bool, list[float]] = {False: [], True: []}
            span_ms: list[float] = []
            for q in asked:
                before = second.calls if second else 0
                spent = spans.ms
                t = time.perf_counter()
                answer = service.ask(q)
                ask_ms.append((time.perf_counter() - t) * 1000)
                read_again = bool(second and second.calls > before)
                steps[read_again].append(answer.timings_ms["answer"])
                answered += answer.answered
                span_ms.append(spans.ms - spent)
            counts = service.counts()
    print(
        f"index: {counts['articles']} articles, {counts['chunks']} chunks; "
        f"{len(asked)} distinct questions, {answered} answered"
    )
    print(f"{'':<28}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    rows = [("ask (warm, whole pipeline)", ask_ms), ("chroma query (baseline)", chroma_ms)]
    rows += [("  answer step, first reader", steps[False])] if steps[False] else []
    rows += [("  answer step, read again", steps[True])] if steps[True] else []
    rows += [("  span reader", span_ms)] if span_ms else []
    for name, values in rows:
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        print(f"{name:<28}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{statistics.fmean(values):>9.1f}")
    ratio = float(np.percentile(ask_ms, 50) / np.percentile(chroma_ms, 50))
    print(f"\nask p50 / chroma query p50: {ratio:.1f}x")
    print(f"read again by the second reader: {len(steps[True])} of {len(asked)} asks")
    if steps[False] and steps[True]:
        extra = float(np.percentile(steps[True], 50) / np.percentile(steps[False], 50))
        print(f"answer step p50, read again / first reader only: {extra:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
