"""Question sets: the contract's JSONL, and SQuAD / HotpotQA turned into articles + questions."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from qa.ingest.articles import slugify
from qa.types import Article

# The public data (../shared/data/README.md), and the SQuAD file that is for evaluation only:
# no trainer may learn from it (eval.train.common.paragraphs refuses its paragraphs).
PUBLIC_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SQUAD_EVALUATION = PUBLIC_DATA / "squad-v1.1-dev.json"


class EvalQuestion(BaseModel):
    """One line of a question set (the contract's eval file format)."""

    id: str
    question: str = Field(min_length=1)
    accept: list[str] = Field(default_factory=list)
    answerable: bool = True
    evidence: str | None = None
    history: list[str] = Field(default_factory=list)
    # Known only for sets built from public data: the article(s) holding the answer.
    gold_articles: list[str] = Field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.history:
            return "follow-up"
        return "answerable" if self.answerable else "unanswerable"


@dataclass
class QuestionSet:
    """Questions, and for external formats the articles that make up their temporary index."""

    name: str
    questions: list[EvalQuestion]
    articles: list[Article] = field(default_factory=list)
    # Questions whose gold article must be present for every support paragraph (HotpotQA).
    needs_all_gold: bool = False


class SetError(ValueError):
    """A question set file is malformed; the message names the line."""


def load(path: Path, sample: int | None = None, seed: int = 0, holdout: float = 0.0) -> QuestionSet:
    """Reads a set by its format: .jsonl (contract or HotpotQA) or SQuAD .json."""
    if path.suffix == ".json":
        return load_squad(path, sample, seed, holdout)
    first = _first_line(path)
    if "question_text" in first and "contexts" in first:
        return load_hotpot(path, sample, seed)
    return load_jsonl(path, sample, seed)


def load_jsonl(path: Path, sample: int | None = None, seed: int = 0) -> QuestionSet:
    questions = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            q = EvalQuestion.model_validate_json(line)
        except ValidationError as exc:
            raise SetError(f"{path}:{lineno}: {exc.errors()[0]['msg']}") from None
        if q.answerable and not q.accept:
            raise SetError(f"{path}:{lineno}: an answerable question needs accept strings")
        questions.append(q)
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise SetError(f"{path}: question ids repeat")
    return QuestionSet(path.stem, _sample(questions, sample, seed))


def load_squad(
    path: Path, sample: int | None = None, seed: int = 0, holdout: float = 0.0
) -> QuestionSet:
    """SQuAD v1.1/v2.0: every paragraph an article; holdout keeps a share of paragraphs out of
    the index, so their questions become near-miss unanswerables (the topic is indexed, the
    answer is not)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    articles: list[Article] = []
    questions: list[EvalQuestion] = []
    for doc in data["data"]:
        for i, para in enumerate(doc["paragraphs"]):
            article_id = f"{slugify(doc['title'])}-{i}"
            held_out = holdout > 0 and rng.random() < holdout
            if not held_out:
                articles.append(
                    Article(
                        id=article_id,
                        title=doc["title"].replace("_", " "),
                        text=para["context"].strip(),
                        source="SQuAD",
                    )
                )
            for qa in para["qas"]:
                answers = list(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
                answerable = not qa.get("is_impossible", False) and not held_out and bool(answers)
                questions.append(
                    EvalQuestion(
                        id=qa["id"],
                        question=qa["question"].strip(),
                        accept=answers,
                        answerable=answerable,
                        gold_articles=[article_id] if answerable else [],
                    )
                )
    return QuestionSet(path.stem, _sample(questions, sample, seed), articles)


def load_hotpot(path: Path, sample: int | None = None, seed: int = 0) -> QuestionSet:
    """HotpotQA (IRCoT layout): the paragraphs of the sampled questions become articles."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    rows = _sample(rows, sample, seed)
    articles: dict[str, Article] = {}
    questions = []
    for row in rows:
        gold = []
        for ctx in row["contexts"]:
            article_id = slugify(ctx["title"])
            articles.setdefault(
                article_id,
                Article(
                    id=article_id,
                    title=ctx["title"],
                    text=ctx["paragraph_text"].strip(),
                    source="HotpotQA",
                ),
            )
            if ctx.get("is_supporting"):
                gold.append(article_id)
        accept = [s for obj in row["answers_objects"] for s in obj.get("spans", []) if s]
        questions.append(
            EvalQuestion(
                id=row["question_id"],
                question=row["question_text"],
                accept=accept,
                answerable=True,
                gold_articles=gold,
            )
        )
    return QuestionSet(path.stem, questions, list(articles.values()), needs_all_gold=True)


def as_typed(qset: QuestionSet) -> QuestionSet:
    """The set's questions as people type them into a search box: lower case, without the
    question mark ("who denied awareness of the airstrikes"). Same answers, same articles."""
    typed = [
        q.model_copy(update={"question": q.question.strip().rstrip("?").rstrip().lower()})
        for q in qset.questions
    ]
    return replace(qset, name=f"{qset.name} (as typed)", questions=typed)


def _sample(items: list, sample: int | None, seed: int) -> list:  # type: ignore[type-arg]
    if sample is None or sample >= len(items):
        return items
    return random.Random(seed).sample(items, sample)


def _first_line(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SetError(f"{path}:1: not JSON ({exc.msg})") from None
                return value if isinstance(value, dict) else {}
    raise SetError(f"{path}: no questions")


def swap_term(question: str, answer: str, elsewhere: list[str], rng: random.Random) -> str | None:
    """The question with its most specific word that the answer holds replaced by a word of the
    same kind found elsewhere in the article but not in the answer: the same topic, the same
    sentence, a fact it does not give ("What did the spokesman say about Iran?")."""
    from wordfreq import zipf_frequency

    from qa.text import tokenize

    here = set(tokenize([answer])[0])
    words = re.findall(r"[A-Za-z][\w'-]+", question)
    stems = tokenize(words) if words else []
    held = [
        (zipf_frequency(w, "en"), w)
        for w, ts in zip(words, stems, strict=True)
        if ts and all(t in here for t in ts) and zipf_frequency(w, "en") < 4.5
    ]
    if not held:
        return None
    _, word = min(held)
    pool = sorted(
        {
            w
            for text in elsewhere
            for w in re.findall(r"[A-Za-z][\w'-]+", text)
            if w[0].isupper() == word[0].isupper()
            and zipf_frequency(w, "en") < 4.5
            and not set(tokenize([w])[0]) & here
        }
    )
    return _replaced(question, word, pool, rng)


# A word of the act asked about: a past tense or participle ("restored", "founded").
_ACT = re.compile(r"[a-z]{3,}ed")


def swap_act(question: str, answer: str, elsewhere: list[str], rng: random.Random) -> str | None:
    """The question with the act it asks about, a past-tense word that the answer holds, replaced
    by one found elsewhere in the article but not in the answer: the same people and things, an
    act the answer does not tell of ("Who restored the lighthouse?" of "built by Helga
    Marstrand" -> "Who painted the lighthouse?"). None when the question names no such act."""
    from wordfreq import zipf_frequency

    from qa.text import tokenize

    here = set(tokenize([answer])[0])
    words = re.findall(r"[A-Za-z][\w'-]+", question)
    stems = tokenize(words) if words else []
    held = [
        w
        for w, ts in zip(words, stems, strict=True)
        if _ACT.fullmatch(w) and ts and all(t in here for t in ts)
    ]
    if not held:
        return None
    word = rng.choice(held)
    asked = set(tokenize([question])[0])
    pool = sorted(
        {
            w
            for text in elsewhere
            for w in re.findall(r"[A-Za-z][\w'-]+", text)
            if _ACT.fullmatch(w)
            and 2.5 < zipf_frequency(w, "en") < 5.5
            and not set(tokenize([w])[0]) & (here | asked)
        }
    )
    return _replaced(question, word, pool, rng)


def _replaced(question: str, word: str, pool: list[str], rng: random.Random) -> str | None:
    """The question with its first `word` replaced by a word drawn from pool; None when pool is
    empty."""
    if not pool:
        return None
    # Bounded by what the words were found as, not \b: "Descartes'" ends in an apostrophe.
    swapped = re.sub(
        rf"(?<![\w'-]){re.escape(word)}(?![\w'-])", rng.choice(pool), question, count=1
    )
    return swapped if swapped != question else None
