"""Dates in questions and in articles: the time a question names, and relative day words.

`time_frame("What did the council decide in March 2005?")` is March 2005 as a range of Unix
seconds; "in 2004", "during 2004", "before 2005", "after 2004", "since 2004", "on 12 August
2015", "this year" and "last year" (against the newest article's date) are read too. The
answer then comes from articles dated in that range.

`day_words(text, date)` finds "on Tuesday", "yesterday", "today", "last week" and similar in an
article's sentence and says which day they mean, counted from the article's date: the most
recent such weekday on or before it, or the next one after it when the sentence speaks of what
"will" happen. Never without the article's date.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_YEAR = r"(1[89]\d\d|2\d\d\d)"
_DAY_FIRST = re.compile(rf"\bon\s+(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH})\.?,?\s+{_YEAR}\b", re.I)
_MONTH_FIRST = re.compile(
    rf"\bon\s+({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+{_YEAR}\b", re.I
)
_IN_MONTH = re.compile(rf"\b(?:in|during)\s+({_MONTH})\.?,?\s+(?:of\s+)?{_YEAR}\b", re.I)
_IN_YEAR = re.compile(rf"\b(?:in|during)\s+{_YEAR}\b", re.I)
_BEFORE = re.compile(rf"\bbefore\s+(?:({_MONTH})\.?\s+)?{_YEAR}\b", re.I)
_AFTER = re.compile(rf"\b(after|since)\s+(?:({_MONTH})\.?\s+)?{_YEAR}\b", re.I)
_RELATIVE_YEAR = re.compile(r"\b(this|last)\s+year\b", re.I)

_WEEKDAYS = [d.lower() for d in calendar.day_name]
_DAY_WORD = re.compile(
    r"\b(?:(?:on|last|this|next)\s+)?("
    + "|".join(_WEEKDAYS)
    + r")\b|\b(yesterday|today|tomorrow)\b"
    r"|\b(last|next)\s+week\b",
    re.I,
)
_FUTURE = re.compile(
    r"\b(?:will|shall|is to|are to|is due|are due|plans? to|expects? to|next)\b", re.I
)


@dataclass(frozen=True)
class TimeFrame:
    """A range of dates a question names: Unix seconds, both ends inclusive, and its words."""

    start: int | None
    end: int | None
    label: str  # "March 2005", "before 2005"
    words: tuple[int, int] = (0, 0)  # where the question names it: "in March 2005"

    def without(self, question: str) -> str:
        """The question less the words that name the time ("What did the council decide in
        March 2005?" -> "What did the council decide?"): once the articles are kept to those
        dated then, an answering sentence need not repeat the date."""
        start, end = self.words
        if start == end:
            return question
        rest = f"{question[:start].rstrip()} {question[end:].lstrip()}".strip()
        return re.sub(r"\s+([?.!,;:])", r"\1", rest)

    def to_dict(self) -> dict[str, str | None]:
        return {"since": _iso(self.start), "until": _iso(self.end), "named": self.label}


def time_frame(question: str, newest: int | None = None) -> TimeFrame | None:
    """The time the question names, or None. `newest` (the newest article's date) anchors
    "this year" and "last year"."""
    try:
        return _time_frame(question, newest)
    except (ValueError, OverflowError):  # a day that does not exist, a year past 9999
        return None


def _time_frame(question: str, newest: int | None) -> TimeFrame | None:
    if m := _DAY_FIRST.search(question) or _MONTH_FIRST.search(question):
        a, b, year = m.groups()
        day, month = (int(a), _MONTHS[b.lower()]) if a.isdigit() else (int(b), _MONTHS[a.lower()])
        start = _at(int(year), month, day)
        return TimeFrame(
            start, start + 86_399, f"{day} {calendar.month_name[month]} {year}", m.span()
        )
    if m := _IN_MONTH.search(question):
        month, year = _MONTHS[m.group(1).lower()], int(m.group(2))
        return TimeFrame(_at(year, month), _month_end(year, month), _month(month, year), m.span())
    if m := _BEFORE.search(question):
        year = int(m.group(2))
        first = _MONTHS[m.group(1).lower()] if m.group(1) else 1
        named = _month(first, year) if m.group(1) else str(year)
        return TimeFrame(None, _at(year, first) - 1, f"before {named}", m.span())
    if m := _AFTER.search(question):
        word, year = m.group(1).lower(), int(m.group(3))
        if m.group(2):
            n = _MONTHS[m.group(2).lower()]
            start = _at(year, n) if word == "since" else _month_end(year, n) + 1
            return TimeFrame(start, None, f"{word} {_month(n, year)}", m.span())
        start = _at(year) if word == "since" else _at(year + 1)
        return TimeFrame(start, None, f"{word} {year}", m.span())
    if m := _IN_YEAR.search(question):
        year = int(m.group(1))
        return TimeFrame(_at(year), _at(year + 1) - 1, str(year), m.span())
    if (m := _RELATIVE_YEAR.search(question)) and newest is not None:
        year = dt.datetime.fromtimestamp(newest, dt.UTC).year - (m.group(1).lower() == "last")
        return TimeFrame(_at(year), _at(year + 1) - 1, str(year), m.span())
    return None


@dataclass(frozen=True)
class DayWord:
    """A relative day word in a text, and the day it means."""

    start: int
    end: int
    text: str
    day: dt.date
    week: bool = False  # "last week": the week that starts on `day`

    @property
    def label(self) -> str:
        return ("week of " if self.week else "") + f"{self.day.day} {self.day:%B %Y}"


def day_words(text: str, date: int | None) -> list[DayWord]:
    """The relative day words of a sentence and the days they mean, from the article's date;
    none when the date is unknown."""
    if date is None:
        return []
    today = dt.datetime.fromtimestamp(date, dt.UTC).date()
    future = bool(_FUTURE.search(text))
    found = []
    for m in _DAY_WORD.finditer(text):
        try:
            day = _day_of(m, today, future)
        except OverflowError:  # an article dated in the first or last days of the calendar
            continue
        weekday, week = m.group(1), m.group(3)
        start = m.start(1) if weekday else m.start()
        found.append(DayWord(start, m.end(), text[start : m.end()], day, week=bool(week)))
    return found


def _day_of(m: re.Match[str], today: dt.date, future: bool) -> dt.date:
    """The day one match of _DAY_WORD means, from the article's day."""
    weekday, near, week = m.group(1), m.group(2), m.group(3)
    if weekday:
        wanted = _WEEKDAYS.index(weekday.lower())
        lead = m.group().split()[0].lower()
        if lead == "next" or (future and lead != "last"):
            return today + dt.timedelta(days=(wanted - today.weekday()) % 7 or 7)
        day = today - dt.timedelta(days=(today.weekday() - wanted) % 7)
        return day - dt.timedelta(days=7) if lead == "last" and day == today else day
    if near:
        return today + dt.timedelta(days={"yesterday": -1, "today": 0, "tomorrow": 1}[near.lower()])
    # "last week" / "next week": the Monday of that week.
    monday = today - dt.timedelta(days=today.weekday())
    return monday + dt.timedelta(days=-7 if week.lower() == "last" else 7)


def with_days(text: str, words: list[DayWord]) -> str:
    """The text with each relative day word followed by its date: "Tuesday (11 August 2015)"."""
    out, at = [], 0
    for w in sorted(words, key=lambda w: w.start):
        if w.start < at:
            continue
        out += [text[at : w.end], f" ({w.label})"]
        at = w.end
    return "".join([*out, text[at:]])


def _at(year: int, month: int = 1, day: int = 1) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp())


def _month_end(year: int, month: int) -> int:
    return _at(year + (month == 12), month % 12 + 1) - 1


def _iso(seconds: int | None) -> str | None:
    return (
        None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC).date().isoformat()
    )


def _month(month: int, year: int) -> str:
    return f"{calendar.month_name[month]} {year}"
