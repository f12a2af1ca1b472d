"""Claims: the stretches of an answer's text, each checked against the passages it cites.

An answer's text is read as footnoted prose: each stretch of text that ends in citation markers
("... not aware of the strikes [1][2].") is one claim, and those markers are its sources. A
claim is supported when every term it uses is a term of its cited passages, of the question it
answers, or a verb of attribution ("said"); every number and every name in it is in its cited
passages, a negation in it is in them too, and it says at least one thing they say. That is a
lexical check, not an entailment model: it lets a writer rephrase and shorten a passage but not
bring in a fact, a figure, a name or a "not" of its own. Text after the last marker may hold no
terms at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from qa.text import sentence_spans, tokenize

# Markers as the citations module writes them; a group of them ("[1][3]", "[1, 3]") ends a claim.
_GROUP = re.compile(r"(?:\s*\[\d+(?:\s*,\s*\d+)*\])+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
# Verbs of attribution a writer may use for any of them: "Toner said" for "Toner stated".
_REPORTING = "say said says stated states told tells added adds noted according reported"
# Stopwords that change what a claim says ("over 5,000" is not "nearly 5,000"): a claim may use
# one only when its cited passages or its question do.
_QUALIFIERS_WORDS = """
    over under above below more most less least fewer few only all any every each both
    before after against than nearly almost about up down off out again further very too
"""
_QUALIFIERS = frozenset(_QUALIFIERS_WORDS.split())
_LABEL = re.compile(
    r"^\s*(?:(?:the\s+)?answer(?:\s+is)?|sentence\s*\[?\d+\]?|\[?\d+\]?)\s*[:.)-]\s+", re.IGNORECASE
)
_WORD = re.compile(r"[\w’'-]+")
# Stopword lists hold "won" (as in "won't"), but in a claim it is the past of "win", a fact of
# its own: "Reyes lost" does not support "Reyes won". Such words count as terms here.
_CONTENT_STOPWORDS = frozenset({"won"})
_NEGATION = re.compile(
    r"\b(?:not|no|never|nor|none|nobody|nothing|neither|nowhere|cannot|without)\b|n[’']t\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    """One stretch of an answer and the citation numbers that end it (none for trailing text)."""

    text: str
    cites: tuple[int, ...]


def claims(answer: str) -> list[Claim]:
    """The answer cut into claims at its marker groups, in order; trailing text comes last with
    no citations (and only when it holds more than punctuation or space)."""
    out: list[Claim] = []
    at = 0
    for group in _GROUP.finditer(answer):
        numbers = tuple(int(n) for n in re.findall(r"\d+", group.group()))
        out.append(Claim(answer[at : group.start()].strip(), tuple(dict.fromkeys(numbers))))
        at = group.end()
    rest = answer[at:].strip()
    if rest.strip(" .,;:!?…\"'”’)"):
        out.append(Claim(rest, ()))
    return out


def unsupported(
    claim: Claim, sources: Mapping[int, str], question: str = "", on_topic: bool = False
) -> str | None:
    """Why the claim is not supported by its cited sources (numbered texts), or None if it is.

    With on_topic, a claim must also cite a passage that shares a term with the question, so a
    writer cannot answer from a passage about something else (an instruction planted in an
    article, say)."""
    if not claim.cites:
        return "it cites no passage"
    missing = [n for n in claim.cites if n not in sources]
    if missing:
        return f"it cites [{missing[0]}], which is not among its sources"
    cited = _plain_numbers(" ".join(sources[n] for n in claim.cites))
    text = _plain_numbers(claim.text)
    cited_terms = set(_terms(cited))
    terms = _terms(text)
    asked = set(_terms(question))
    if on_topic and asked and not asked & cited_terms:
        return "its cited passages share no term with the question"
    allowed = cited_terms | asked | _reporting()
    extra = [t for t in terms if t not in allowed]
    if extra:
        return f"its term {extra[0]!r} is in neither the cited passages nor the question"
    if terms and not cited_terms.intersection(terms):
        return "it says nothing its cited passages say"
    cited_numbers = set(_NUMBER.findall(cited))
    numbers = [n for n in _NUMBER.findall(text) if n not in cited_numbers]
    if numbers:
        return f"its number {numbers[0]!r} is not in the cited passages"
    cited_words = {w.lower() for w in _WORD.findall(cited)}
    names = [w for w in _names(text) if w.lower() not in cited_words]
    if names:
        return f"its name {names[0]!r} is not in the cited passages"
    said = cited_words | {w.lower() for w in _WORD.findall(question)}
    qualifiers = [w for w in _WORD.findall(text) if w.lower() in _QUALIFIERS - said]
    if qualifiers:
        return f"its qualifier {qualifiers[0]!r} is in neither the cited passages nor the question"
    if _NEGATION.search(text) and not _NEGATION.search(cited):
        return "it negates what its cited passages do not"
    return None


def unsupported_claims(
    answer: str, sources: Mapping[int, str], question: str = ""
) -> list[tuple[Claim, str]]:
    """Every claim of the answer that its sources do not support, with the reason."""
    found = []
    for claim in claims(answer):
        reason = unsupported(claim, sources, question)
        if reason is not None:
            found.append((claim, reason))
    return found


def attributed(answer: str, sources: Mapping[int, str], question: str = "") -> str:
    """The answer with each sentence that cites nothing given the first source (in the order
    given, best first) that supports it on its own, and with labels such as "Answer:" or
    "Sentence 2:" taken off its sentences. Small models often write a supported sentence and
    forget its marker; this finds the passage it came from instead of losing it."""
    out: list[str] = []
    for start, end in sentence_spans(answer):
        sentence = _LABEL.sub("", answer[start:end]).strip()
        lead = _GROUP.match(sentence)
        if lead:  # a marker that starts a sentence: "X. [1] Y" or "[2] The cranes cost..."
            group, sentence = lead.group().strip(), sentence[lead.end() :].lstrip(" .:-").strip()
            if out and not _GROUP.search(out[-1]):
                out[-1] = f"{out[-1].rstrip(' .')} {group}."  # it ends the sentence before
            elif sentence and not _GROUP.search(sentence):
                sentence = f"{sentence.rstrip(' .')} {group}."
        out.append(sentence)
    for i, sentence in enumerate(out):
        if sentence and not _GROUP.search(sentence):
            for n in sources:
                if unsupported(Claim(sentence, (n,)), sources, question, on_topic=True) is None:
                    out[i] = f"{sentence.rstrip(' .')} [{n}]."
                    break
    return " ".join(s for s in out if s)


def supported_text(
    answer: str, sources: Mapping[int, str], question: str = "", on_topic: bool = True
) -> tuple[str, tuple[int, ...], int]:
    """The answer with its unsupported claims dropped: the kept text (markers as written), the
    citation numbers it still uses in order, and how many claims were dropped."""
    kept: list[str] = []
    used: list[int] = []
    dropped = 0
    for claim in claims(answer):
        says = _has_terms(claim.text)
        if claim.cites and says and unsupported(claim, sources, question, on_topic) is None:
            body = " ".join(claim.text.split()).strip(" .,;:")
            marks = "".join(f"[{n}]" for n in claim.cites)
            kept.append(f"{body} {marks}.")
            used += [n for n in claim.cites if n not in used]
        elif claim.cites or says:
            dropped += 1
    return " ".join(kept), tuple(used), dropped


@cache
def _reporting() -> frozenset[str]:
    return frozenset(tokenize([_REPORTING])[0])


def _terms(text: str) -> list[str]:
    """The text's search terms, with the words of _CONTENT_STOPWORDS it holds."""
    kept = [w.lower() for w in _WORD.findall(text) if w.lower() in _CONTENT_STOPWORDS]
    return tokenize([text])[0] + kept


def _has_terms(text: str) -> bool:
    return bool(tokenize([text])[0])


def _names(text: str) -> list[str]:
    """Capitalised words that do not start the text or a sentence: taken for names."""
    out = []
    for m in _WORD.finditer(text):
        word, before = m.group(), text[: m.start()].rstrip()
        if word[0].isupper() and before and before[-1] not in ".!?:\"“'‘([":
            out.append(word)
    return out


def _plain_numbers(text: str) -> str:
    """The text with thousands separators taken out of its numbers, so "2,000" is "2000"."""
    return _THOUSANDS.sub("", text)


def verify_claims(answer: str, sources: Mapping[int, str], question: str = "") -> None:
    """Refuses an answer that holds a claim its cited sources do not support."""
    from qa.errors import CitationError

    for claim, reason in unsupported_claims(answer, sources, question):
        raise CitationError(f"the claim {claim.text!r} is refused: {reason}")
