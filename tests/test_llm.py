"""The LLM answerer with a scripted stand-in model (the one fake the project allows)."""

from __future__ import annotations

import re

import pytest

from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.llm import NOT_IN_ARTICLES, LLMAnswerer
from qa.errors import QAError
from qa.service import Service
from qa.settings import Settings

from .conftest import FIXTURES, SEEDS


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


@pytest.fixture
def ask_with(settings: Settings, embedder):  # type: ignore[no-untyped-def]
    """Opens a service over the fixture articles and the seed with the given answerer."""
    opened = []

    def open_with(answerer: LLMAnswerer) -> Service:
        service = Service(settings, embedder=embedder, answerer=answerer)
        opened.append(service)
        service.ingest([FIXTURES, SEEDS])
        return service

    yield open_with
    for service in opened:
        service.close()


def test_llm_answer_cites_exact_sentences(ask_with) -> None:  # type: ignore[no-untyped-def]
    llm = ScriptedLLM("not aware", "Mark Toner said he was not aware of the strikes [{n}].")
    service = ask_with(LLMAnswerer(llm))
    answer = service.ask("Who denied awareness of the airstrikes?")
    assert answer.answered and answer.answer == (
        "Mark Toner said he was not aware of the strikes [1]."
    )
    [citation] = answer.citations
    assert "not aware" in citation.quote
    assert service.article(citation.article_id)[1][citation.start : citation.end] == citation.quote
    assert answer.short_answer and "Mark Toner" in answer.short_answer
    assert "Question: Who denied awareness of the airstrikes?" in llm.prompts[0]


@pytest.mark.parametrize(
    "template",
    [
        "Toner denied it.",  # no citation: not grounded
        "Toner denied it [99].",  # a sentence that was never shown
        NOT_IN_ARTICLES,
    ],
)
def test_ungrounded_replies_become_abstentions(ask_with, template: str) -> None:  # type: ignore[no-untyped-def]
    answer = ask_with(LLMAnswerer(ScriptedLLM("not aware", template))).ask(
        "Who denied awareness of the airstrikes?"
    )
    assert not answer.answered and answer.answer.startswith("The articles don't say")


def test_unsupported_questions_never_reach_the_model(ask_with) -> None:  # type: ignore[no-untyped-def]
    llm = ScriptedLLM("anything", "Made up [1].")
    assert (
        not ask_with(LLMAnswerer(llm, ExtractiveAnswerer()))
        .ask("Who won the 2015 Champions League final?")
        .answered
    )
    assert llm.prompts == []


def test_llm_settings_are_checked() -> None:
    with pytest.raises(QAError, match="QA_LLM_URL"):
        LLMAnswerer.from_settings(Settings(answerer="llm", _env_file=None))  # type: ignore[call-arg]
