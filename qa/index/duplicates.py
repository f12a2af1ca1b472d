"""Copies of one story: articles whose texts share most of their word 3-grams.

A wire story reprinted by several outlets, lightly edited by each, is one story. Each article's
text becomes a set of word 3-grams (lower case); MinHash signatures and locality-sensitive
hashing (datasketch) find the pairs likely to share at least THRESHOLD of them (Jaccard
similarity), the exact sets confirm each pair, and the confirmed pairs join into groups
(connected components). Groups are derived from what the index holds, like the BM25 index, so
adding, changing or removing an article regroups it, and nothing is stored.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

THRESHOLD = 0.8  # Jaccard similarity of word 3-gram sets from which two articles are copies
NUM_PERM = 128
SHINGLE = 3
MIN_SHINGLES = 20  # shorter texts (a headline, a caption) are never grouped: too little to go on
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Fingerprint:
    """An article version's word 3-gram hashes and its MinHash signature."""

    shingles: frozenset[int]
    signature: object | None  # datasketch LeanMinHash; None when the text is too short


def fingerprint(text: str) -> Fingerprint:
    """The text's word 3-grams, hashed to 32 bits (CRC-32: the same in every process), and
    their MinHash signature."""
    words = _WORD.findall(text.lower())
    shingles = frozenset(
        zlib.crc32(" ".join(words[i : i + SHINGLE]).encode())
        for i in range(len(words) - SHINGLE + 1)
    )
    if len(shingles) < MIN_SHINGLES:
        return Fingerprint(shingles, None)
    from datasketch import LeanMinHash, MinHash

    signature = MinHash(
        num_perm=NUM_PERM, hashfunc=_as_is, permutations=_permutations(), scheme="affine32"
    )
    signature.update_batch(list(shingles))
    return Fingerprint(shingles, LeanMinHash(signature))


def _as_is(value: int) -> int:
    """The shingles are hashes already."""
    return value


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def groups(
    fingerprints: Mapping[str, Fingerprint], threshold: float = THRESHOLD
) -> dict[str, tuple[str, ...]]:
    """article id -> the ids of its whole group, sorted, for every article that has copies."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    signed = {a: f for a, f in fingerprints.items() if f.signature is not None}
    for article_id, f in signed.items():
        lsh.insert(article_id, f.signature)
    parent = {a: a for a in signed}

    def root(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for article_id, f in signed.items():
        for other in lsh.query(f.signature):
            if other <= article_id:
                continue  # each pair once, and never an article with itself
            if jaccard(f.shingles, signed[other].shingles) >= threshold:
                parent[root(other)] = root(article_id)
    members: dict[str, list[str]] = {}
    for article_id in signed:
        members.setdefault(root(article_id), []).append(article_id)
    return {a: tuple(sorted(group)) for group in members.values() if len(group) > 1 for a in group}


@cache
def _permutations() -> object:
    """The MinHash permutations, made once (making them dominates signing one article)."""
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM).permutations
