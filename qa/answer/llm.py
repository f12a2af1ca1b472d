"""An answerer that lets an LLM phrase the answer, over sentences it can only cite, not invent.

The model sees the best candidate sentences numbered [1]..[n] and must cite them; any sentence
it cites becomes an exact citation, an answer citing nothing counts as no answer, and the
extractive confidence still decides whether to answer at all. Install with `pip install
article-qa[llm]` and set QA_ANSWERER=llm, QA_LLM_URL (an OpenAI-compatible /v1) and QA_LLM_MODEL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from qa.answer.base import Draft
from qa.answer.citations import MARKER, cite, unmarked
from qa.answer.decisions import MAX_ANSWER_WORDS, abstain
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.features import TermWeight
from qa.errors import QAError
from qa.settings import Settings
from qa.types import ScoredChunk

NOT_IN_ARTICLES = "NOT_IN_ARTICLES"
SYSTEM = (
    "You answer questions about news articles using only the numbered sentences given. "
    f"Answer in at most {MAX_ANSWER_WORDS} words and put the number of the sentence that "
    "supports each claim in square brackets right after it, like [2]. Never add facts the "
    f"sentences do not state. If they do not answer the question, reply exactly {NOT_IN_ARTICLES}."
)


class LLM(Protocol):
    """A chat model: one system and one user message in, text out."""

    def complete(self, system: str, user: str) -> str: ...


class OpenAIChat:
    """Any OpenAI-compatible chat completions endpoint."""

    def __init__(self, url: str, model: str, api_key: str | None = None) -> None:
        from openai import OpenAI

        self._client = OpenAI(base_url=url, api_key=api_key or "not-needed")
        self._model = model

    def complete(self, system: str, user: str) -> str:
        reply = self._client.chat.completions.create(
            model=self._model,
            temperature=0,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        )
        return reply.choices[0].message.content or ""


class LLMAnswerer:
    def __init__(
        self, llm: LLM, extractive: ExtractiveAnswerer | None = None, candidates: int = 8
    ) -> None:
        if candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {candidates}")
        self._llm = llm
        self._extractive = extractive or ExtractiveAnswerer()
        self._candidates = candidates

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMAnswerer:
        if not settings.llm_url or not settings.llm_model:
            raise QAError(
                "QA_ANSWERER=llm needs QA_LLM_URL (an OpenAI-compatible /v1 URL) and QA_LLM_MODEL"
            )
        return cls(
            OpenAIChat(settings.llm_url, settings.llm_model, settings.llm_api_key),
            ExtractiveAnswerer(settings.abstain_threshold),
        )

    def answer(self, question: str, passages: Sequence[ScoredChunk], weight: TermWeight) -> Draft:
        ranked = self._extractive.rank(question, passages, weight)
        supported = ranked.sentences and ranked.question.weights
        if not supported or ranked.confidence < ranked.threshold:
            # The articles do not support an answer: no need to ask.
            return abstain(ranked.sentences[:2], ranked.confidence)
        shown = ranked.sentences[: self._candidates]
        prompt = "\n".join(
            f"[{n}] {' '.join(unmarked(s.text).split())}" for n, s in enumerate(shown, 1)
        )
        reply = self._llm.complete(SYSTEM, f"Sentences:\n{prompt}\n\nQuestion: {question}").strip()
        used = [int(m) for m in dict.fromkeys(MARKER.findall(reply)) if 1 <= int(m) <= len(shown)]
        if NOT_IN_ARTICLES in reply or not used:
            return abstain(shown[:2], ranked.confidence)  # uncited text is not an answer
        renumber = {old: new for new, old in enumerate(used, 1)}
        text = MARKER.sub(
            lambda m: f"[{renumber[int(m.group(1))]}]" if int(m.group(1)) in renumber else "",
            reply,
        )
        cited = [shown[i - 1] for i in used]
        return Draft(
            " ".join(text.split()),
            self._extractive.short_answer(cited, ranked.question),
            True,
            ranked.confidence,
            cite(cited),
        )
