"""What a question asks for, and the short spans of a sentence that could answer it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from qa.text import WORD, tokenize

Kind = Literal["person", "number", "date", "place", "name", "other"]

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "hundred|hundreds|thousand|thousands|dozen|dozens|million|millions|billion|billions"
)
_SCALE = r"(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand|bn|m|km|miles|kg|years?))?"
NUMBER = re.compile(
    rf"(?:[$£€]\s?)?\b\d[\d,]*(?:\.\d+)?{_SCALE}\b%?"
    rf"|\b(?:{_NUMBER_WORDS})(?:[- ](?:{_NUMBER_WORDS}))*\b",
    re.IGNORECASE,
)
DATE = re.compile(
    rf"\b(?:(?:{_DAYS}),?\s+)?(?:\d{{1,2}}\s+(?:{_MONTHS})\.?(?:,?\s+\d{{4}})?|(?:{_MONTHS})\.?"
    rf"(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+\d{{4}})?|(?:{_DAYS}))\b|\b(?:1[5-9]|20)\d\d(?:s)?\b"
)
# Runs of capitalised words, allowing a few lower-case joiners inside ("Bank of England").
NAME = re.compile(r"\b[A-Z][\w’'.-]*(?:\s+(?:(?:of|the|de|al|bin|von|van)\s+)?[A-Z][\w’'.-]*)*")
_TITLES = {
    "spokesman",
    "spokeswoman",
    "spokesperson",
    "president",
    "minister",
    "prime",
    "mr",
    "mrs",
    "ms",
    "dr",
    "gen",
    "general",
    "chief",
    "secretary",
    "senator",
    "judge",
    "professor",
    "sir",
    "the",
    "a",
    "an",
    "but",
    "and",
    "when",
    "while",
    "after",
    "although",
    "in",
    "on",
    "at",
    "however",
    "meanwhile",
    "according",
    "since",
    "as",
    "if",
    "last",
    "this",
    "that",
    "it",
}
_AUXILIARIES = {
    "did",
    "does",
    "do",
    "is",
    "was",
    "are",
    "were",
    "has",
    "have",
    "had",
    "can",
    "could",
    "will",
    "would",
    "should",
    "may",
    "might",
    "must",
}
_PLACE_NOUNS = {
    "country",
    "city",
    "province",
    "state",
    "town",
    "village",
    "region",
    "county",
    "district",
    "base",
    "island",
    "continent",
    "capital",
    "area",
    "nation",
    "place",
    "location",
    "territory",
}
_PERSON_NOUNS = {
    "person",
    "man",
    "woman",
    "official",
    "spokesman",
    "leader",
    "minister",
    "president",
    "player",
    "actor",
    "singer",
    "author",
    "chief",
    "manager",
}


@dataclass(frozen=True)
class Span:
    """A candidate short answer: text == sentence[start:end]."""

    start: int
    end: int
    text: str
    kind: Kind


def question_kind(question: str) -> Kind:
    """The kind of answer a question expects, from its wh-word and head noun."""
    q = question.lower()
    if re.search(
        r"\bhow (many|much|old|long|far|big|large|tall|often)\b|\bwhat (percentage|"
        r"number|amount|proportion|share)\b|\bhow high\b",
        q,
    ):
        return "number"
    if re.search(r"\bwhen\b|\b(what|which) (year|date|day|month|time|decade|century)\b", q):
        return "date"
    if re.search(r"\bwhere\b", q):
        return "place"
    head = re.search(r"\b(which|what)\s+(\w+)(?:\s+(\w+))?", q)
    if head and head.group(2) in _AUXILIARIES:
        head = None  # "what did he say": no named thing asked for
    if head and (head.group(2) in _PLACE_NOUNS or (head.group(3) or "") in _PLACE_NOUNS):
        return "place"
    if re.search(r"\bwho(m|se)?\b", q) or (head and head.group(2) in _PERSON_NOUNS):
        return "person"
    if head:
        return "name"
    return "other"


def candidates(sentence: str, kind: Kind) -> list[Span]:
    """Spans of the sentence of the asked-for kind (names for people, places and named things);
    none for questions that ask for no span ("what did he say")."""
    spans: list[Span] = []
    if kind in ("number",):
        spans += [_span(m, "number") for m in NUMBER.finditer(sentence)]
    if kind in ("date",):
        spans += [_span(m, "date") for m in DATE.finditer(sentence)]
    if kind in ("person", "place", "name"):
        for m in NAME.finditer(sentence):
            for s, e in _possessive_parts(m.start(), m.end(), sentence):
                span = _trim_name(sentence, s, e)
                if span and not DATE.fullmatch(span.text):
                    spans.append(Span(span.start, span.end, span.text, kind))
    if kind == "name":
        spans += [_span(m, "number") for m in NUMBER.finditer(sentence)]
    return [s for s in spans if s.text.strip()]


def best_span(sentence: str, question: str, kind: Kind | None = None) -> Span | None:
    """The candidate of the asked-for kind that sits closest to the question's words.

    Each question term pulls candidates towards its occurrences, rarer terms harder. Spans made
    only of question words are not answers; spans holding the question's head noun ("Incirlik
    Air Base" for "which air base") are. For people and places the words around a name count:
    "Toner said" is a person, "in Atme" a place.
    """
    kind = kind or question_kind(question)
    q_words = {w.lower() for w in re.findall(r"\w+", question)}
    spans = [c for c in candidates(sentence, kind) if not in_question(c, q_words)]
    if not spans:
        return None
    q_stems = [t for ts in tokenize(WORD.findall(question)) for t in ts]
    weights = dict.fromkeys(q_stems, 1.0)
    words = list(WORD.finditer(sentence))
    stems = tokenize([w.group() for w in words]) if words else []
    anchors = [
        (w.start(), t) for w, ts in zip(words, stems, strict=True) for t in ts if t in weights
    ]

    def score(span: Span) -> float:
        pull = 0.0
        for term in set(weights):
            spots = [at for at, t in anchors if t == term]
            if spots:
                d = min(0 if span.start <= a < span.end else abs(a - span.start) for a in spots)
                pull += weights[term] * math.exp(-d / 60)
        role = _role(sentence, span)
        if kind == "person":
            pull += {"person": 2.0, "place": -2.0}.get(role, 0.0) + 0.5 * (" " in span.text)
        elif kind == "place":
            pull += {"place": 1.0, "person": -2.0}.get(role, 0.0)
        return pull - span.start / 10000  # ties: the earlier span

    return max(spans, key=score)


_SPEECH = {
    "said",
    "says",
    "stated",
    "told",
    "added",
    "announced",
    "denied",
    "explained",
    "claimed",
    "argued",
    "wrote",
    "insisted",
    "warned",
    "admitted",
    "confirmed",
}
_PLACE_PREPS = {
    "in",
    "at",
    "from",
    "near",
    "to",
    "into",
    "across",
    "of",
    "village",
    "town",
    "city",
    "province",
}


def _role(sentence: str, span: Span) -> str:
    """Whether a name reads as a person (a speaker, a titled name) or a place (after "in")."""
    before = sentence[: span.start].split()
    after = sentence[span.end :].split()
    prev = before[-1].lower().strip(",") if before else ""
    nxt = after[0].lower().strip(",.") if after else ""
    if nxt in _SPEECH or prev.rstrip(".") in _TITLES - {"the", "a", "an"}:
        return "person"
    if prev in _PLACE_PREPS:
        return "place"
    return ""


def in_question(span: Span, q_words: set[str]) -> bool:
    """Whether every word of the span is already in the question."""
    words = [w.lower() for w in re.findall(r"\w+", span.text)]
    return bool(words) and all(w in q_words for w in words)


def _span(match: re.Match[str], kind: Kind) -> Span:
    text = match.group().strip()
    start = match.start() + (len(match.group()) - len(match.group().lstrip()))
    return Span(start, start + len(text), text, kind)


def _possessive_parts(start: int, end: int, sentence: str) -> list[tuple[int, int]]:
    """ "Turkey’s Adana" -> "Turkey", "Adana": a possessive ends a name."""
    parts, at = [], start
    for m in re.finditer(r"['’]s\b", sentence[start:end]):
        parts.append((at, start + m.start()))
        at = start + m.end()
    parts.append((at, end))
    return [(s, e) for s, e in parts if sentence[s:e].strip()]


def _trim_name(sentence: str, start: int, end: int) -> Span | None:
    """Drops leading titles and sentence-initial function words: "Spokesman Mark Toner"."""
    words = list(re.finditer(r"\S+", sentence[start:end]))
    while words and words[0].group().lower().strip(".,") in _TITLES:
        words.pop(0)
    while words and words[-1].group().lower() in {"of", "the", "and", "for", "on", "de"}:
        words.pop()
    if not words:
        return None
    s, e = start + words[0].start(), start + words[-1].end()
    while e > s and sentence[e - 1] in ".,;:'’\"”)":
        e -= 1
    text = sentence[s:e]
    if not text or (" " not in text and _common_word(text) and not sentence[:s].strip(" \"'“‘(")):
        return None  # "To the extent…": a capitalised first word, not a name
    return Span(s, e, text, "name")


def _common_word(word: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(word.lower(), "en") >= 5.0
