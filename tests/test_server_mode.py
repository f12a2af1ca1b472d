"""Client/server mode: two processes sharing one real `chroma run` server."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import StoreUnavailable
from qa.ingest.articles import article_from_record
from qa.service import Service
from qa.settings import Settings

from .conftest import FIXTURES
from .servers import chroma_server, free_port


def test_two_services_share_one_chroma_server(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    with chroma_server(tmp_path / "chroma") as url:
        settings = Settings(
            chroma_url=url, data_dir=tmp_path / "unused", sync_interval_s=0, _env_file=None
        )  # type: ignore[call-arg]
        with (
            Service(settings, embedder=embedder) as writer,
            Service(settings, embedder=embedder) as reader,
        ):  # no lock: the server arbitrates
            report = writer.ingest([FIXTURES])
            assert report.added == 5
            for mode in ("hybrid", "dense", "lexical"):
                [hit] = reader.search("who restored the lighthouse", top_k=1, mode=mode)
                assert hit.chunk.article_id == "lighthouse-restoration", mode
            writer.add_articles(
                [
                    article_from_record(
                        {
                            "id": "chess-final",
                            "title": "Chess open cancelled",
                            "text": "The Valmora chess open was cancelled: a water pipe burst.",
                        }
                    )
                ]
            )
            [hit] = reader.search("why was the chess open cancelled", top_k=1, mode="lexical")
            assert "water pipe burst" in hit.chunk.text
            writer.remove("orchard-harvest")
            assert "orchard-harvest" not in {a.id for a in reader.articles()}
            assert all(
                h.chunk.article_id != "orchard-harvest"
                for h in reader.search("apple harvest Dunmore", top_k=5)
            )
        # The index outlives the processes: a new one sees everything.
        with Service(settings, embedder=embedder) as later:
            assert later.counts()["articles"] == 4


def test_unreachable_server_is_a_clear_error(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(chroma_url=f"http://127.0.0.1:{free_port()}", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(StoreUnavailable, match="chroma run"):
        Service(settings, embedder=embedder)
