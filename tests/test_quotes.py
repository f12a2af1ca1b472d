"""Who said what: quotes and their speakers, with surnames, titles and pronouns resolved."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.server import create_app
from qa.ingest.articles import read_path
from qa.quotes import find_quotes
from qa.service import Service
from qa.settings import Settings

from .conftest import SEEDS

QUOTES = Path(__file__).parent / "fixtures" / "quotes"
ROW = QUOTES / "harbour-dredging-row.md"


def test_quotes_are_found_with_their_speakers_in_full() -> None:
    [article] = list(read_path(ROW, QUOTES, 5_000_000))
    found = find_quotes([(0, article.text)])
    assert [(q.speaker, q.verb, q.direct) for q in found] == [
        ("Ingrid Solvang", "said", False),  # "Harbour master Ingrid Solvang said ... that"
        ("Ingrid Solvang", "said", True),  # "...," Solvang said: the surname resolved
        ("Tomas Reyes", "denied", False),  # "Environment minister Tomas Reyes denied that"
        ("Tomas Reyes", "told", False),  # "He told reporters that": the pronoun resolved
        ("Tomas Reyes", "said", True),  # "...," said Reyes
        ("Velmar Harbour Board", "according to", False),
    ]
    for q in found:  # exact offsets of the quoting sentence
        assert article.text[q.start : q.end] == q.sentence
    assert found[1].said.startswith("Every storm leaves more silt")
    assert found[-1].said == "The dredging would cost 3.2 million euros"


def test_what_did_x_say_and_who_said_are_answered_from_the_quotes(service: Service) -> None:
    service.ingest([QUOTES, SEEDS])
    said = service.ask("What did Reyes say about the seagrass?")
    assert said.answered and said.citations
    assert all("Reyes" in c.quote or c.quote.startswith("He told") for c in said.citations)
    assert "seagrass" in said.answer
    who = service.ask("Who said 'not trade the seagrass'?")
    assert who.short_answer == "Tomas Reyes"
    pronoun = service.ask('Who said "no permit would be signed"?')  # "He told reporters..."
    assert pronoun.short_answer == "Tomas Reyes"
    toner = service.ask("What did Toner say about pinpoint accuracy?")
    assert "spare civilian lives" in toner.answer
    nobody = service.ask("What did Angela Merkel say about the dredging?")  # no such speaker
    assert not any("Merkel" in c.quote for c in nobody.citations)


def test_the_quotes_route_lists_a_speakers_quotes(settings: Settings, service: Service) -> None:
    service.ingest([QUOTES, SEEDS])
    app = create_app(settings, service)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        toner = client.get("/v1/quotes", params={"speaker": "Toner"}).json()
        assert {q["speaker"] for q in toner} == {"Mark Toner"} and len(toner) == 2
        text = client.get(f"/v1/articles/{toner[0]['article_id']}").json()["text"]
        assert all(text[q["start"] : q["end"]] == q["quote"] for q in toner)
        words = client.get("/v1/quotes", params={"q": "seagrass"}).json()
        assert {q["speaker"] for q in words} == {"Tomas Reyes"}
        everyone = client.get("/v1/quotes").json()
        assert {"Ingrid Solvang", "Tomas Reyes", "Mark Toner"} <= {q["speaker"] for q in everyone}


FERRY = QUOTES / "ferry-strike.md"


def test_a_quotation_over_several_sentences_is_one_speakers() -> None:
    [article] = list(read_path(FERRY, QUOTES, 5_000_000))
    found = find_quotes([(0, article.text)])
    said = {q.sentence.strip(' "'): q.speaker for q in found}
    # "..., she said. "But the night rota breaks families. We asked for talks...": Lund's
    assert said["But the night rota breaks families."] == "Petra Lund"
    assert said["We asked for talks in June and heard nothing."] == "Petra Lund"
    # Punkt ends a sentence at '?"'; the attribution after it is put back
    assert said['Is this how a public service treats its people?" asked Lund.'] == "Petra Lund"
    # a new paragraph's quotation names its speaker at its end: Holm's, not Lund's
    assert said["The timetable will not change this winter."] == "Anders Holm"
    assert said['We have never refused talks," said operations director Anders Holm.'] == (
        "Anders Holm"
    )
    # an appositive between the name and the verb
    ek = "Port chaplain Miriam Ek, a former ferry engineer, said the crews deserved a hearing."
    assert said[ek] == "Miriam Ek"
    for q in found:
        assert article.text[q.start : q.end] == q.sentence


def test_quotes_are_stored_with_the_article_and_read_back(service: Service) -> None:
    service.ingest([QUOTES])
    info = next(a for a in service.articles() if a.title == "Ferry crews vote to strike")
    stored = service.store.quotes_of({info.id: info.version})[info.id]
    _, text = service.article(info.id)
    assert stored == find_quotes([(0, text)])  # one chunk: the same quotes, exact offsets
    assert {q.speaker for q, _ in service.quotes("Holm")} == {"Anders Holm"}


def test_a_record_without_quotes_has_them_found_again(settings: Settings, service: Service) -> None:
    service.ingest([QUOTES])
    before = sorted((q.start, q.speaker) for q, _ in service.quotes())
    ids = [a.id for a in service.articles()]
    metas = service.store.articles.get(ids=ids, include=["metadatas"])["metadatas"]
    unread = [{**m, "quotes": None} for m in metas[:-1]] + [{**metas[-1], "quotes": "[[1"}]
    service.store.articles.update(ids=ids, metadatas=unread)  # older records, one unreadable
    service.close()
    with Service(settings, embedder=service.embedder) as fresh:
        assert sorted((q.start, q.speaker) for q, _ in fresh.quotes()) == before


def test_who_said_what_answers_name_the_speaker_and_decline_what_they_did_not_say(
    service: Service,
) -> None:
    service.ingest([QUOTES, SEEDS])
    quoted = service.ask("Who said 'heard nothing'?")  # the quote says "We", not who
    assert quoted.answered and quoted.short_answer == "Petra Lund"
    assert "Petra Lund" in quoted.answer and "heard nothing" in quoted.answer
    holm = service.ask("What did Anders Holm say about the timetable?")
    assert holm.answered and "will not change this winter" in holm.answer
    lund = service.ask("What did Petra Lund say about the timetable?")  # Holm's words, not hers
    assert not lund.answered
    ek = service.ask("What did Miriam Ek say about the night shifts?")  # she spoke of a hearing
    assert not ek.answered
    denied = service.ask("Who denied that the crews had asked for talks?")
    assert not denied.answered or denied.short_answer != "Petra Lund"  # she said they asked


def test_the_quotes_follow_the_index_through_ingest_and_delete(service: Service) -> None:
    """The quotes are made once a snapshot of the index: an ingest adds its articles' quotes,
    a delete takes them away, and nothing asked in between sees a stale list."""
    service.ingest([ROW])
    first = service.quotes()
    assert first and service.quotes() == first  # asked twice, one list
    row = {info.id for _, info in first}
    service.ingest([QUOTES])
    more = service.quotes()
    assert len(more) > len(first) and {info.id for _, info in more} > row
    assert {q.speaker for q, _ in service.quotes("Holm")} == {"Anders Holm"}
    others = {info.id for _, info in more} - row
    for article_id in others:
        service.remove(article_id)
    assert service.quotes() == first
