"""The LLM answerer with a scripted stand-in model (the one fake the project allows)."""

from __future__ import annotations

import re

import pytest

from qa.answering import ExtractiveAnswerer
from qa.errors import QAError
from qa.llm import NOT_IN_ARTICLES, LLMAnswerer
from qa.service import Service
from qa.settings import Settings


class ScriptedLLM:
    """Implements the LLM protocol: finds a phrase among the numbered sentences and cites it."""

    def __init__(self, phrase: str, template: str) -> None:
        self.phrase, self.template = phrase, template
        self.prompts: list[str] = []

    def complete(self, system: str, user: str) -> str:
        self.prompts.append(user)
        for line in user.splitlines():
            m = re.match(r"\[(\d+)\] (.*)", line)
            if m and self.phrase in m.group(2):
                return self.template.format(n=m.group(1))
        return NOT_IN_ARTICLES


def test_llm_answer_cites_exact_sentences(indexed: Service) -> None:
    llm = ScriptedLLM("not aware", "Mark Toner said he was not aware of the strikes [{n}].")
    indexed.answerer = LLMAnswerer(llm)
    answer = indexed.ask("Who denied awareness of the airstrikes?")
    assert answer.answered and answer.answer == (
        "Mark Toner said he was not aware of the strikes [1]."
    )
    [citation] = answer.citations
    assert "not aware" in citation.quote
    assert indexed.article(citation.article_id)[1][citation.start : citation.end] == citation.quote
    assert answer.short_answer == "Mark Toner"
    assert "Question: Who denied awareness of the airstrikes?" in llm.prompts[0]


@pytest.mark.parametrize(
    "template",
    [
        "Toner denied it.",  # no citation: not grounded
        "Toner denied it [99].",  # a sentence that was never shown
        NOT_IN_ARTICLES,
    ],
)
def test_ungrounded_replies_become_abstentions(indexed: Service, template: str) -> None:
    indexed.answerer = LLMAnswerer(ScriptedLLM("not aware", template))
    answer = indexed.ask("Who denied awareness of the airstrikes?")
    assert not answer.answered and answer.answer.startswith("The articles don't say")


def test_unsupported_questions_never_reach_the_model(indexed: Service) -> None:
    llm = ScriptedLLM("anything", "Made up [1].")
    indexed.answerer = LLMAnswerer(llm, ExtractiveAnswerer())
    assert not indexed.ask("Who won the 2015 Champions League final?").answered
    assert llm.prompts == []


def test_llm_settings_are_checked() -> None:
    with pytest.raises(QAError, match="QA_LLM_URL"):
        LLMAnswerer.from_settings(Settings(answerer="llm", _env_file=None))  # type: ignore[call-arg]
