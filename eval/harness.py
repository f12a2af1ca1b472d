"""Runs a question set against a target (in-process or a deployment) and scores every answer."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import httpx

from eval import metrics
from eval.sets import EvalQuestion, QuestionSet
from qa.types import Turn


class Target(Protocol):
    """What the harness asks: a Service in this process, or a running deployment."""

    def ask(self, question: str, history: list[Turn], mode: str) -> dict[str, Any]: ...

    def retrieve(self, question: str, k: int, mode: str) -> list[str] | None: ...

    def article_text(self, article_id: str) -> str: ...


class LocalTarget:
    """A Service in this process."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def ask(self, question: str, history: list[Turn], mode: str) -> dict[str, Any]:
        return self.service.ask(question, history, mode=mode).to_dict()  # type: ignore[no-any-return]

    def retrieve(self, question: str, k: int, mode: str) -> list[str] | None:
        hits = self.service.search(question, top_k=k * 3, mode=mode)
        return list(dict.fromkeys(h.chunk.article_id for h in hits))[:k]

    def article_text(self, article_id: str) -> str:
        return self.service.article(article_id)[1]  # type: ignore[no-any-return]


class RemoteTarget:
    """A deployment reached over HTTP (`qa eval --url`)."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self._texts: dict[str, str] = {}

    def ask(self, question: str, history: list[Turn], mode: str) -> dict[str, Any]:
        body = {"question": question, "history": [t.__dict__ for t in history]}
        response = self._http.post("/v1/ask", json=body)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def retrieve(self, question: str, k: int, mode: str) -> list[str] | None:
        return None  # a deployment exposes answers, not rankings

    def article_text(self, article_id: str) -> str:
        if article_id not in self._texts:
            response = self._http.get(f"/v1/articles/{article_id}")
            response.raise_for_status()
            self._texts[article_id] = response.json()["text"]
        return self._texts[article_id]


@dataclass
class Result:
    """One question's outcome, with everything needed to see why it failed."""

    id: str
    kind: str
    question: str
    standalone_question: str
    expected: list[str]
    answerable: bool
    answer: str
    short_answer: str | None
    answered: bool
    confidence: float
    correct: bool
    would_be_right: bool  # right had the answerer not abstained (for calibration)
    evidence_cited: bool | None
    quote_mismatches: int
    retrieval_measured: bool
    rank: int | None
    support_recalled: bool | None
    em: float | None
    f1: float | None
    latency_ms: float
    answerer: str = "extractive"  # which answerer wrote the answer
    invented: list[str] = field(default_factory=list)  # answer words no quote or question holds
    asked: bool = True  # False: only retrieval was measured (run_set's answer=False)


@dataclass
class Run:
    name: str
    results: list[Result] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        return summarize(self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "results": [asdict(r) for r in self.results],
        }


def run_set(
    qset: QuestionSet,
    target: Target,
    mode: str = "hybrid",
    name: str | None = None,
    tick: Callable[[int], Any] | None = None,
    answer: bool = True,
) -> Run:
    """Asks every question (re-asking a follow-up's earlier questions first) and scores it; with
    answer=False, only what retrieval finds for it is measured, and its answer is not scored (a
    follow-up is still asked, as its standalone question needs the earlier answers)."""
    run = Run(name or f"{qset.name} [{mode}]")
    for q in qset.questions:
        if answer:
            result = score_question(q, target, mode, qset.needs_all_gold)
        elif q.history:
            result = replace(score_question(q, target, mode, qset.needs_all_gold), asked=False)
        else:
            result = score_retrieval(q, target, mode, qset.needs_all_gold)
        run.results.append(result)
        if tick:
            tick(1)
    return run


def score_retrieval(q: EvalQuestion, target: Target, mode: str, needs_all_gold: bool) -> Result:
    """Where retrieval ranks a question's gold articles (if it has any), without answering it."""
    started = time.perf_counter()
    retrieved = target.retrieve(q.question, 10, mode) if q.gold_articles else []
    latency = (time.perf_counter() - started) * 1000
    if retrieved is None:
        raise ValueError("this target cannot be asked for rankings (a remote deployment)")
    return Result(
        id=q.id,
        kind=q.kind,
        question=q.question,
        standalone_question=q.question,
        expected=q.accept,
        answerable=q.answerable,
        answer="",
        short_answer=None,
        answered=False,
        confidence=0.0,
        correct=False,
        would_be_right=False,
        evidence_cited=None,
        quote_mismatches=0,
        retrieval_measured=bool(q.gold_articles),
        rank=metrics.first_rank(retrieved, q.gold_articles) if q.gold_articles else None,
        support_recalled=(
            metrics.all_recalled(retrieved, q.gold_articles, 10)
            if needs_all_gold and q.gold_articles
            else None
        ),
        em=None,
        f1=None,
        latency_ms=latency,
        asked=False,
    )


def score_question(q: EvalQuestion, target: Target, mode: str, needs_all_gold: bool) -> Result:
    history: list[Turn] = []
    for earlier in q.history:
        prior = target.ask(earlier, history, mode)
        history += [Turn("user", earlier), Turn("assistant", prior["answer"])]
    started = time.perf_counter()
    got = target.ask(q.question, history, mode)
    latency = (time.perf_counter() - started) * 1000
    quotes = [c["quote"] for c in got["citations"]]
    mismatches = sum(
        1
        for c in got["citations"]
        if target.article_text(c["article_id"])[c["start"] : c["end"]] != c["quote"]
    )
    rank = support = None
    measured = False
    if q.gold_articles:
        retrieved = target.retrieve(got["standalone_question"], 10, mode)
        if retrieved is not None:
            measured = True
            rank = metrics.first_rank(retrieved, q.gold_articles)
            if needs_all_gold:
                support = metrics.all_recalled(retrieved, q.gold_articles, 10)
    answerable_text_ok = metrics.answer_correct(True, got["answer"], q.accept, True)
    if not got["answered"] and q.answerable:
        # What would the answer have been? The closest passage it cites is what it would say.
        answerable_text_ok = metrics.contains_any(" ".join(quotes[:1]), q.accept)
    return Result(
        id=q.id,
        kind=q.kind,
        question=q.question,
        standalone_question=got["standalone_question"],
        expected=q.accept,
        answerable=q.answerable,
        answer=got["answer"],
        short_answer=got.get("short_answer"),
        answered=bool(got["answered"]),
        confidence=float(got["confidence"]),
        correct=metrics.answer_correct(got["answered"], got["answer"], q.accept, q.answerable),
        would_be_right=answerable_text_ok if q.answerable else False,
        evidence_cited=metrics.evidence_cited(quotes, q.evidence) if q.evidence else None,
        quote_mismatches=mismatches,
        retrieval_measured=measured,
        rank=rank,
        support_recalled=support,
        em=metrics.exact_match(got.get("short_answer"), q.accept) if q.answerable else None,
        f1=metrics.f1(got.get("short_answer"), q.accept) if q.answerable else None,
        latency_ms=latency,
        answerer=got.get("answerer", "extractive"),
        invented=(
            metrics.invented_words(got["answer"], quotes, got["standalone_question"])
            if got["answered"]
            else []
        ),
    )


def summarize(results: list[Result]) -> dict[str, Any]:
    """Every figure of a run; None where the set cannot say (no gold articles, no evidence, no
    question answered: a retrieval-only run)."""

    def share(items: list[bool]) -> float | None:
        return round(sum(items) / len(items), 4) if items else None

    retrieved = results
    results = [r for r in results if r.asked]
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    ranks = [r.rank for r in retrieved if r.retrieval_measured]
    # A retrieval-only run's latencies are those of its retrievals.
    latencies = [r.latency_ms for r in results] or [
        r.latency_ms for r in retrieved if r.retrieval_measured
    ]
    by_kind = {
        kind: share([r.correct for r in results if r.kind == kind])
        for kind in ("answerable", "unanswerable", "follow-up")
        if any(r.kind == kind for r in results)
    }
    out: dict[str, Any] = {
        "questions": len(retrieved),
        "accuracy": share([r.correct for r in results]),
        "accuracy_by_kind": by_kind,
        "answer_accuracy": share([r.correct for r in answerable]),
        "abstention_accuracy": share([r.correct for r in unanswerable]),
        "false_abstention_rate": share([not r.answered for r in answerable]),
        "evidence_rate": share(
            [bool(r.evidence_cited) for r in results if r.evidence_cited is not None]
        ),
        "quote_mismatches": sum(r.quote_mismatches for r in results) if results else None,
        "exact_match": _mean([r.em for r in answerable if r.em is not None]),
        "f1": _mean([r.f1 for r in answerable if r.f1 is not None]),
        # Calibration: among the answers given, how far the confidence is from the share right.
        "ece": _round(
            metrics.expected_calibration_error(
                [r.confidence for r in results if r.answered],
                [r.correct for r in results if r.answered],
            )
        ),
        # Which answerer wrote the answers given, and how many hold a word no source holds.
        "written_by_llm": share([r.answerer == "llm" for r in results if r.answered]),
        "answers_with_invented_words": sum(bool(r.invented) for r in results) if results else None,
        "latency_p50_ms": round(metrics.percentile(latencies, 50), 1),
        "latency_p95_ms": round(metrics.percentile(latencies, 95), 1),
    }
    # Questions whose paragraph was held out of the index (--holdout) count as right only when
    # declined; this says how many were instead answered with their answer from another passage.
    held_out = [r for r in unanswerable if r.expected]
    if held_out:
        out["held_out_answered_right"] = share(
            [r.answered and metrics.contains_any(r.answer, r.expected) for r in held_out]
        )
    if ranks:
        for k in (1, 5, 10):
            out[f"hit@{k}"] = round(metrics.hit_at(ranks, k)["score"], 4)
        out["mrr"] = round(metrics.mrr(ranks)["score"], 4)
    support = [r.support_recalled for r in retrieved if r.support_recalled is not None]
    if support:
        out["support_recall@10"] = share(support)
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None
