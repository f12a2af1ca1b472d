"""Learns the extractive answerer's sentence ranker and judge from SQuAD train.

    python -m eval.train.answerer [--squad PATH] [--questions 5000] [--rows FILE]

Only questions of the "answerer" paragraphs of eval.train.common.paragraphs are used (SQuAD
train, never a paragraph of SQuAD dev, never one the span reader was fine-tuned on, so its
scores look here as they will on unseen text). Those paragraphs are indexed as articles, about
as many as SQuAD dev's, and near misses are made from them, so abstention learns what people
actually ask: a quarter of the paragraphs are kept out of the index, so their questions are
asked where the article's other paragraphs are (the topic is there, the fact is not); an eighth
of the Wikipedia articles are left out whole (topics not indexed); and answerable questions have
their most specific word that the answer sentence holds swapped for another word of their article
(eval.sets.swap_term: everything still matches the answer sentence, the fact asked about is not
there). Half of the questions train the two ranking stages, the other half the confidence and
its threshold (the most accurate one that declines at most MAX_FALSE_ABSTENTION of the
answerable questions); half of the swapped questions join the confidence's rows, the other half
only check it.

Every decision the answerer makes at run time (which sentences are read, the judge's
probabilities, which sentences an answer quotes) comes from qa/answer/decisions.py, and every
feature from qa/answer/features.py by name. Writes qa/answer/weights/answer_model.json; run
eval.train.spans first when the span reader changes. What was tried: docs/experiments.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.metrics import best_threshold, contains_any
from eval.sets import EvalQuestion, swap_term
from eval.train.common import DEFAULT_SQUAD, Paragraph, paragraphs
from qa.answer.decisions import final_probabilities, pick, to_read
from qa.answer.extractive import reader_verdicts
from qa.answer.features import (
    CONFIDENCE_FEATURES,
    FINAL_FEATURES,
    SENTENCE_FEATURES,
    VERDICT_FEATURES,
    Features,
    Question,
    confidence_features,
    final_row,
    sentence_features,
    sentences_of,
    span_margin,
)
from qa.answer.model import MODEL_FILE, READ_TOP, Linear
from qa.answer.readers import SPAN_READER_DIR, load_span_reader
from qa.settings import Settings
from qa.text import sentence_spans
from qa.types import Article

HOLDOUT_SEED = 11
HOLDOUT = 0.25  # the share of paragraphs kept out of the index (their questions: near misses)
SECOND_RATIOS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
# The passages each question retrieves: as many as the answerer reads by default (QA_TOP_K).
TOP_K = int(Settings.model_fields["top_k"].default)
MAX_FALSE_ABSTENTION = 0.10  # the share of answerable questions the threshold may decline
# The shares of unanswerable questions the confidence's calibration is tried for (_calibrate).
CALIBRATION_SHARES = tuple(round(0.025 * k, 3) for k in range(17))  # 0 to 0.4


def questions_and_articles(
    path: Path,
) -> tuple[list[EvalQuestion], list[Article]]:
    """The answerer's questions and the articles indexed for them (see the module docstring):
    a question whose paragraph is not indexed is unanswerable."""
    rng = random.Random(HOLDOUT_SEED)
    mine = [p for p in paragraphs(path) if p.part == "answerer"]
    gone = _articles_left_out(mine)
    articles, questions = [], []
    for p in mine:
        indexed = rng.random() >= HOLDOUT and p.title not in gone
        if indexed:
            articles.append(Article(id=p.id, title=p.title, text=p.text.strip(), source="SQuAD"))
        for qa in p.qas:
            questions.append(
                EvalQuestion(
                    id=qa["id"],
                    question=qa["question"].strip(),
                    accept=list(dict.fromkeys(a["text"] for a in qa["answers"])),
                    answerable=indexed,
                    gold_articles=[p.id] if indexed else [],
                )
            )
    return questions, articles


def _articles_left_out(mine: list[Paragraph]) -> set[str]:
    """The titles of the Wikipedia articles left out of the index whole (an eighth of them)."""
    titles = sorted({p.title for p in mine})
    return set(random.Random(HOLDOUT_SEED).sample(titles, len(titles) // 8))


def asked_of_articles_left_out(path: Path) -> set[str]:
    """The ids of the questions whose whole article is left out of the index: the easy near
    misses (no paragraph on the topic is there), which fit() counts apart from the questions
    whose paragraph alone is left out, as `qa eval --holdout` asks."""
    mine = [p for p in paragraphs(path) if p.part == "answerer"]
    gone = _articles_left_out(mine)
    return {qa["id"] for p in mine if p.title in gone for qa in p.qas}


def collect(
    path: Path, n_questions: int, reader_dir: Path = SPAN_READER_DIR, top_k: int = TOP_K
) -> list[dict]:  # type: ignore[type-arg]
    """Per question: its sentence features, which sentences hold the answer, answerable, and
    the reader's score (its span margin, features.span_margin), its verdict (for a reader that
    gives one, extractive.reader_verdicts, as the answerer reads it) and best span's words of
    every sentence of the top_k passages retrieved."""
    from qa.service import Service

    pool, articles = questions_and_articles(path)
    questions = random.Random(HOLDOUT_SEED).sample(pool, min(n_questions, len(pool)))
    texts = {a.id: a.text for a in articles}
    title_of = {a.id: a.title for a in articles}
    by_title: dict[str, list[str]] = {}
    for a in articles:
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
        print(f"indexing {len(articles)} paragraphs…", file=sys.stderr, flush=True)
        for i in range(0, len(articles), 256):
            service.add_articles(articles[i : i + 256])
        idf = service.term_weight
        reader = load_span_reader(reader_dir)
        started = time.perf_counter()
        for n, (item, kind) in enumerate(asked, 1):
            passages = service.search(item.question, top_k=top_k)
            sentences = sentences_of(passages)
            q = Question.parse(item.question, idf)
            if not sentences or not q.weights:
                continue
            found = reader.read(item.question, [s.in_passage() for s in sentences])
            answerable = item.answerable and kind == "plain"
            verdicts = {"verdict": reader_verdicts(found)} if reader.config.verdict else {}
            rows.append(
                {
                    **verdicts,
                    "features": sentence_features(q, sentences),
                    "id": item.id,
                    # What the features came from, so that new ones can be tried on these rows.
                    "question": item.question,
                    "texts": [s.text for s in sentences],
                    "articles": [s.passage.chunk.article_id for s in sentences],
                    "ranks": [s.rank for s in sentences],  # which retrieved passage
                    "reader": [span_margin(f.margin if f else None) for f in found],
                    "spans": [f.text if f else None for f in found],
                    "gold": [answerable and contains_any(s.text, item.accept) for s in sentences],
                    "answerable": answerable,
                    "kind": kind if answerable or kind == "swapped" else "unanswerable",
                    "words": [len(s.text.split()) for s in sentences],
                    "passages": top_k,
                }
            )
            if n % 250 == 0:
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
    """The judge fitted on the rows, with what it makes of every question it is checked on."""

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
    read_top: int | None = READ_TOP,
    read_passages: int | None = None,
    verdict: bool = False,
) -> _Judged:
    """The second stage from `learn` (the sentences the reader reads, the first ranker's best
    read_top, or every sentence of read_passages passages, as at run time), then the
    second-sentence rule, the confidence and its threshold from `conf_rows`. With verdict,
    both stages weigh the reader's verdicts too (the rows' "verdict")."""
    from sklearn.linear_model import LogisticRegression

    final_names = FINAL_FEATURES + (VERDICT_FEATURES if verdict else ())
    confidence_names = CONFIDENCE_FEATURES + (VERDICT_FEATURES if verdict else ())
    fx, fy = [], []
    for r in learn:
        p = first[id(r)]
        for i in _to_read(r, p, read_top, read_passages):
            said = r["verdict"][i] if verdict else None
            row = final_row(p[i], r["reader"][i], r["features"][i], said)
            fx.append(_vector(row, final_names))
            fy.append(r["gold"][i])
    final = _linear(
        LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(
            np.array(fx), np.array(fy)
        ),
        final_names,
    )

    def read(r: dict) -> tuple[list[float], dict[int, float], dict[int, float] | None]:  # type: ignore[type-arg]
        """Final probabilities as the answerer computes them, the reader's logits and, with
        verdict, its verdicts."""
        p = first[id(r)]
        chosen = _to_read(r, p, read_top, read_passages)
        reader = {i: r["reader"][i] for i in chosen}
        said = {i: r["verdict"][i] for i in chosen} if verdict else None
        return final_probabilities(final, p, reader, r["features"], said), reader, said

    probs = {id(r): read(r) for r in judged}

    # Which second-sentence rule makes the most answers contain their gold span?
    def contained(r: dict, ratio: float) -> bool:  # type: ignore[type-arg]
        return any(r["gold"][i] for i in pick(probs[id(r)][0], r["words"], ratio))

    answerable = [r for r in conf_rows if r["answerable"]]
    scores = {ratio: np.mean([contained(r, ratio) for r in answerable]) for ratio in SECOND_RATIOS}
    second_ratio = max(scores, key=lambda k: scores[k])

    def features(r: dict) -> list[float]:  # type: ignore[type-arg]
        p, reader, said = probs[id(r)]
        best = int(np.argmax(p))
        row = confidence_features(r["features"], p, best, reader, said)
        return _vector(row, confidence_names)

    cy = [r["answerable"] and contained(r, second_ratio) for r in conf_rows]
    fitted = LogisticRegression(C=1.0, max_iter=2000).fit(
        np.array([features(r) for r in conf_rows]), np.array(cy)
    )
    plain = [r for r in conf_rows if r.get("kind") != "swapped"]
    calibration = _calibrate(
        fitted.decision_function(np.array([features(r) for r in plain])),
        fitted.decision_function(np.array([features(r) for r in conf_rows])),
        plain,
        conf_rows,
        cy,
        lambda r: r["answerable"] and contained(r, second_ratio),
    )
    scale, shift = calibration.scale, calibration.shift
    confidence = Linear(
        confidence_names,
        tuple(scale * float(c) for c in fitted.coef_[0]),
        scale * float(fitted.intercept_[0]) + shift,
    )
    conf = [confidence(dict(zip(confidence_names, features(r), strict=True))) for r in judged]
    by_row = {id(r): float(c) for r, c in zip(judged, conf, strict=True)}
    threshold, accuracy = _threshold([by_row[id(r)] for r in conf_rows], cy, conf_rows)
    saved = {
        "final": final.to_dict(),
        "confidence": confidence.to_dict(),
        "threshold": threshold,
        "second_ratio": second_ratio,
        "read_top": read_top,
        "read_passages": read_passages,
        "calibration_accuracy": round(accuracy, 4),
        "calibrated_for_unanswerable": calibration.share,
        "calibration_error_by_unanswerable": calibration.errors,
    }
    return _Judged(
        saved,
        threshold,
        {str(k): round(float(v), 4) for k, v in scores.items()},
        by_row,
        {id(r): contained(r, second_ratio) for r in judged},
    )


def _to_read(
    r: dict,  # type: ignore[type-arg]
    first: list[float],
    read_top: int | None,
    read_passages: int | None,
) -> list[int]:
    """decisions.to_read for a row: its sentences' passages are their retrieval ranks (rows
    collected before those were kept give their articles, one chunk each for SQuAD's
    paragraphs but for the few long enough for two)."""
    if read_passages is None:
        return to_read(first, read_top)
    return to_read(first, read_top, read_passages, r.get("ranks") or r["articles"])


def _threshold(
    confidence: list[float],
    right: list[bool],
    rows: list[dict],  # type: ignore[type-arg]
) -> tuple[float, float]:
    """The most accurate threshold (and its accuracy) that declines at most
    MAX_FALSE_ABSTENTION of the answerable questions: declining near misses must not cost more
    than that of the real answers."""
    answerable = [r["answerable"] for r in rows]
    _, _, curve = best_threshold(confidence, right, answerable)
    answerable_conf = np.array([c for c, a in zip(confidence, answerable, strict=True) if a])
    allowed = [(t, acc) for t, acc in curve if np.mean(answerable_conf < t) <= MAX_FALSE_ABSTENTION]
    return max(allowed, key=lambda p: (p[1], p[0]))


@dataclass(frozen=True)
class _Calibration:
    scale: float  # confidence = sigmoid(scale * logit + shift)
    shift: float
    share: float  # the share of unanswerable questions it is calibrated for
    errors: dict[str, float]  # the answers' ECE where that share of questions is unanswerable


def _calibrate(
    plain_logit: np.ndarray,
    rows_logit: np.ndarray,
    plain: list[dict],  # type: ignore[type-arg]
    rows: list[dict],  # type: ignore[type-arg]
    rows_right: list[bool],
    right: Callable[[dict], bool],  # type: ignore[type-arg]
) -> _Calibration:
    """Platt scaling of the confidence's logit on the questions as asked (near misses teach what
    to decline, but their share is no share people ask), so that among answers given with
    confidence p about p are right.

    How many of the questions asked have no answer in the articles is a property of who asks,
    and the answers' calibration depends on it: fitted on a mix with a third unanswerable, the
    confidence reads low where every question has its answer indexed. So the fit weighs the
    unanswerable questions to each share of CALIBRATION_SHARES, and keeps the one whose answers
    are worst calibrated least badly over the mixes people ask in: from none unanswerable to
    HOLDOUT of them (a quarter, as `qa eval --holdout 0.25` asks). The scaling is increasing,
    so which questions are answered does not depend on the share."""
    from sklearn.linear_model import LogisticRegression

    from eval.metrics import expected_calibration_error

    y = np.array([right(r) for r in plain])
    answerable = np.array([r["answerable"] for r in plain])
    ratio = answerable.sum() / max(1, (~answerable).sum())

    def weights(share: float) -> np.ndarray:
        return np.where(answerable, 1.0, share / (1 - share) * ratio)

    best = None
    for share in CALIBRATION_SHARES:
        platt = LogisticRegression(C=1e6, max_iter=2000).fit(
            plain_logit.reshape(-1, 1), y, sample_weight=weights(share)
        )
        scale, shift = float(platt.coef_[0][0]), float(platt.intercept_[0])

        def conf(z: np.ndarray, scale: float = scale, shift: float = shift) -> np.ndarray:
            return 1 / (1 + np.exp(-(scale * z + shift)))

        threshold, _ = _threshold([float(c) for c in conf(rows_logit)], rows_right, rows)
        given = conf(plain_logit) >= threshold
        errors = {
            str(world): round(
                float(
                    expected_calibration_error(
                        conf(plain_logit)[given].tolist(),
                        y[given].tolist(),
                        weights=weights(world)[given].tolist(),
                    )
                    or 0.0
                ),
                4,
            )
            for world in (0.0, HOLDOUT)
        }
        if best is None or max(errors.values()) < max(best.errors.values()):
            best = _Calibration(scale, shift, share, errors)
    assert best is not None
    return best


def fit(
    rows: list[dict],  # type: ignore[type-arg]
    questions: int,
    argv: list[str] | None = None,
    read_top: int | None = READ_TOP,
    read_passages: int | None = None,
    staged_near_misses: bool = False,
    verdict: bool = False,
    left_out: set[str] | None = None,
) -> dict:  # type: ignore[type-arg]
    """The ranker and the judge fitted on the rows, with their checks on the held-out half.
    Given `left_out` (asked_of_articles_left_out), the off-index questions are also checked
    apart: those whose article is indexed without their paragraph, and those whose whole
    article is not."""
    from sklearn.linear_model import LogisticRegression

    rng = random.Random(HOLDOUT_SEED)
    swapped = [r for r in rows if r.get("kind") == "swapped"]
    rows = [r for r in rows if r.get("kind") != "swapped"]
    rng.shuffle(rows)
    rng.shuffle(swapped)
    half = len(rows) // 2
    rank_rows, conf_rows = rows[:half], rows[half:]
    # Half the swapped near misses teach the confidence (and with staged_near_misses, the second
    # stage); the other half only check the model.
    taught, unseen_swapped = swapped[: len(swapped) // 2], swapped[len(swapped) // 2 :]
    conf_rows = conf_rows + taught

    learn = [r for r in rank_rows if r["answerable"]]
    x = np.array([_vector(f, SENTENCE_FEATURES) for r in learn for f in r["features"]])
    y = np.array([g for r in learn for g in r["gold"]])
    ranker = _linear(
        LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(x, y),
        SENTENCE_FEATURES,
    )
    first = {id(r): [ranker(f) for f in r["features"]] for r in rows + swapped}
    judged = conf_rows + unseen_swapped
    # The second stage learns to rank the answerable questions' sentences; staged_near_misses
    # adds the near misses of its half (off-index questions and the taught swapped ones, every
    # sentence they read a wrong one), as the answerer meets them.
    staged_rows = rank_rows + taught if staged_near_misses else learn
    judge = _judge(staged_rows, conf_rows, judged, first, read_top, read_passages, verdict)

    def answered(r: dict) -> bool:  # type: ignore[type-arg]
        return judge.confidence(r) >= judge.threshold

    def share(flags: list[bool]) -> float | None:
        return round(float(np.mean(flags)), 4) if flags else None

    plain = [r for r in conf_rows if r.get("kind") != "swapped"]
    answerable = [r for r in plain if r["answerable"]]
    checks = {
        "answerable_answered_and_contained": share(
            [answered(r) and judge.contained(r) for r in answerable]
        ),
        "answerable_declined": share([not answered(r) for r in answerable]),
        "off_index_declined": share(
            [not answered(r) for r in plain if r.get("kind") == "unanswerable"]
        ),
        "unseen_swapped_near_misses_declined": share([not answered(r) for r in unseen_swapped]),
        **(
            {}
            if left_out is None
            else {
                f"off_index_{part}_declined": share(
                    [
                        not answered(r)
                        for r in plain
                        if r.get("kind") == "unanswerable"
                        and (r.get("id") in left_out) is (part == "article")
                    ]
                )
                for part in ("paragraph", "article")
            }
        ),
        "accuracy": share(
            [
                answered(r) and judge.contained(r) if r["answerable"] else not answered(r)
                for r in plain
            ]
        ),
    }
    # How many sentences the reader should read: how often the answer sentence is among the
    # first ranker's best k, and how often the reader's best of those k holds the answer.
    for k in (2, 4, 6, 8):
        tops = [to_read(first[id(r)], k) for r in answerable]
        checks[f"gold_in_ranker_top{k}"] = share(
            [any(r["gold"][i] for i in top) for r, top in zip(answerable, tops, strict=True)]
        )
        checks[f"reader_best_of_top{k}_holds_gold"] = share(
            [
                r["gold"][max(top, key=lambda i: r["reader"][i])]
                for r, top in zip(answerable, tops, strict=True)
            ]
        )
    return {
        "ranker": ranker.to_dict(),
        "judge": judge.saved,
        "trained_on": {
            "data": "SQuAD v1.1 train, the 'answerer' paragraphs of eval.train.common.paragraphs",
            "questions": len(rows),
            "swapped": len(swapped),
            "holdout": HOLDOUT,
            "seed": HOLDOUT_SEED,
            # Rows files without the field hold five passages' sentences a question.
            "passages": sorted({r.get("passages", 5) for r in rows}),
            "containment_by_second_ratio": judge.scores,
            "staged_near_misses": staged_near_misses,
            "verdict": verdict,
            "checks": checks,
            "command": " ".join(["python -m eval.train.answerer", *(argv or [])]),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--questions", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument(
        "--reader", type=Path, default=SPAN_READER_DIR, help="The span reader's folder."
    )
    parser.add_argument(
        "--rows", type=Path, help="Keep the collected features in this file and reuse them."
    )
    parser.add_argument(
        "--passages",
        type=int,
        default=TOP_K,
        help="Passages retrieved for each question (the answerer's default QA_TOP_K).",
    )
    parser.add_argument(
        "--read-top",
        type=int,
        default=READ_TOP,
        metavar="K",
        help="Sentences the reader reads, the first ranker's best K (0: every one, which costs a "
        "passage reader nothing more than the chunks it reads whole).",
    )
    parser.add_argument(
        "--read-passages",
        type=int,
        metavar="C",
        help="For a passage reader: read the first ranker's best C passages whole and weigh "
        "every sentence of them, instead of --read-top sentences.",
    )
    parser.add_argument(
        "--staged-near-misses",
        action="store_true",
        help="Fit the second stage on the near misses too (each sentence they read a wrong "
        "one), not only on the answerable questions' sentences.",
    )
    parser.add_argument(
        "--without-verdict",
        action="store_true",
        help="For a reader with a verdict: fit the judge without it (to measure what it adds).",
    )
    args = parser.parse_args(argv)
    if args.read_passages is not None and args.read_passages < 1:
        parser.error(f"--read-passages takes a count of 1 or more, got {args.read_passages}")
    if args.read_top < 0:
        parser.error(f"--read-top takes a count (0: every sentence), got {args.read_top}")
    if args.rows and args.rows.exists():
        rows = json.loads(args.rows.read_text())
        # Rows files without the field hold five passages' sentences a question.
        held = sorted({r.get("passages", 5) for r in rows})
        if held != [args.passages]:
            parser.error(
                f"{args.rows} holds rows read from {held} passages, not {args.passages}:"
                " give --passages to match it or a new --rows file"
            )
    else:
        print(f"collecting features for {args.questions} SQuAD questions…", file=sys.stderr)
        rows = collect(args.squad, args.questions, args.reader, args.passages)
        if args.rows:
            args.rows.write_text(json.dumps(rows))
    model = fit(
        rows,
        args.questions,
        sys.argv[1:] if argv is None else argv,
        args.read_top or None,
        args.read_passages,
        args.staged_near_misses,
        all("verdict" in r for r in rows) and not args.without_verdict,
        asked_of_articles_left_out(args.squad) if args.squad.exists() else None,
    )
    args.out.write_text(json.dumps(model, indent=2) + "\n")
    print(json.dumps(model["trained_on"], indent=2))
    judge = model["judge"]
    print(f"threshold {judge['threshold']}, second sentence at {judge['second_ratio']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
