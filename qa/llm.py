"""An answerer that lets an LLM phrase the answer, over sentences it can only cite, not invent.

The model sees the best candidate sentences numbered [1]..[n] and must cite them; any sentence
it cites becomes an exact citation, an answer citing nothing counts as no answer, and the
extractive confidence still decides whether to answer at all. Install with `pip install
article-qa[llm]` and set QA_ANSWERER=llm, QA_LLM_URL (an OpenAI-compatible /v1) and QA_LLM_MODEL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from qa.answering import MAX_ANSWER_WORDS, Draft, ExtractiveAnswerer, _abstain, _cite
from qa.errors import QAError
from qa.features import Question, TermWeight, sentence_features, sentences_of
from qa.settings import Settings
from qa.spans import best_span
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
        extractive = self._extractive.answer(question, passages, weight)
        if not extractive.answered:
            return extractive  # the articles do not support an answer: no need to ask
        q = Question.parse(question, weight)
        sentences = sentences_of(passages)
        probs = [self._extractive.model.ranker(r) for r in sentence_features(q, sentences)]
        order = sorted(range(len(sentences)), key=lambda i: -probs[i])[: self._candidates]
        shown = [sentences[i] for i in order]
        prompt = "\n".join(f"[{n}] {' '.join(s.text.split())}" for n, s in enumerate(shown, 1))
        reply = self._llm.complete(SYSTEM, f"Sentences:\n{prompt}\n\nQuestion: {question}").strip()
        used = [
            int(m)
            for m in dict.fromkeys(re.findall(r"\[(\d+)\]", reply))
            if 1 <= int(m) <= len(shown)
        ]
        if NOT_IN_ARTICLES in reply or not used:
            return _abstain(shown[:2], extractive.confidence)  # uncited text is not an answer
        renumber = {old: new for new, old in enumerate(used, 1)}
        text = re.sub(
            r"\[(\d+)\]",
            lambda m: f"[{renumber[int(m.group(1))]}]" if int(m.group(1)) in renumber else "",
            reply,
        )
        cited = [shown[i - 1] for i in used]
        short = next(
            (span.text for s in cited if (span := best_span(s.text, question, q.kind, q.weights))),
            None,
        )
        return Draft(" ".join(text.split()), short, True, extractive.confidence, _cite(cited))
