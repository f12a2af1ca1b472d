from __future__ import annotations

import pytest

from qa.ingest.articles import article_from_record
from qa.service import Service
from qa.settings import Settings
from qa.text import sentence_spans, tokenize
from qa.types import Filters


@pytest.mark.parametrize(
    ("query", "article_id"),
    [
        ("who restored the old lighthouse", "lighthouse-restoration"),
        ("how long was the final chess game", "chess-final"),
        ("tram line to the university", "city-budget"),
        ("earthquakes before a volcanic eruption", "volcano-alert-raised"),
        ("apple prices fell because of the glut", "orchard-harvest"),
        ("which air base did the F-16 jets use", "us-says-civilian-deaths-unintended"),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_each_mode_finds_the_right_article(
    indexed: Service, query: str, article_id: str, mode
) -> None:  # type: ignore[no-untyped-def]
    hits = indexed.search(query, top_k=3, mode=mode)
    assert hits[0].chunk.article_id == article_id
    assert all(h.score > 0 for h in hits)


def test_a_numbers_plural_matches_the_number() -> None:
    """ "F-16s" and "1990s" find "F-16" and "1990": the stemmer leaves them alone."""
    assert tokenize(["the F-16s of the 1990s"]) == tokenize(["an F-16 of 1990"])
    assert tokenize(["16th bus"]) == [["16th", "bus"]]


def test_hits_carry_exact_offsets_and_metadata(indexed: Service) -> None:
    [hit] = indexed.search("Incirlik Air Base Adana", top_k=1)
    _, text = indexed.article(hit.chunk.article_id)
    assert text[hit.chunk.start : hit.chunk.end] == hit.chunk.text
    assert "Incirlik" in hit.chunk.text
    assert (
        hit.title == "US says civilian deaths unintended" and hit.source == "TRTWorld and agencies"
    )
    assert hit.dense_rank == 1 and hit.lexical_rank == 1
    # The sentences the chunker found come back with the chunk, so asking splits no text.
    assert hit.chunk.sentences and hit.chunk.sentences == tuple(sentence_spans(hit.chunk.text))


def test_sentence_offsets_a_chunk_cannot_hold_are_not_trusted() -> None:
    from qa.index.store import _sentences_meta, _sentences_of_meta

    spans = ((0, 12), (13, 40))
    assert _sentences_of_meta(_sentences_meta(spans), 40) == spans
    for bad in ("0:12,13:41", "13:40,0:12", "0:12,5:20", "a:b", "3", "", None, 7):
        assert _sentences_of_meta(bad, 40) is None, bad


def test_lexical_side_catches_rare_names_dense_misses(indexed: Service) -> None:
    hits = indexed.search("Marstrand", top_k=1, mode="lexical")
    assert hits[0].chunk.article_id == "lighthouse-restoration"
    fused = indexed.search("Marstrand", top_k=2)
    assert fused[0].chunk.article_id == "lighthouse-restoration"


def test_filters_by_article_source_and_date(indexed: Service) -> None:
    only = Filters(article_ids=("orchard-harvest",))
    assert {h.chunk.article_id for h in indexed.search("volcano", top_k=5, filters=only)} == {
        "orchard-harvest"
    }
    radio = Filters(sources=("Island Radio",))
    assert {h.chunk.article_id for h in indexed.search("harvest", 5, radio)} == {
        "volcano-alert-raised"
    }
    in_2022_2023 = Filters(date_from=1640995200, date_to=1704067199)  # 2022-01-01 .. 2023-12-31
    for mode in ("dense", "lexical"):
        found = {
            h.chunk.article_id
            for h in indexed.search(
                "volcano chess tram apples lighthouse airstrikes", 10, in_2022_2023, mode
            )
        }
        # The feed's 2022 volcano story and the page's 2023 date; undated articles are left out.
        assert found == {"volcano-alert-raised", "city-budget"}, mode


def test_lexical_index_is_rebuilt_from_chroma_after_a_restart(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    with Service(settings, embedder=embedder) as service:
        service.add_articles(
            [
                article_from_record(
                    {
                        "id": "kelp",
                        "title": "Kelp farm",
                        "text": "A kelp farm near Oban doubled its yield.",
                    }
                )
            ]
        )
    with Service(settings, embedder=embedder) as service:
        [hit] = service.search("Oban kelp yield", top_k=1, mode="lexical")
        assert hit.chunk.article_id == "kelp"
        service.remove("kelp")
        assert service.search("Oban kelp yield", top_k=1, mode="lexical") == []
        assert service.search("Oban kelp yield", top_k=1, mode="dense") == []


def test_bad_arguments_name_the_value(indexed: Service) -> None:
    with pytest.raises(ValueError, match="top_k must be >= 1, got 0"):
        indexed.retriever.search("x", top_k=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        indexed.retriever.search("x", mode="magic")  # type: ignore[arg-type]
    assert indexed.search("   ") == []
