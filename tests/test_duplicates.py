"""Copies of one story: a wire story in three outlets' versions (one exact, one lightly edited)
and a later story on the same dispute that is not a copy."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from api.server import create_app
from qa.cli import format_answer
from qa.index.duplicates import fingerprint, groups, jaccard
from qa.service import Service
from qa.settings import Settings

from .conftest import FIXTURES

COPIES = Path(__file__).parent / "fixtures" / "copies"
TITLES = {
    "coastal-times-ferry-strike": "Lanmere ferry strike strands islanders",
    "harbour-post-ferry-strike": "Islands cut off as ferry workers strike",
    "wire-ferry-strike": "Ferry crews on the Lanmere islands walk out over pay",
}
STORY = tuple(TITLES)
OTHER = "lanmere-ferry-talks-resume"
QUESTION = "Why did the Lanmere ferry crews reject the pay offer?"


def body(name: str) -> str:
    return (COPIES / f"{name}.md").read_text().split("---", 2)[2]


def test_exact_and_lightly_edited_copies_group_and_another_story_does_not() -> None:
    prints = {name: fingerprint(body(name)) for name in (*STORY, OTHER)}
    edited = jaccard(
        prints["wire-ferry-strike"].shingles, prints["harbour-post-ferry-strike"].shingles
    )
    assert 0.8 <= edited < 1.0  # edited, and still a copy
    assert jaccard(prints["wire-ferry-strike"].shingles, prints[OTHER].shingles) < 0.1
    found = groups(prints)
    assert {found[name] for name in STORY} == {STORY} and OTHER not in found
    # Too little text to tell (a headline, a caption) never groups, even when identical.
    short = {"a": fingerprint("Ferry crews walk out."), "b": fingerprint("Ferry crews walk out.")}
    assert groups(short) == {}


def test_search_shows_one_copy_and_citations_name_the_others(
    settings: Settings, embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "articles"
    shutil.copytree(COPIES, folder)
    with Service(settings, embedder=embedder) as service:
        service.ingest([folder, FIXTURES])
        listed = {a.id: a.copies for a in service.articles()}
        assert listed["wire-ferry-strike"] == (
            "coastal-times-ferry-strike",
            "harbour-post-ferry-strike",
        )
        assert listed[OTHER] == () and listed["volcano-alert-raised"] == ()

        found = service.search(QUESTION, top_k=8)
        from_story = {p.chunk.article_id for p in found} & set(STORY)
        assert len(from_story) == 1  # one copy searched further, not three copies of one story
        assert OTHER in {p.chunk.article_id for p in found}  # a different story still shows

        answer = service.ask(QUESTION)
        # Which of the story's sentences answer is the answerer's (the test below); here every
        # sentence quoted from the story comes from one copy and names the other two.
        assert answer.answered
        from_copies = [c for c in answer.citations if c.article_id in STORY]
        assert from_copies and len({c.article_id for c in from_copies}) == 1
        for cited in from_copies:
            others = {o.article_id: o.title for o in cited.also_in}
            assert others == {a: t for a, t in TITLES.items() if a != cited.article_id}
        wire = answer.to_dict()["citations"][0]["also_in"]
        assert all(set(o) == {"article_id", "title"} for o in wire)
        # Each citation carries its article's date, and the CLI shows both.
        assert cited.date == int(dt.datetime(2025, 3, 11, tzinfo=dt.UTC).timestamp())
        shown = format_answer(answer)
        assert "11 March 2025" in shown and "also in 2 other article(s)" in shown

        # Re-ingesting changes nothing; removing a copy and rewriting another regroup them.
        again = service.ingest([folder])
        assert again.added == again.updated == 0
        assert {a.id: a.copies for a in service.articles()} == listed
        service.remove("coastal-times-ferry-strike")
        (folder / "harbour-post-ferry-strike.md").write_text(
            (COPIES / "harbour-post-ferry-strike.md").read_text().split("---", 2)[0]
            + "---\ntitle: Islands cut off as ferry workers strike\n---\n"
            + "A different story now: the harbour will be dredged next summer, the council said, "
            "at a cost of nine million crowns, and the work will close the north quay for "
            "four months while the channel is deepened for larger boats."
        )
        service.ingest([folder / "harbour-post-ferry-strike.md"])
        assert all(not a.copies for a in service.articles())


def test_why_the_crews_rejected_the_offer_is_answered_with_the_reason(
    settings: Settings, embedder
) -> None:  # type: ignore[no-untyped-def]
    with Service(settings, embedder=embedder) as service:
        service.ingest([COPIES])
        answer = service.ask(QUESTION)
    assert answer.answered and "2.5 percent" in answer.answer


def test_the_api_lists_copies_cites_them_and_takes_a_date_range(
    settings: Settings, embedder
) -> None:  # type: ignore[no-untyped-def]
    with Service(settings, embedder=embedder) as service:
        service.ingest([COPIES])
        app = create_app(settings, service)
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            listed = {a["id"]: a["copies"] for a in client.get("/v1/articles").json()}
            assert listed["harbour-post-ferry-strike"] == [
                "coastal-times-ferry-strike",
                "wire-ferry-strike",
            ]
            one = client.get("/v1/articles/wire-ferry-strike").json()
            assert one["copies"] == ["coastal-times-ferry-strike", "harbour-post-ferry-strike"]
            answer = client.post("/v1/ask", json={"question": QUESTION}).json()
            cited = next(c for c in answer["citations"] if c["article_id"] in STORY)
            assert len(cited["also_in"]) == 2

            # since/until restrict the articles by their dates (the story: 11 March, the
            # talks: 14 March); `until` takes in the whole of its day.
            def cited_in(**days: str) -> set[str]:
                got = client.post("/v1/ask", json={"question": QUESTION, **days}).json()
                return {c["article_id"] for c in got["citations"]}

            assert cited_in(since="2025-03-12") == {OTHER}
            assert cited_in(until="2025-03-11") <= set(STORY)
            assert cited_in(since="2025-03-11", until="2025-03-11") <= set(STORY)
            bad = client.post("/v1/ask", json={"question": QUESTION, "since": "2025-02-30"})
            assert (
                bad.status_code == 422 and "since must be a day" in bad.json()["error"]["message"]
            )
