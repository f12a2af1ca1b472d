"""Questions that ask what several articles say are answered from several articles."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.answer.decisions import is_survey, pick_survey
from qa.service import Service

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("question", "survey"),
    [
        ("What do the articles say about the safe zone?", True),
        ("How did different sources report the ferry strike?", True),
        ("What have the papers written about the bridge?", True),
        ("What did Toner say about pinpoint accuracy?", False),  # one speaker, one fact
        ("Who denied awareness of the airstrikes?", False),
    ],
)
def test_survey_questions_are_told_apart(question: str, survey: bool) -> None:
    assert is_survey(question) is survey


def test_a_survey_takes_the_best_sentence_of_each_article() -> None:
    probs = [0.9, 0.8, 0.5, 0.3, 0.01]
    articles = ["a", "a", "b", "c", "d"]
    assert pick_survey(probs, articles, ratio=0.05) == [0, 2, 3]  # one of a, then b and c
    assert pick_survey(probs, articles, ratio=0.5) == [0, 2]  # c is too unlikely
    assert pick_survey(probs, articles, ratio=0.05, limit=2) == [0, 2]


def test_a_survey_answer_cites_several_articles_and_one_copy_of_a_story(service: Service) -> None:
    service.ingest([FIXTURES / "copies", FIXTURES / "dated"])
    answer = service.ask("What do the articles say about the Lanmere ferry strike?")
    cited = [c.article_id for c in answer.citations]
    assert answer.answered and len(cited) == len(set(cited)) >= 2
    assert "lanmere-ferry-talks-resume" in cited
    copies = {"wire-ferry-strike", "coastal-times-ferry-strike", "harbour-post-ferry-strike"}
    assert len(copies & set(cited)) == 1  # the wire story once, though three outlets ran it
    assert [f"[{c.n}]" in answer.answer for c in answer.citations] == [True] * len(cited)
    # A plain question about the same story still gets one fact.
    plain = service.ask("Why did the Lanmere ferry crews reject the pay offer?")
    assert len({c.article_id for c in plain.citations}) == 1
