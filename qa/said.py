"""Questions about who said what, read for their parts, and the checks their answers pass.

Three kinds of question get answers built from the quotes qa/quotes.py finds:

    Who said "we're innocent"?                  the quoted words: the speaker of the quote
    Who denied that the city threatened...?     an attribution verb: the speaker of the answer
    What did Tzekos say about the decision?     a speaker (and a topic): that speaker's quotes

An answer to the third kind must quote the speaker (a sentence the quote patterns attribute to
them, or one naming them with a verb of saying where the patterns found no quote) and, when a
topic is asked about, hold all its terms; otherwise the articles do not say what that speaker
said about it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from qa.answer.decisions import is_survey
from qa.quotes import VERBS, Quote, bare_name, speaks
from qa.text import tokenize

# "Who said 'not aware'?"
_WHO_SAID = re.compile(
    r"^\s*who\s+(?:said|says|told|wrote|stated|declared)\b[^\"“‘']*[\"“‘']"
    r"(?P<words>[^\"”’]{3,}?)[\"”’']",
    re.IGNORECASE,
)
# "Who denied that ...?", "who insisted he had nothing to hide"
_WHO_VERB = re.compile(
    rf"^\s*who\s+(?:(?:has|had|have)\s+)?(?P<verb>{VERBS}|say|tell|deny|claim|confirm|admit|"
    r"insist|warn|describe)\b\s*(?P<rest>.*?)[\s?]*$",
    re.IGNORECASE,
)
# "What did X say (about Y)?", "what has the Pentagon confirmed"
_WHAT_SAID = re.compile(
    r"^\s*what\s+(?:did|does|do|has|have|had)\s+(?P<who>.+?)\s+(?P<verb>say|said|tell|told|"
    r"confirm(?:ed)?|den(?:y|ied)|claim(?:ed)?|admit(?:ted)?|announce[d]?|warn(?:ed)?|"
    r"reveal(?:ed)?|predict(?:ed)?|promise[d]?|write|wrote|written|think|suggest(?:ed)?|"
    r"argue[d]?|insist(?:ed)?|repl(?:y|ied)|respond(?:ed)?|add(?:ed)?|explain(?:ed)?)\b"
    r"(?:\s+(?P<prep>about|of|on|regarding|concerning|over)\b)?(?P<about>.*?)[\s?]*$",
    re.IGNORECASE,
)
_LEADING = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s?\b")

# Verbs of denial: "Who denied ...?" is answered by a denial, or a quote that says "not".
_KINDS = {"deny": "denied denies deny rejected rejects dismissed dismisses"}
_KIND_OF = {word: kind for kind, words in _KINDS.items() for word in words.split()}


@dataclass(frozen=True)
class SaidQuestion:
    """What a who-said-what question asks: `kind` is "quoted" (the quoted `words`), "who"
    (the speaker of `rest`, said with `verb`) or "what" (what `speaker` said: `about` a topic
    when the question names one with "about", "on"..., and `rest`, the words after the verb)."""

    kind: str
    words: str = ""
    verb: str = ""
    rest: str = ""
    speaker: str = ""
    about: str = ""


def read_question(question: str) -> SaidQuestion | None:
    """The question's parts when it asks who said what, else None."""
    if m := _WHO_SAID.match(question):
        return SaidQuestion("quoted", words=" ".join(m.group("words").lower().split()))
    if (m := _WHO_VERB.match(question)) and m.group("rest"):
        return SaidQuestion("who", verb=m.group("verb").lower(), rest=m.group("rest"))
    if is_survey(question):  # "What do the articles say about ...?" asks for several
        return None
    if m := _WHAT_SAID.match(question):
        speaker = bare_name(_POSSESSIVE.sub("", _LEADING.sub("", m.group("who").strip())))
        if speaker and not re.fullmatch(r"(?:you|i|we|they|it|he|she)", speaker, re.I):
            rest = " ".join(filter(None, [m.group("prep"), m.group("about").strip()]))
            return SaidQuestion(
                "what",
                verb=m.group("verb").lower(),
                speaker=speaker,
                about=m.group("about").strip() if m.group("prep") else "",
                rest=rest,
            )
    return None


_NEGATION = re.compile(r"\b(?:not|never|no|nothing|n['’]t|cannot|deny|denies|denied)\b", re.I)


def says_who(said: SaidQuestion, quote: Quote) -> bool:
    """Whether a quote can answer "Who <verb> ...?": any can, but a denial ("Who denied ...?")
    needs a denying verb or a negation in what is said ("not aware")."""
    if _KIND_OF.get(said.verb) != "deny":
        return True
    return _KIND_OF.get(quote.verb) == "deny" or bool(_NEGATION.search(quote.said))


def quoting(words: str, quote: Quote) -> int:
    """How literally a quote holds the words a question quotes: 3 as the whole of a quotation
    in its sentence ('he was “not aware” of'), 2 inside one, 1 in what it quotes directly,
    else 0."""
    marked = [
        " ".join(m.lower().split()).strip(" ,.!?;:")
        for m in re.findall(r"[\"“]([^\"“”]+)[\"”]", quote.sentence)
    ]
    if words.strip(" ,.!?;:") in marked:
        return 3
    if any(words in m for m in marked):
        return 2
    return int(quote.direct and words in " ".join(quote.said.lower().split()))


def quoted_by(quote: Quote | None, sentence: str, speaker: str) -> bool:
    """Whether a sentence quotes the speaker: a quote the patterns give to them, or, where the
    patterns found no quote, a sentence naming them (every word of the name) with quotation
    marks or an attribution verb ("X, writing in The Times, said")."""
    if quote is not None:  # the patterns know whose it is
        return speaks(quote, speaker) or _describes(quote, speaker)
    words = set(re.findall(r"[\w’'-]+", sentence.lower()))
    named = all(w in words for w in speaker.lower().split())
    return named and bool(
        re.search(r"[\"“”]", sentence)
        or re.search(rf"\b(?:{VERBS}|according\s+to)\b", sentence, re.I)
    )


def about_them(said: SaidQuestion) -> str:
    """The question asked of a speaker's own quotes, without the speaker: their quotes seldom
    name them ("..., he said"), and a reader looks for the names a question gives."""
    verb = _BASE.get(said.verb, said.verb)
    return f"What did they {' '.join(filter(None, [verb, said.rest]))}?"


_PAST = """
    said:say told:tell wrote:write written:write confirmed:confirm denied:deny claimed:claim
    admitted:admit announced:announce warned:warn revealed:reveal predicted:predict
    promised:promise suggested:suggest argued:argue insisted:insist replied:reply
    responded:respond added:add explained:explain
"""
_BASE = dict(pair.split(":") for pair in _PAST.split())


def _describes(quote: Quote, speaker: str) -> bool:
    """Whether the words asked for ("the OECD chief economist") are all in the sentence that
    names the quote's speaker, as a title or description beside the name."""
    named = quote.named[2] if quote.named else quote.sentence
    have = set(tokenize([named])[0])
    want = tokenize([speaker])[0]
    return bool(want) and all(w in have for w in want)


def covers(about: str, sentences: Iterable[str]) -> bool:
    """Whether the sentences hold every term of the topic asked about ("the price of RipGuard"
    is not covered by a quote about RipGuard alone). A term is held by the same stem or one
    sharing its first five letters ("bribery", "bribe")."""
    topic = set(tokenize([about])[0])
    have = {t for s in sentences for t in tokenize([s])[0]}
    return all(t in have or any(_kin(t, h) for h in have) for t in topic)


def _kin(a: str, b: str) -> bool:
    return len(a) >= 5 and len(b) >= 5 and a[:5] == b[:5]
