"""Who said what: the direct and reported quotes of an article, with their speakers.

Found sentence by sentence with a few patterns of news prose:

    "We are not aware of it," Toner said.        a direct quote, speaker after it
    "We are not aware of it," said Mark Toner.
    Toner said: "We are not aware of it."        speaker before it
    Spokesman Mark Toner stated that he was ...  reported speech ("that ...")
    ..., according to CENTCOM.                   attribution

The speaker is the run of capitalised words next to the verb, without a leading title
("Spokesman", "Mr", "President") or article ("The"). A surname alone ("Toner") becomes the full
name given earlier in the article ("Mark Toner"), and "he", "she" or "they" the speaker of the
quote before. Offsets are the quoting sentence's, exact in the article text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from qa.text import sentence_spans

_VERBS = (
    "said|says|say|told|tells|added|adds|stated|states|explained|warned|claimed|claims|denied|"
    "denies|confirmed|confirms|insisted|argued|noted|announced|admitted|acknowledged|urged|"
    "asked|replied|wrote|declared|described|promised|vowed"
)
# A name: up to six capitalised words, with the particles of names between them.
_NAME = r"[A-Z][\w’'.-]*(?:\s+(?:[A-Z][\w’'.-]*|(?:al|bin|de|van|von|der)\b)){0,5}"
_PRONOUN = r"[Hh]e|[Ss]he|[Tt]hey"
_OPEN, _CLOSE = '["“]', '["”]'
_WORDS_QUOTED = '[^"“”]{8,}?'
_ADVERB = r"(?:also|\w+ly)\s+"  # "also said", "previously confirmed"

_AFTER = re.compile(
    rf"{_OPEN}(?P<said>{_WORDS_QUOTED})[,.!?]?{_CLOSE},?\s+"
    rf"(?:(?P<who>{_NAME}|{_PRONOUN})\s+(?:{_ADVERB})?(?P<verb>{_VERBS})\b"
    rf"|(?P<verb2>said|says|added|asked|wrote)\s+(?P<who2>{_NAME}))"
)
_BEFORE = re.compile(
    rf"(?P<who>{_NAME}|{_PRONOUN})\s+(?:{_ADVERB})?(?P<verb>{_VERBS})\b[^\"“”]{{0,40}}?[:,]?\s*"
    rf"{_OPEN}(?P<said>{_WORDS_QUOTED}){_CLOSE}"
)
_REPORTED = re.compile(
    rf"(?P<who>{_NAME}|{_PRONOUN})\s+(?:{_ADVERB})?(?P<verb>{_VERBS})\b"
    rf"(?:[^.;:\"“”]{{0,50}}?\s+that)?\s+(?P<said>[a-z\"“].{{8,}})"
)
_ACCORDING = re.compile(rf"\baccording to (?:the\s+)?(?P<who>{_NAME})")

MAX_SENTENCE = 1500  # characters: longer "sentences" (tables, lists run together) are skipped
_TITLE_WORDS = """
    the a an in on at but and as spokesman spokeswoman spokesperson mr mrs ms dr sir dame lord
    lady president minister secretary chancellor leader chairman chairwoman chief head director
    mayor governor senator general professor judge prime foreign deputy vice premier king
    queen prince princess pope sheikh coach manager captain
"""
_TITLES = frozenset(_TITLE_WORDS.split())


@dataclass(frozen=True)
class Quote:
    """Something a speaker said, in the sentence [start, end) of the article text."""

    start: int
    end: int
    sentence: str  # the quoting sentence: the article's text[start:end]
    speaker: str
    said: str  # the quoted words, or the reported clause
    verb: str  # "said", "denied", "according to", ...
    direct: bool  # quoted words, rather than reported speech
    piece: int = 0  # which of the pieces given to find_quotes holds it
    # Where the article last gave the speaker's full name, when the quoting sentence does not
    # ("..., he said"): that sentence's start, end, text and piece.
    named: tuple[int, int, str, int] | None = None


def find_quotes(segments: Iterable[tuple[int, str]]) -> list[Quote]:
    """The quotes of an article given as (offset, text) pieces in order (its whole text, or its
    chunks), with speakers resolved across the pieces."""
    out: list[Quote] = []
    names: list[str] = []  # full names met so far, latest last
    before: list[str] = []  # the full names of the sentence before
    where: dict[str, tuple[int, int, str, int]] = {}  # full name -> the sentence that gave it
    for piece, (offset, text) in enumerate(segments):
        for a, b in sentence_spans(text):
            sentence = text[a:b]
            if len(sentence) > MAX_SENTENCE:
                continue  # not prose, and the patterns would take time quadratic in it
            found = _quote_in(sentence)
            met = _full_names(sentence)
            names += met
            for name in met:
                where[name] = (offset + a, offset + b, sentence, piece)
            recent, before = [*before, *met], met
            if found is None:
                continue
            who, said, verb, direct = found
            speaker = _resolve(who, names, out, recent)
            if speaker:
                named = None if speaker in sentence else where.get(speaker)
                out.append(
                    Quote(
                        offset + a,
                        offset + b,
                        sentence,
                        speaker,
                        said.strip(),
                        verb,
                        direct,
                        piece,
                        named,
                    )
                )
                if " " in speaker:
                    names.append(speaker)
                    where.setdefault(speaker, (offset + a, offset + b, sentence, piece))
    return out


def speaks(quote: Quote, speaker: str) -> bool:
    """Whether the quote's speaker is the one named: every word of the name is in the speaker's
    name, case aside ("Toner" and "mark toner" both name Mark Toner)."""
    wanted = speaker.lower().split()
    have = quote.speaker.lower().split()
    return bool(wanted) and all(w in have for w in wanted)


def _quote_in(sentence: str) -> tuple[str, str, str, bool] | None:
    if m := _AFTER.search(sentence):
        return (
            m.group("who") or m.group("who2"),
            m.group("said"),
            m.group("verb") or m.group("verb2"),
            True,
        )
    if m := _BEFORE.search(sentence):
        return m.group("who"), m.group("said"), m.group("verb"), True
    if m := _REPORTED.search(sentence):
        return m.group("who"), m.group("said"), m.group("verb"), False
    if m := _ACCORDING.search(sentence):
        rest = (sentence[: m.start()] + sentence[m.end() :]).strip(" ,.")
        return m.group("who"), rest, "according to", False
    return None


def _resolve(who: str, names: list[str], earlier: list[Quote], recent: list[str]) -> str | None:
    """The speaker's full name: titles off, a surname resolved to the last full name it ends,
    a pronoun to the last person named in this sentence or the one before, else to the speaker
    of the quote before."""
    if re.fullmatch(_PRONOUN, who):
        if recent:
            return recent[-1]
        return earlier[-1].speaker if earlier else None
    words = who.strip(" .,;:").split()
    while len(words) > 1 and words[0].lower().strip(".") in _TITLES:
        words = words[1:]
    if not words or words[0].lower() in _TITLES:
        return None
    if len(words) == 1:
        for name in reversed(names):
            if name.split()[-1] == words[0]:
                return name
    return " ".join(words)


def _full_names(sentence: str) -> list[str]:
    """Runs of two or more capitalised words, titles off: the names a surname may refer to."""
    out = []
    for m in re.finditer(_NAME, sentence):
        words = m.group().split()
        while words and words[0].lower().strip(".") in _TITLES:
            words = words[1:]
        if len(words) >= 2:
            out.append(" ".join(words))
    return out
