"""Dates: the time a question names keeps the answer to articles dated then, and relative day
words are resolved against the article's date (never without one)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qa.dates import day_words, time_frame, with_days
from qa.service import Service

DATED = Path(__file__).parent / "fixtures" / "dated"
WEDNESDAY = int(dt.datetime(2015, 8, 12, tzinfo=dt.UTC).timestamp())  # a Wednesday


@pytest.mark.parametrize(
    ("question", "since", "until", "named"),
    [
        ("What did the council decide in March 2005?", "2005-03-01", "2005-03-31", "March 2005"),
        ("what did the council decide in march, 2005", "2005-03-01", "2005-03-31", "March 2005"),
        ("Who won in 2004?", "2004-01-01", "2004-12-31", "2004"),
        ("What happened during December 2004?", "2004-12-01", "2004-12-31", "December 2004"),
        ("What happened before 2005?", None, "2004-12-31", "before 2005"),
        ("What changed after 2004?", "2005-01-01", None, "after 2004"),
        ("What changed after March 2004?", "2004-04-01", None, "after March 2004"),
        ("What happened since March 2004?", "2004-03-01", None, "since March 2004"),
        ("What happened on 12 August 2015?", "2015-08-12", "2015-08-12", "12 August 2015"),
        ("What happened on August 12, 2015?", "2015-08-12", "2015-08-12", "12 August 2015"),
        ("What did they promise this year?", "2015-01-01", "2015-12-31", "2015"),
        ("What did they promise last year?", "2014-01-01", "2014-12-31", "2014"),
    ],
)
def test_the_time_a_question_names(question: str, since: str, until: str, named: str) -> None:
    frame = time_frame(question, newest=WEDNESDAY)
    assert frame is not None and frame.to_dict() == {"since": since, "until": until, "named": named}


@pytest.mark.parametrize(
    "question",
    [
        "Who denied awareness of the airstrikes?",
        "Who won the 2015 Champions League final?",  # a year that names the final, not a time
        "How many people died in 2,000 attacks?",
        "What happened on 31 February 2015?",  # no such day
    ],
)
def test_questions_that_name_no_time(question: str) -> None:
    assert time_frame(question, newest=WEDNESDAY) is None
    assert time_frame("What did they promise this year?", newest=None) is None  # no anchor


@pytest.mark.parametrize(
    ("sentence", "resolved"),
    [
        ("The strikes on Atme were launched on Tuesday.", "on Tuesday (11 August 2015)."),
        ("Talks will resume on Friday.", "on Friday (14 August 2015)."),
        ("The council met on Wednesday.", "on Wednesday (12 August 2015)."),
        ("It happened last Wednesday.", "last Wednesday (5 August 2015)."),
        ("He spoke yesterday.", "yesterday (11 August 2015)."),
        ("The report came out last week.", "last week (week of 3 August 2015)."),
    ],
)
def test_relative_day_words_are_counted_from_the_article_date(sentence: str, resolved: str) -> None:
    words = day_words(sentence, WEDNESDAY)
    assert with_days(sentence, words).endswith(resolved)
    assert day_words(sentence, None) == []  # never without the article's date


@pytest.mark.parametrize(
    ("question", "rest"),
    [
        ("What did the council decide about the bridge in March 2005?", "What did the council decide about the bridge?"),
        ("Who won the vote on 15 March 2005, and why?", "Who won the vote, and why?"),
        ("How much did prices rise since 2003", "How much did prices rise"),
        ("What did the council decide this year?", "What did the council decide?"),
    ],
)  # fmt: skip
def test_the_words_naming_a_time_come_out_of_the_question(question: str, rest: str) -> None:
    frame = time_frame(question, newest=int(dt.datetime(2005, 6, 1, tzinfo=dt.UTC).timestamp()))
    assert frame is not None and frame.without(question) == rest


def test_answers_keep_to_the_dates_a_question_names(service: Service) -> None:
    service.ingest([DATED])
    asked = "What did the Brackwater council decide about the old bridge in {}?"
    march = service.ask(asked.format("March 2005"))
    assert march.answered and {c.article_id for c in march.citations} == {
        "brackwater-bridge-closes"
    }
    assert march.date_range == {"since": "2005-03-01", "until": "2005-03-31", "named": "March 2005"}
    june = service.ask(asked.format("June 2005"))
    assert {c.article_id for c in june.citations} == {"brackwater-bridge-reopens"}
    none = service.ask(asked.format("2010"))  # no article is dated then
    assert not none.answered and none.citations == () and none.date_range is not None
    # Dates the request gives itself win over those in the question.
    from qa.types import Filters

    june_only = Filters(date_from=int(dt.datetime(2005, 6, 1, tzinfo=dt.UTC).timestamp()))
    given = service.ask(asked.format("March 2005"), filters=june_only)
    assert given.date_range is None
    assert {c.article_id for c in given.citations} == {"brackwater-bridge-reopens"}


def test_short_answers_and_quotes_resolve_day_words_of_dated_articles_only(
    service: Service,
) -> None:
    service.ingest([DATED])
    closed = service.ask("When did the Brackwater council vote to close the old bridge?")
    assert closed.short_answer == "Tuesday (15 March 2005)"
    first = closed.citations[0]
    [tuesday] = first.days
    assert first.quote[tuesday.start : tuesday.end] == "Tuesday"
    assert (tuesday.date, tuesday.label) == ("2005-03-15", "15 March 2005")
    festival = service.ask("When does the Aln river festival return?")  # an undated article
    assert festival.short_answer == "Saturday" and festival.citations[0].days == ()


def test_day_words_at_the_ends_of_the_calendar_are_left_alone() -> None:
    first = int(dt.datetime(1, 1, 1, tzinfo=dt.UTC).timestamp())  # a Monday
    last = int(dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp())
    assert day_words("He spoke yesterday.", first) == []  # the day before year 1
    assert [w.label for w in day_words("He spoke today.", first)] == ["1 January 1"]
    assert day_words("Talks resume next week.", last) == []
    assert time_frame("What happened this year?", newest=last) is None  # no year after 9999
