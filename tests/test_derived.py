"""The derived-data cache (qa/index/derived.py): a new process reuses the BM25 terms and copy
fingerprints an earlier one derived, and a stale or damaged file never changes a result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa.index.retriever as retriever_module
from qa.index.derived import DerivedCache, digest
from qa.index.duplicates import fingerprint
from qa.service import Service
from qa.settings import Settings
from qa.text import tokenize
from tests.conftest import FIXTURES, SEEDS


class Counted:
    """Wraps a derivation, counting the texts it is asked for."""

    def __init__(self, fn, per_call_texts: bool) -> None:  # type: ignore[no-untyped-def]
        self.fn, self.per_call_texts, self.texts = fn, per_call_texts, 0

    def __call__(self, arg):  # type: ignore[no-untyped-def]
        self.texts += len(arg) if self.per_call_texts else 1
        return self.fn(arg)


def _snapshot(service: Service) -> tuple[dict[str, list[str]], dict[str, tuple[str, ...]]]:
    snap = service.retriever.refresh(force=True)
    by_text = {
        f"{e.chunk.article_id}:{e.chunk.n}": service.retriever._tokens[retriever_module._key(e)]
        for e in snap.lexical.entries
    }
    return by_text, snap.groups


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> tuple[Counted, Counted]:
    terms, prints = Counted(tokenize, True), Counted(fingerprint, False)
    monkeypatch.setattr(retriever_module, "tokenize", terms)
    monkeypatch.setattr(retriever_module, "fingerprint", prints)
    return terms, prints


def test_a_new_process_reuses_what_an_earlier_one_derived(
    settings: Settings,
    embedder,
    counted,  # type: ignore[no-untyped-def]
) -> None:
    terms, prints = counted
    with Service(settings, embedder=embedder) as first:
        first.ingest([FIXTURES, SEEDS])
        want = _snapshot(first)
    derived_terms, derived_prints = terms.texts, prints.texts
    assert derived_terms > 0 and derived_prints > 0
    cache = Path(settings.data_dir) / f"{settings.collection_prefix}_derived.json"
    assert cache.exists()
    with Service(settings, embedder=embedder) as second:
        assert _snapshot(second) == want
        # Only the few entries checked against a fresh derivation were derived again.
        assert terms.texts - derived_terms <= 3 and prints.texts - derived_prints <= 3
        assert second.ask("Who denied awareness of the airstrikes?").short_answer == "Mark Toner"


def test_a_stale_cache_is_dropped_and_derived_again(
    settings: Settings,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    with Service(settings, embedder=embedder) as first:
        first.ingest([FIXTURES, SEEDS])
        want = _snapshot(first)
    cache = Path(settings.data_dir) / f"{settings.collection_prefix}_derived.json"
    data = json.loads(cache.read_text())
    # As if the tokenizer had changed since the file was written: every entry's terms differ.
    data["terms"] = {k: "stale terms" for k in data["terms"]}
    cache.write_text(json.dumps(data))
    with Service(settings, embedder=embedder) as second:
        assert _snapshot(second) == want


@pytest.mark.parametrize("content", [b"", b"\x00\xff not json", b'{"format": 999}', b"[]"])
def test_a_damaged_cache_is_ignored(
    settings: Settings,
    embedder,
    content: bytes,  # type: ignore[no-untyped-def]
) -> None:
    with Service(settings, embedder=embedder) as first:
        first.ingest([FIXTURES, SEEDS])
        want = _snapshot(first)
    cache = Path(settings.data_dir) / f"{settings.collection_prefix}_derived.json"
    cache.write_bytes(content)
    with Service(settings, embedder=embedder) as second:
        assert _snapshot(second) == want
    assert json.loads(cache.read_text())["format"] != 999  # written again, whole


def test_entries_of_removed_articles_leave_the_file(
    settings: Settings,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    cache = Path(settings.data_dir) / f"{settings.collection_prefix}_derived.json"
    with Service(settings, embedder=embedder) as service:
        service.ingest([FIXTURES, SEEDS])
        service.retriever.refresh(force=True)
        service.retriever.close()
        before = json.loads(cache.read_text())
        service.remove("lighthouse-restoration")
        service.retriever.refresh(force=True)
    after = json.loads(cache.read_text())
    assert len(after["terms"]) < len(before["terms"])
    assert len(after["prints"]) == len(before["prints"]) - 1


def test_the_cache_keys_entries_by_their_text() -> None:
    cache = DerivedCache(None)
    calls: list[list[str]] = []

    def derive(texts: list[str]) -> list[list[str]]:
        calls.append(texts)
        return tokenize(texts)

    text = "The bridge was begun in 1357."
    assert cache.terms([text], derive) == tokenize([text])
    assert cache.terms([text, "Another text."], derive) == tokenize([text, "Another text."])
    # The first call that finds a cached entry derives it once more, as the check.
    assert calls == [[text], [text], ["Another text."]]
    cache.terms([text, "Another text."], derive)
    assert len(calls) == 3
    assert len(cache) == 2 and digest(text) != digest(text + " ")


def test_a_process_that_only_ingests_never_reads_the_index_back(
    settings: Settings,
    embedder,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    from qa.index.store import ChromaStore

    with Service(settings, embedder=embedder) as first:
        first.ingest([SEEDS])
    reads: list[int] = []
    real = ChromaStore.chunks_of

    def counted(self, versions):  # type: ignore[no-untyped-def]
        reads.append(len(versions))
        return real(self, versions)

    monkeypatch.setattr(ChromaStore, "chunks_of", counted)
    with Service(settings, embedder=embedder) as second:
        assert second.ingest([FIXTURES]).added > 0
        assert reads == []  # neither at start nor after the ingest
        assert second.ask("Who denied awareness of the airstrikes?").short_answer == "Mark Toner"
        assert reads and sum(reads) == second.counts()["articles"]
