"""Text helpers every part shares: sentences, words, search terms, and the NLTK data behind them.

The NLTK data (Punkt sentences, English stopwords) is the copy llama-index ships, so nothing
is downloaded.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

# A word as questions and sentences are read: letters, digits, apostrophes and hyphens
# ("Iraq's", "al-Assad", "F-16s").
WORD = re.compile(r"[\w’'-]+")
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern
_PARAGRAPH = re.compile(r"[^\n]+")


def nltk_data(name: str) -> Path:
    """A file of the NLTK data llama-index ships, found without importing llama-index (over a
    second, after torch and transformers, that a command splitting sentences need not spend)."""
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("llama-index is not installed: pip install article-qa")
    return Path(spec.submodule_search_locations[0]) / "_static" / "nltk_cache" / name


@cache
def _punkt() -> object:
    """The trained English Punkt model."""
    import nltk
    from nltk.tokenize.punkt import PunktTokenizer

    if str(nltk_data("")) not in nltk.data.path:
        nltk.data.path.append(str(nltk_data("")))
    return PunktTokenizer("english")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; line breaks always end a sentence (headlines, credits)."""
    punkt = _punkt()
    spans: list[tuple[int, int]] = []
    for para in _PARAGRAPH.finditer(text):
        base = para.start()
        for start, end in punkt.span_tokenize(para.group()):  # type: ignore[attr-defined]
            if text[base + start : base + end].strip():
                spans.append((base + start, base + end))
    return spans


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lowercased, stemmed, stopword-free terms, the same for chunks and questions.

    What bm25s.tokenize does with its defaults, without its per-call progress-bar machinery,
    which dominated the answerer's many short calls.
    """
    stop, stem = _stopword_set(), _stemmer().stemWords  # type: ignore[attr-defined]
    return [
        stem([_number_plural(t) for t in _TOKEN.findall(text.lower()) if t not in stop])
        for text in texts
    ]


def _number_plural(token: str) -> str:
    """ "16s" -> "16", "1990s" -> "1990": the stemmer leaves a number's plural alone, so "the
    F-16s" would never match "an F-16"."""
    return token[:-1] if token[-1] == "s" and token[:-1].isdigit() else token


@cache
def _stopword_set() -> frozenset[str]:
    """NLTK's English stopwords and bm25s's own list."""
    from bm25s.stopwords import STOPWORDS_EN

    found = set(STOPWORDS_EN)
    found.update(nltk_data("corpora/stopwords/english").read_text().split())
    return frozenset(found)


@cache
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")
