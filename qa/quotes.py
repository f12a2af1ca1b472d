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

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from qa.text import sentence_spans

VERBS = (
    "said|says|say|told|tells|added|adds|stated|states|explained|warned|claimed|claims|denied|"
    "denies|confirmed|confirms|insisted|argued|noted|announced|admitted|acknowledged|urged|"
    "asked|replied|wrote|declared|described|promised|vowed|continued|revealed|conceded|stressed|"
    "maintained|reiterated|predicted|recalled|complained|suggested|commented|responded|rejected|"
    "dismissed|believes|thinks"
)
# A name: up to six capitalised words, with the particles of names between them.
_NAME = r"[A-Z][\w’'.-]*(?:\s+(?:[A-Z][\w’'.-]*|(?:al|bin|de|van|von|der)\b)){0,5}"
_PRONOUN = r"[Hh]e|[Ss]he|[Tt]hey|It"
_OPEN, _CLOSE = '["“]', '["”]'
_WORDS_QUOTED = '[^"“”]{8,}?'
_ADVERB = r"(?:also|\w+ly)\s+"  # "also said", "previously confirmed"
_APPOSITIVE = r"(?:,\s+[^,;\"“”]{3,60}?,)?"  # "Janie Hendrix, the guitarist's stepsister, said"

# A description before a name after the verb: "said operations director Anders Holm".
_DESCRIBED = r"(?:(?!(?:in|on|at|to|for|with|by|that|it|this)\b)[a-z][\w-]*\s+){0,3}"
# The quoted words open the sentence, or the sentence ends a quotation opened before it.
_AFTER = re.compile(
    rf"(?:{_OPEN}|^\s*)(?P<said>{_WORDS_QUOTED})[,.!?]?{_CLOSE},?\s+"
    rf"(?:(?P<who>{_NAME}|{_PRONOUN})\s+(?:{_ADVERB})?(?P<verb>{VERBS})\b"
    rf"|(?P<verb2>said|says|added|asked|wrote)\s+{_DESCRIBED}(?P<who2>{_NAME}))"
)
_BEFORE = re.compile(
    rf"(?P<who>{_NAME}|{_PRONOUN}){_APPOSITIVE}\s+(?:{_ADVERB})?(?P<verb>{VERBS})\b[^\"“”]{{0,40}}?[:,]?\s*"
    rf"{_OPEN}(?P<said>{_WORDS_QUOTED}){_CLOSE}"
)
_REPORTED = re.compile(
    rf"(?P<who>{_NAME}|{_PRONOUN}){_APPOSITIVE}\s+(?:{_ADVERB})?(?P<verb>{VERBS})\b"
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
# Capitalised words that open sentences but name nobody ("We've simply asked that...").
_NOBODY_WORDS = """
    i i'm i've we we've we're you you've this that these those there one however meanwhile
    although while when if after before since so yet still now then today yesterday earlier
    later last next within during through from by for with without under over about among
    despite across
"""
_NOBODY = frozenset(_NOBODY_WORDS.split())


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
    last: Quote | None = None  # the quote of the sentence before, if it had one
    open_quote = False  # whether a quotation runs on from the sentence before
    subject: str | None = None  # who the sentence before is about, when it opens with a name
    # The sentences of an open quotation before any names its speaker: (start, end, sentence,
    # piece, the index in `out` of the quote it was taken for, if any).
    opening: list[tuple[int, int, str, int, int | None]] = []
    for piece, (offset, text) in enumerate(segments):
        end_before = 0
        for a, b in _joined(text, sentence_spans(text)):
            sentence = text[a:b]
            if "\n" in text[end_before:a]:
                open_quote = False  # a quotation left open ends with its paragraph
                opening = []
            end_before = b
            if len(sentence) > MAX_SENTENCE:
                last, open_quote, opening = None, False, []
                continue  # not prose, and the patterns would take time quadratic in it
            inside, open_quote = open_quote, _still_open(sentence, open_quote)
            found = _quote_in(sentence)
            met = _full_names(sentence)
            names += met
            for name in met:
                where[name] = (offset + a, offset + b, sentence, piece)
            recent, before = [*before, *met], met
            subject, subject_before = _subject(sentence), subject
            speaker = None
            if found is not None:
                who, said, verb, direct = found
                speaker = _resolve(who, names, out, recent, last, subject_before)
            if speaker is None:
                if last is not None and (inside or sentence.lstrip()[:1] in '"“'):
                    # A sentence of a quotation that runs on, or a new quotation right after
                    # one, with no speaker of its own: the speaker of the quote before.
                    last = replace(
                        last,
                        start=offset + a,
                        end=offset + b,
                        sentence=sentence,
                        said=sentence.strip(' "“”'),
                        direct=True,
                        piece=piece,
                        named=None if last.speaker in sentence else where.get(last.speaker),
                    )
                    out.append(last)
                    at: int | None = len(out) - 1
                else:
                    last, at = None, None
                # A quotation still open may name its speaker in a later sentence, who then
                # said this one too (a new paragraph's quotation, "..., said Holm").
                opening = [*opening, (offset + a, offset + b, sentence, piece, at)][-3:]
                if not open_quote:
                    opening = []
                continue
            if speaker:
                named = None if speaker in sentence else where.get(speaker)
                if inside:
                    for start, end, earlier, part, index in opening:
                        quote = Quote(
                            start,
                            end,
                            earlier,
                            speaker,
                            earlier.strip(' "“”'),
                            verb,
                            True,
                            part,
                            None if speaker in earlier else where.get(speaker),
                        )
                        if index is None:
                            out.append(quote)
                        else:
                            out[index] = quote
                opening = []
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
                last = out[-1]
                if " " in speaker:
                    names.append(speaker)
                    where.setdefault(speaker, (offset + a, offset + b, sentence, piece))
    return out


def _joined(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence spans with a quotation's attribution put back on it: Punkt ends a sentence
    at '?"' or '!"', leaving 'he said.' alone."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if (
            out
            and re.search(r"[?!][\"”]$", text[out[-1][0] : out[-1][1]])
            and re.match(r"[a-z]", text[a:b])
            and "\n" not in text[out[-1][1] : a]
        ):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _still_open(sentence: str, was_open: bool) -> bool:
    """Whether a quotation is open at the end of the sentence: straight marks toggle, curly ones
    open and close."""
    curly = sentence.count("“") - sentence.count("”")
    if curly:
        return curly > 0
    if sentence.lstrip().startswith('"'):  # a new quotation, whether or not the last was closed
        was_open = False
    return was_open != (sentence.count('"') % 2 == 1)


def _subject(sentence: str) -> str | None:
    """The name a sentence opens with, titles and conjunctions off ("But Edu was..." -> "Edu"):
    whom a "he" or "she" in the next sentence most likely means."""
    m = re.match(rf"\s*(?:{_NAME})", sentence)
    if m is None:
        return None
    words = _unqualified(m.group().split())
    if not words or words[0].lower() in _TITLES or words[0].lower() in _NOBODY:
        return None
    return " ".join(words)


def article_quotes(chunks: Sequence[tuple[int, int, str]]) -> list[Quote]:
    """The quotes of an article given as its chunks (number, offset, text) in order, each
    quote's `piece` the number of the chunk that holds it."""
    numbers = [n for n, _, _ in chunks]
    found = find_quotes((start, text) for _, start, text in chunks)
    return [
        replace(
            q,
            piece=numbers[q.piece],
            named=None if q.named is None else (*q.named[:3], numbers[q.named[3]]),
        )
        for q in found
    ]


def encode(quotes: Sequence[Quote]) -> str:
    """Quotes as compact JSON for an article record: offsets into the article text instead of
    its sentences."""
    return json.dumps(
        [
            [q.start, q.end, q.speaker, q.said, q.verb, int(q.direct), q.piece]
            + ([q.named[0], q.named[1], q.named[3]] if q.named else [])
            for q in quotes
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode(stored: str, text: str) -> list[Quote]:
    """The quotes `encode` wrote, their sentences taken from the article text. Raises ValueError
    on a record that does not fit the text."""
    out = []
    for row in json.loads(stored):
        start, end, speaker, said, verb, direct, piece, *named = row
        if not (0 <= start < end <= len(text)):
            raise ValueError(f"quote offsets {start}:{end} outside the article")
        where = None
        if named:
            a, b, n = named
            if not (0 <= a < b <= len(text)):
                raise ValueError(f"naming offsets {a}:{b} outside the article")
            where = (a, b, text[a:b], n)
        out.append(
            Quote(start, end, text[start:end], speaker, said, verb, bool(direct), piece, where)
        )
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


def _resolve(
    who: str,
    names: list[str],
    earlier: list[Quote],
    recent: list[str],
    last: Quote | None,
    subject: str | None,
) -> str | None:
    """The speaker's full name: titles and a possessive ("Arsenal's Edu") off, a surname
    resolved to the last full name it ends, a pronoun to the speaker of the sentence before
    when it quoted someone, else to the name that sentence opens with, else to the last person
    named in this sentence or the one before, else to the speaker of the quote before."""
    if re.fullmatch(_PRONOUN, who):
        if last is not None:
            return last.speaker
        if subject is not None and who.lower() != "it":
            return _resolve(subject, names, earlier, [], None, None)
        if recent:
            return recent[-1]
        return earlier[-1].speaker if earlier else None
    words = _unqualified(who.strip(" .,;:").split())
    if not words or words[0].lower() in _TITLES or words[0].lower() in _NOBODY:
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
        words = _unqualified(m.group().split())
        if len(words) >= 2 and words[0].lower() not in _TITLES:
            out.append(" ".join(words))
    return out


def bare_name(name: str) -> str:
    """A name as speakers are kept: without titles, owners and a possessive ("Sir John
    Bourn" -> "John Bourn")."""
    return " ".join(_unqualified(name.split()))


def _unqualified(words: list[str]) -> list[str]:
    """A name's words without leading titles and owners ("Spokesman", "Arsenal's") or a trailing
    possessive ("Manchester United's")."""
    while len(words) > 1 and (
        words[0].lower().strip(".") in _TITLES
        or re.search(r"['’]s?$", words[0])
        or re.fullmatch(r"[A-Z][a-z]*-[a-z][\w-]*", words[0])  # "Fly-half", "Ex-minister"
    ):
        words = words[1:]
    if words:
        words[-1] = re.sub(r"(['’]s?|\.)$", "", words[-1])
    return [w for w in words if w]
