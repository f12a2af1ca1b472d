"""Follow-up questions: pronouns and ellipsis resolved from earlier turns."""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.answer.candidates import best_span, candidates, question_kind
from qa.types import Turn

_PERSONAL = re.compile(r"\b(he|she|him|his|her|hers)\b", re.IGNORECASE)
_THING = re.compile(r"\b(it|its|there|they|them|their|this|that)\b", re.IGNORECASE)
_ELLIPSIS = re.compile(
    r"^\s*(?:and|what about|how about|and what about)\s+(.+?)\s*\??\s*$", re.IGNORECASE
)
# Pronouns that refer back only when nothing in the question itself could be meant.
_DEMONSTRATIVE = {"this", "that", "they", "them", "their"}


def standalone_question(question: str, history: Sequence[Turn]) -> str:
    """The question rewritten so it can be understood without the conversation."""
    question = " ".join(question.split())
    previous = _last_exchange(history)
    if previous is None:
        return question
    prev_question, prev_answer, earlier = previous
    # The previous question may itself have been a follow-up: read it as it was understood.
    prev_question = standalone_question(prev_question, earlier)
    ellipsis = _ELLIPSIS.match(question)
    if ellipsis:
        return _fill_ellipsis(prev_question, ellipsis.group(1))
    entity = _answer_entity(prev_question, prev_answer)
    if entity is None:
        return question
    is_person = question_kind(prev_question) == "person"
    pattern = _PERSONAL if is_person else _THING

    def swap(match: re.Match[str]) -> str:
        word = match.group().lower()
        if not is_person and word in _DEMONSTRATIVE and _has_own_subject(question):
            return match.group()
        possessive = word in ("his", "its", "their", "hers") or (
            word == "her" and _followed_by_noun(question, match.end())
        )
        return f"{entity}'s" if possessive else entity

    rewritten, count = pattern.subn(swap, question, count=1)
    return rewritten if count else question


def _last_exchange(history: Sequence[Turn]) -> tuple[str, str, Sequence[Turn]] | None:
    """The most recent user question, the answer that followed it, and the turns before it."""
    answer = ""
    for i in range(len(history) - 1, -1, -1):
        turn = history[i]
        if turn.role == "assistant" and not answer:
            answer = turn.content
        elif turn.role == "user":
            return turn.content, answer, history[:i]
    return None


def _answer_entity(prev_question: str, prev_answer: str) -> str | None:
    """What the previous exchange was about: its answer's name, else the question's own."""
    kind = question_kind(prev_question)
    if prev_answer:
        text = re.sub(r"\[\d+\]", "", prev_answer)
        span = best_span(text, prev_question, "person" if kind == "person" else "name")
        if span is not None:
            return span.text
    # No answer to lean on: the named thing the previous question asked about.
    names = [s.text for s in candidates(prev_question, "name") if s.start > 0]
    return names[-1] if names else None


def _fill_ellipsis(prev_question: str, fragment: str) -> str:
    """ "And in Syria?" after "How many strikes in Iraq?" -> "How many strikes in Syria?"."""
    fragment = fragment.strip().rstrip("?")
    prep = re.match(r"(in|at|on|for|from|to|by|during|of)\s+(.+)", fragment, re.IGNORECASE)
    if prep:
        same = re.search(
            rf"\b{prep.group(1)}\s+[A-Z0-9][\w’'-]*(?:\s+[A-Z0-9][\w’'-]*)*", prev_question
        )
        if same:
            return prev_question[: same.start()] + fragment + prev_question[same.end() :]
    names = [s for s in candidates(prev_question, "name") if s.start > 0]
    if names:
        last = names[-1]
        return prev_question[: last.start] + fragment + prev_question[last.end :]
    return f"{prev_question.rstrip('?')} {fragment}?"


def _has_own_subject(question: str) -> bool:
    return bool(re.search(r"\b(this|that)\s+[a-z]+", question, re.IGNORECASE))


def _followed_by_noun(question: str, at: int) -> bool:
    rest = question[at:].strip()
    return bool(rest) and not rest.startswith(("?", ".", ","))
