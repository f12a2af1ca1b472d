"""Pure scoring functions: each returns numbers a person can check by hand."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def normalize(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.translate(_QUOTES).lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str | None, golds: Sequence[str]) -> float:
    if prediction is None or not golds:
        return 0.0
    return float(any(normalize(prediction) == normalize(g) for g in golds))


def f1(prediction: str | None, golds: Sequence[str]) -> float:
    """The best token-overlap F1 of the prediction against any gold answer."""
    if prediction is None or not golds:
        return 0.0
    pred = normalize(prediction).split()
    best = 0.0
    for gold in golds:
        ref = normalize(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            p, r = common / len(pred), common / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def contains_any(answer: str, accept: Sequence[str]) -> bool:
    """Whether the answer contains one of the accepted strings (normalised, whole words; a
    possessive counts as the word: "Iraq's forces" contains "Iraq")."""
    padded = f" {normalize(_POSSESSIVE.sub('', answer))} "
    return any(f" {want} " in padded for a in accept if (want := normalize(_POSSESSIVE.sub("", a))))


def word_count(text: str) -> int:
    return len(re.sub(r"\[\d+\]", " ", text).split())


def answer_correct(
    answered: bool, answer: str, accept: Sequence[str], answerable: bool, max_words: int = 80
) -> bool:
    """Answerable: answered, short enough, containing an accepted string. Else: abstained."""
    if not answerable:
        return not answered
    return answered and word_count(answer) <= max_words and contains_any(answer, accept)


def evidence_cited(quotes: Iterable[str], evidence: str) -> bool:
    """Whether a cited quote contains the evidence phrase (quotes and spacing normalised)."""
    want = " ".join(evidence.translate(_QUOTES).split()).lower()
    return any(want in " ".join(q.translate(_QUOTES).split()).lower() for q in quotes)


_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_WORDS = re.compile(r"[^\W_]+")
# Words any answer may use without a source: function words and verbs of attribution.
_FREE_WORDS = """
    a an the and or but of in on at to for from by with as is was were are be been being has
    had have it its he she they them their his her him this that these those who whom whose
    which what when where why how there here then so also did do does into between during
    through said says say stated told added according reported
"""
_FREE = frozenset(_FREE_WORDS.split())


def invented_words(answer: str, quotes: Sequence[str], question: str = "") -> list[str]:
    """Words of an answer that neither its quotes nor its question hold: every number and every
    capitalised word must be there as written; other words may differ in their ending (their
    first five letters must match a word there). A check of the answers that leave, written
    apart from the one qa applies, so that it can catch what that one lets through."""
    text = _MARKER.sub(" ", answer)
    source = " ".join([*quotes, question]).translate(_QUOTES)
    exact = {w.lower() for w in _WORDS.findall(source)}
    roots = {_root(w) for w in exact}
    invented = []
    for word in _WORDS.findall(text.translate(_QUOTES)):
        low = word.lower()
        if low in exact or low in _FREE:
            continue
        if any(ch.isdigit() for ch in word) or word[0].isupper() or _root(low) not in roots:
            invented.append(word)
    return invented


def _root(word: str) -> str:
    """A word without a common English ending, cut to six letters ("created" -> "creat")."""
    for ending in ("ing", "ed", "es", "s", "ly", "er", "e"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            word = word[: -len(ending)]
            break
    return word[:6]


def first_rank(retrieved: Sequence[str], gold: Iterable[str]) -> int | None:
    """1-based rank of the first gold item in a ranked list, None when absent."""
    wanted = set(gold)
    for i, item in enumerate(retrieved, start=1):
        if item in wanted:
            return i
    return None


def hit_at(ranks: Sequence[int | None], k: int) -> dict[str, Any]:
    scores = [float(r is not None and r <= k) for r in ranks]
    return {"score": _mean(scores), "individual_scores": scores}


def mrr(ranks: Sequence[int | None]) -> dict[str, Any]:
    scores = [1.0 / r if r else 0.0 for r in ranks]
    return {"score": _mean(scores), "individual_scores": scores}


def all_recalled(retrieved: Sequence[str], gold: Sequence[str], k: int = 10) -> bool:
    """HotpotQA: every supporting paragraph is in the top k."""
    return bool(gold) and set(gold) <= set(retrieved[:k])


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else 0.0


def best_threshold(
    confidences: Sequence[float], would_be_right: Sequence[bool], answerable: Sequence[bool]
) -> tuple[float, float, list[tuple[float, float]]]:
    """The abstention threshold with the highest accuracy, and the whole curve.

    A question is right at threshold t when it is answerable, confidence >= t and the answer
    given without abstaining was right; or unanswerable and confidence < t.
    """
    conf = np.asarray(confidences, dtype=float)
    right = np.asarray(would_be_right, dtype=bool)
    ans = np.asarray(answerable, dtype=bool)
    curve = []
    for t in np.round(np.linspace(0, 1, 101), 2):
        answered = conf >= t
        ok = np.where(ans, answered & right, ~answered)
        curve.append((float(t), float(ok.mean()) if len(ok) else 0.0))
    best = max(curve, key=lambda p: (p[1], -abs(p[0] - 0.5)))
    return best[0], best[1], curve


def reliability(
    confidences: Sequence[float],
    right: Sequence[bool],
    bins: int = 10,
    weights: Sequence[float] | None = None,
) -> list[tuple[float, float, float]]:
    """(mean confidence, share right, count) of each non-empty confidence bin of width 1/bins
    (a confidence of 1 falls in the last). With weights, each answer counts its weight: a
    sample reweighted to another mix of questions."""
    weights = [1.0] * len(confidences) if weights is None else weights
    grouped: dict[int, list[tuple[float, bool, float]]] = {}
    for c, ok, w in zip(confidences, right, weights, strict=True):
        if w > 0:
            grouped.setdefault(min(int(c * bins), bins - 1), []).append((c, ok, w))
    points = []
    for b in sorted(grouped):
        total = sum(w for _, _, w in grouped[b])
        points.append(
            (
                sum(c * w for c, _, w in grouped[b]) / total,
                sum(ok * w for _, ok, w in grouped[b]) / total,
                total,
            )
        )
    return points


def expected_calibration_error(
    confidences: Sequence[float],
    right: Sequence[bool],
    bins: int = 10,
    weights: Sequence[float] | None = None,
) -> float | None:
    """How far the confidence is from the share right, on average: the count-weighted mean of
    |share right - mean confidence| over the bins of `reliability`. None without answers."""
    points = reliability(confidences, right, bins, weights)
    total = sum(n for _, _, n in points)
    if not total:
        return None
    return sum(n * abs(acc - conf) for conf, acc, n in points) / total


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0
