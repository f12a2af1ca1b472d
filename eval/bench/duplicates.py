"""Copies of one story in BBC News: how many groups, how fast, and pairs to check by hand.

    python -m eval.bench.duplicates [--data ../shared/data/bbc-news] [--pairs 20] [--out FILE]

Reads every article as `qa ingest` does, fingerprints and groups them as the retriever does
(qa/index/duplicates.py), and prints the groups found, the time it took beside a bare parse of
the same files, and two samples to check by hand: pairs that were grouped, and the pairs just
under the threshold (the most similar of those that were not). --out writes the samples with
each pair's opening words side by side as Markdown.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections import Counter
from pathlib import Path

from eval.bench.common import BBC


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=BBC)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--out", type=Path, help="Write the hand-check samples here (Markdown).")
    args = parser.parse_args(argv)
    from qa.index.duplicates import THRESHOLD, fingerprint, groups, jaccard
    from qa.ingest.articles import iter_files, read_path
    from qa.types import Article

    started = time.perf_counter()
    articles = {
        a.id: a
        for file, root in iter_files([args.data])
        for a in read_path(file, root, 5_000_000)
        if isinstance(a, Article)
    }
    parsed = time.perf_counter()
    prints = {a: fingerprint(article.text) for a, article in articles.items()}
    found = groups(prints)
    grouped = time.perf_counter()

    distinct = set(found.values())
    sizes = Counter(len(g) for g in distinct)
    print(f"{len(articles)} articles: {len(distinct)} groups of copies, {len(found)} in them")
    print("group sizes: " + ", ".join(f"{n} of {size}" for size, n in sorted(sizes.items())))
    print(f"copies beyond the first of each story: {len(found) - len(distinct)}")
    print(
        f"parse {parsed - started:.2f} s; fingerprint and group {grouped - parsed:.2f} s "
        f"({(grouped - parsed) / (parsed - started):.2f}x the parse)"
    )

    rng = random.Random(0)
    pairs = sorted({(a, b) for g in distinct for a, b in itertools.combinations(g, 2)})
    same = [(a, b, jaccard(prints[a].shingles, prints[b].shingles)) for a, b in pairs]
    same = rng.sample(same, min(args.pairs, len(same)))
    near = groups(prints, threshold=0.5)
    under = sorted(
        (
            (a, b, j)
            for g in set(near.values())
            for a, b in itertools.combinations(g, 2)
            if (j := jaccard(prints[a].shingles, prints[b].shingles)) < THRESHOLD
        ),
        key=lambda t: -t[2],
    )[: args.pairs]
    for name, rows in (("grouped", same), ("just under the threshold", under)):
        print(f"\n{name} ({len(rows)}):")
        for a, b, j in sorted(rows, key=lambda t: -t[2]):
            print(f"  {j:.3f}  {a} | {b}  ({articles[a].title[:40]} | {articles[b].title[:40]})")
    if args.out:
        lines = ["| Jaccard | a | b | a begins | b begins |", "| --- | --- | --- | --- | --- |"]
        for a, b, j in sorted(same + under, key=lambda t: -t[2]):
            lines.append(
                f"| {j:.3f} | {a} | {b} | {_opening(articles[a])} | {_opening(articles[b])} |"
            )
        args.out.write_text("\n".join(lines) + "\n")
    return 0


def _opening(article: object) -> str:
    text = " ".join(f"{article.title}. {article.text}".split())  # type: ignore[attr-defined]
    return text[:160].replace("|", "/")


if __name__ == "__main__":
    sys.exit(main())
