"""Learns the extractive answerer's sentence ranker, judges and band from SQuAD paragraphs.

    python -m eval.train.answerer [--squad PATH] [--questions 4000] [--rows FILE]

Only questions of the "answerer" paragraphs of eval.sets.squad_training_split are used: never
those of the evaluation sample's paragraphs (`qa eval SQUAD --sample 500 --seed 0`), never those
the readers were fine-tuned on (so their scores look here as they will on unseen text). A
quarter of the paragraphs are kept out of the index so their questions teach what a near miss
looks like (the article is there, the answer is not), and an eighth of the Wikipedia articles
are left out whole, for questions on topics not indexed. Answerable questions with one specific
word swapped for another word of their article (eval.sets.swap_term) are collected too, to
report how many such near misses the model declines. Half of the questions train the two
ranking stages, the other half the confidence and the threshold.

There are two judges: `quick` over the first reader's logits, `careful` over the mean of both
readers'. The answerer reads with the second reader only when the quick confidence falls in a
band, chosen by the one-standard-error rule: of the bands that read again at most
READ_AGAIN_AT_MOST of the questions, those whose accuracy is within one (paired) standard error
of the best band's are tied, and the one reading again least wins.

Every decision the answerer makes at run time (which sentences are read, the judges'
probabilities, which sentences an answer quotes) comes from qa/answer/decisions.py, and every
feature from qa/answer/features.py by name. Writes qa/answer/weights/answer_model.json; run
eval.train.reader and eval.train.spans first when a reader changes. What was tried:
docs/experiments.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.metrics import best_threshold, contains_any
from eval.sets import load_squad, squad_training_split, swap_term
from eval.train.common import DEFAULT_SQUAD
from qa.answer.decisions import final_probabilities, pick, to_read
from qa.answer.features import (
    CONFIDENCE_FEATURES,
    FINAL_FEATURES,
    SENTENCE_FEATURES,
    Features,
    Question,
    confidence_features,
    final_row,
    previous_sentences,
    sentence_features,
    sentences_of,
    span_margin,
)
from qa.answer.model import MODEL_FILE, Linear
from qa.answer.readers import load_readers, load_span_reader
from qa.text import sentence_spans

HOLDOUT_SEED = 11
SECOND_RATIOS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
# The careful judge's band around the quick threshold is chosen from these steps below and above,
# reading again at most this share of the questions: the median ask stays one reader's.
BAND_STEPS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
READ_AGAIN_AT_MOST = 0.35


def collect(path: Path, n_questions: int) -> list[dict]:  # type: ignore[type-arg]
    """Per question: its sentence features, which sentences hold the answer, answerable."""
    from qa.service import Service
    from qa.settings import Settings

    split = squad_training_split(path)
    mine = {q.id for q in load_squad(path).questions if split[q.gold_articles[0]] == "answerer"}
    qset = load_squad(path, holdout=0.25, seed=HOLDOUT_SEED)
    # Also keep whole Wikipedia articles out: their questions are about topics the index does
    # not cover at all, the other kind of question a reader must decline.
    titles = sorted({a.title for a in qset.articles})
    gone = set(random.Random(HOLDOUT_SEED).sample(titles, len(titles) // 8))
    gone_ids = {a.id for a in qset.articles if a.title in gone}
    qset.articles = [a for a in qset.articles if a.title not in gone]
    for held in qset.questions:
        if set(held.gold_articles) & gone_ids:
            held.answerable, held.gold_articles = False, []
    pool = [q for q in qset.questions if q.id in mine]
    questions = random.Random(HOLDOUT_SEED).sample(pool, min(n_questions, len(pool)))
    # Near misses of the closest kind: an answerable question with its most specific word that
    # the answer sentence holds swapped for a word found elsewhere in the article. Everything
    # else still matches the answer sentence; the fact asked about is not there.
    texts = {a.id: a.text for a in qset.articles}
    title_of = {a.id: a.title for a in qset.articles}
    by_title: dict[str, list[str]] = {}
    for a in qset.articles:
        by_title.setdefault(a.title, []).append(a.id)
    swap_rng = random.Random(HOLDOUT_SEED + 1)
    swapped = []
    for item in questions:
        if not item.answerable:
            continue
        home = item.gold_articles[0]
        answer = next((s for s in _sentences(texts[home]) if contains_any(s, item.accept)), None)
        elsewhere = [s for a in by_title[title_of[home]] if a != home for s in _sentences(texts[a])]
        question = answer and swap_term(item.question, answer, elsewhere, swap_rng)
        if question:
            swapped.append((item.model_copy(update={"question": question}), "swapped"))
    asked = [(item, "plain") for item in questions] + swapped
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Service(
            Settings(data_dir=Path(tmp), _env_file=None)  # type: ignore[call-arg]
        ) as service,
    ):
        for i in range(0, len(qset.articles), 256):
            service.add_articles(qset.articles[i : i + 256])
        idf = service.term_weight
        readers, spans = load_readers(), load_span_reader()
        started = time.perf_counter()
        for n, (item, kind) in enumerate(asked, 1):
            passages = service.search(item.question, top_k=5)
            sentences = sentences_of(passages)
            q = Question.parse(item.question, idf)
            if not sentences or not q.weights:
                continue
            feats = sentence_features(q, sentences)
            args = (item.question, [s.text for s in sentences], previous_sentences(sentences))
            each = [r.logits(*args) for r in readers]
            answerable = item.answerable and kind == "plain"
            gold = [answerable and contains_any(s.text, item.accept) for s in sentences]
            rows.append(
                {
                    "features": feats,
                    "id": item.id,
                    "reader": each[0],
                    "careful": [sum(z) / len(z) for z in zip(*each, strict=True)],
                    "span": [
                        span_margin(f.margin if f else None)
                        for f in spans.find(item.question, args[1])
                    ],
                    "gold": gold,
                    "answerable": answerable,
                    "kind": kind if answerable or kind == "swapped" else "unanswerable",
                    "words": [len(s.text.split()) for s in sentences],
                }
            )
            if n % 500 == 0:
                print(
                    f"  {n}/{len(asked)} questions ({time.perf_counter() - started:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return rows


def _vector(row: Features, names: tuple[str, ...]) -> list[float]:
    """A named row as the positional vector scikit-learn fits, in the order of names."""
    return [row[name] for name in names]


def _linear(fitted: object, names: tuple[str, ...]) -> Linear:
    """A fitted scikit-learn logistic regression as the answerer's named Linear."""
    coef, intercept = fitted.coef_[0], fitted.intercept_[0]  # type: ignore[attr-defined]
    return Linear(names, tuple(float(c) for c in coef), float(intercept))


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


@dataclass
class _Judged:
    """A judge fitted on one key of the rows (the first reader's logits, or all readers' mean),
    with what it makes of every question it is checked on."""

    saved: dict  # type: ignore[type-arg]
    threshold: float
    scores: dict[str, float]
    _confidence: dict[int, float]
    _contained: dict[int, bool]

    def confidence(self, r: dict) -> float:  # type: ignore[type-arg]
        return self._confidence[id(r)]

    def contained(self, r: dict) -> bool:  # type: ignore[type-arg]
        return self._contained[id(r)]


def _judge(
    learn: list[dict],  # type: ignore[type-arg]
    conf_rows: list[dict],  # type: ignore[type-arg]
    judged: list[dict],  # type: ignore[type-arg]
    first: dict[int, list[float]],
    key: str,
) -> _Judged:
    """The second stage from `learn` (the sentences the reader reads, as at run time), then the
    second-sentence rule, the confidence and its threshold from `conf_rows`."""
    from sklearn.linear_model import LogisticRegression

    fx, fy = [], []
    for r in learn:
        p = first[id(r)]
        for i in to_read(p):
            fx.append(_vector(final_row(p[i], r[key][i]), FINAL_FEATURES))
            fy.append(r["gold"][i])
    final = _linear(
        LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(
            np.array(fx), np.array(fy)
        ),
        FINAL_FEATURES,
    )

    def read(r: dict) -> tuple[list[float], dict[int, float]]:  # type: ignore[type-arg]
        """Final probabilities as the answerer computes them, and the reader's logits."""
        p = first[id(r)]
        reader = {i: r[key][i] for i in to_read(p)}
        return final_probabilities(final, p, reader), reader

    probs = {id(r): read(r) for r in judged}

    # Which second-sentence rule makes the most answers contain their gold span?
    def contained(r: dict, ratio: float) -> bool:  # type: ignore[type-arg]
        return any(r["gold"][i] for i in pick(probs[id(r)][0], r["words"], ratio))

    answerable = [r for r in conf_rows if r["answerable"]]
    scores = {ratio: np.mean([contained(r, ratio) for r in answerable]) for ratio in SECOND_RATIOS}
    second_ratio = max(scores, key=lambda k: scores[k])

    def features(r: dict) -> list[float]:  # type: ignore[type-arg]
        p, reader = probs[id(r)]
        best = int(np.argmax(p))
        row = confidence_features(r["features"], p, best, reader, r["span"][best])
        return _vector(row, CONFIDENCE_FEATURES)

    cy = [r["answerable"] and contained(r, second_ratio) for r in conf_rows]
    fitted = LogisticRegression(C=1.0, max_iter=2000).fit(
        np.array([features(r) for r in conf_rows]), np.array(cy)
    )
    confidence = _linear(fitted, CONFIDENCE_FEATURES)
    conf = fitted.predict_proba(np.array([features(r) for r in judged]))[:, 1]
    by_row = {id(r): float(c) for r, c in zip(judged, conf, strict=True)}
    threshold, accuracy, _ = best_threshold(
        [by_row[id(r)] for r in conf_rows], cy, [r["answerable"] for r in conf_rows]
    )
    saved = {
        "final": final.to_dict(),
        "confidence": confidence.to_dict(),
        "threshold": threshold,
        "second_ratio": second_ratio,
        "calibration_accuracy": round(accuracy, 4),
    }
    return _Judged(
        saved,
        threshold,
        {str(k): round(float(v), 4) for k, v in scores.items()},
        by_row,
        {id(r): contained(r, second_ratio) for r in judged},
    )


def fit(rows: list[dict]) -> dict:  # type: ignore[type-arg]
    from sklearn.linear_model import LogisticRegression

    rng = random.Random(HOLDOUT_SEED)
    swapped = [r for r in rows if r.get("kind") == "swapped"]
    rows = [r for r in rows if r.get("kind") != "swapped"]
    rng.shuffle(rows)
    half = len(rows) // 2
    rank_rows, conf_rows = rows[:half], rows[half:]
    unseen_swapped = swapped  # only checked on: the confidence never learns from them

    learn = [r for r in rank_rows if r["answerable"]]
    x = np.array([_vector(f, SENTENCE_FEATURES) for r in learn for f in r["features"]])
    y = np.array([g for r in learn for g in r["gold"]])
    ranker = _linear(
        LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(x, y),
        SENTENCE_FEATURES,
    )
    first = {id(r): [ranker(f) for f in r["features"]] for r in rows + swapped}
    answerable = [r for r in conf_rows if r["answerable"]]

    judged = conf_rows + unseen_swapped
    quick = _judge(learn, conf_rows, judged, first, "reader")
    careful = _judge(learn, conf_rows, judged, first, "careful") if "careful" in rows[0] else None

    def cascade(r: dict, band: tuple[float, float]) -> tuple[bool, bool, bool]:  # type: ignore[type-arg]
        """(answered, answered with the gold answer, read again) for one question."""
        judge = quick
        if careful is not None and band[0] <= quick.confidence(r) < band[1]:
            judge = careful
        answered = judge.confidence(r) >= judge.threshold
        return answered, answered and judge.contained(r), judge is careful

    # The band: the quick confidences read again, as wide as helps on these questions while at
    # most READ_AGAIN_AT_MOST of them are (so the median ask stays one reader's).
    def outcomes(band: tuple[float, float]) -> tuple[np.ndarray, float]:
        """Per question whether the cascade gets it right, and the share read again."""
        right, again = [], []
        for r in conf_rows:
            answered, good, read = cascade(r, band)
            right.append(good if r["answerable"] else not answered)
            again.append(read)
        return np.array(right, dtype=float), float(np.mean(again))

    bands = {(1.0, 1.0): outcomes((1.0, 1.0))}
    if careful is not None:
        t = quick.threshold
        for below in BAND_STEPS:
            for above in BAND_STEPS:
                band = (round(max(0.0, t - below), 2), round(min(1.0, t + above), 2))
                bands[band] = outcomes(band)
    allowed = {b: v for b, v in bands.items() if v[1] <= READ_AGAIN_AT_MOST}
    # The one-standard-error rule: of the bands whose accuracy is within one standard error of
    # the best band's (paired, question by question), the one that reads again least. The
    # accuracy curve is flat near its top, within noise; the cost of reading again is not.
    best = max(allowed, key=lambda b: (allowed[b][0].mean(), -allowed[b][1]))

    def tied(b: tuple[float, float]) -> bool:
        diff = allowed[best][0] - allowed[b][0]
        return bool(diff.mean() <= diff.std() / np.sqrt(len(diff)))

    band = min(filter(tied, allowed), key=lambda b: (allowed[b][1], -allowed[b][0].mean()))

    def accuracy(band: tuple[float, float]) -> float:
        return float(outcomes(band)[0].mean())

    def share(flags: list[bool]) -> float | None:
        return round(float(np.mean(flags)), 4) if flags else None

    checks = {
        "answerable_answered_and_contained": share([cascade(r, band)[1] for r in answerable]),
        "off_index_declined": share(
            [not cascade(r, band)[0] for r in conf_rows if r.get("kind") == "unanswerable"]
        ),
        "unseen_swapped_near_misses_declined": share(
            [not cascade(r, band)[0] for r in unseen_swapped]
        ),
        "read_again": round(bands[band][1], 4),
        "quick_alone_accuracy": round(accuracy((1.0, 1.0)), 4),
        "cascade_accuracy": round(accuracy(band), 4),
    }
    if careful is not None:
        always = (0.0, 1.01)
        checks["careful_always_accuracy"] = round(accuracy(always), 4)
    return {
        "ranker": ranker.to_dict(),
        "quick": quick.saved,
        "careful": careful.saved if careful else None,
        "band": list(band),
        "trained_on": {
            "data": "SQuAD v1.1 dev, the 'answerer' paragraphs of eval.sets.squad_training_split "
            "(none of the paragraphs of `--sample 500 --seed 0`, none the reader learned from)",
            "questions": len(rows),
            "holdout": 0.25,
            "seed": HOLDOUT_SEED,
            "containment_by_second_ratio": quick.scores,
            "careful_containment_by_second_ratio": careful.scores if careful else None,
            "checks": checks,
            "command": "python -m eval.train.answerer",
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--questions", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument(
        "--rows", type=Path, help="Keep the collected features in this file and reuse them."
    )
    args = parser.parse_args(argv)
    if args.rows and args.rows.exists():
        rows = json.loads(args.rows.read_text())
    else:
        print(f"collecting features for {args.questions} SQuAD questions…", file=sys.stderr)
        rows = collect(args.squad, args.questions)
        if args.rows:
            args.rows.write_text(json.dumps(rows))
    model = fit(rows)
    args.out.write_text(json.dumps(model, indent=2) + "\n")
    print(json.dumps(model["trained_on"], indent=2))
    quick, careful = model["quick"], model["careful"]
    print(f"quick: threshold {quick['threshold']}, second sentence at {quick['second_ratio']}")
    if careful:
        print(f"careful: threshold {careful['threshold']}, second at {careful['second_ratio']}")
        print(f"read again with every reader when the quick confidence is in {model['band']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
