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
