"""The API as a real `qa serve` (uvicorn) process: the openai client, streaming, liveness under
load, consistency during replacement, and two API processes over one Chroma server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from qa.service import Service
from qa.settings import Settings

from .conftest import FIXTURES, SEEDS
from .servers import chroma_server, qa_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[str]:  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("served") / "data"
    with Service(Settings(data_dir=data, _env_file=None), embedder=embedder) as service:  # type: ignore[call-arg]
        service.ingest([FIXTURES, SEEDS])
    with qa_server(
        {"QA_DATA_DIR": str(data), "QA_API_KEYS": "test-key", "QA_BODY_TIMEOUT_S": "2"}
    ) as url:
        yield url


def test_openai_client_plain_and_streaming(server: str) -> None:
    client = OpenAI(base_url=f"{server}/v1", api_key="test-key")
    messages = [{"role": "user", "content": "Who denied awareness of the airstrikes?"}]
    plain = client.chat.completions.create(model="article-qa", messages=messages)  # type: ignore[arg-type]
    content = plain.choices[0].message.content or ""
    assert "Mark Toner" in content and "[1]" in content
    assert "\n\n[1] US says civilian deaths unintended:" in content  # the footnote
    citations = plain.model_extra["citations"]  # type: ignore[index]
    assert citations[0]["article_id"] == "us-says-civilian-deaths-unintended"

    streamed = client.chat.completions.create(model="article-qa", messages=messages, stream=True)  # type: ignore[arg-type]
    parts, extra = [], {}
    for chunk in streamed:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason == "stop":
            extra = chunk.model_extra or {}
    assert "".join(parts) == content
    assert extra["citations"] == citations

    follow = client.chat.completions.create(
        model="article-qa",
        messages=[  # type: ignore[arg-type]
            *messages,
            {"role": "assistant", "content": content},
            {"role": "user", "content": "What did he say about pinpoint accuracy?"},
        ],
    )
    assert "spare civilian lives" in (follow.choices[0].message.content or "")

    with pytest.raises(Exception, match="401"):
        OpenAI(base_url=f"{server}/v1", api_key="wrong").chat.completions.create(
            model="article-qa", messages=messages
        )  # type: ignore[arg-type]


def test_health_answers_while_a_big_upload_is_indexed(server: str) -> None:
    headers = {"Authorization": "Bearer test-key"}
    feed = "".join(
        json.dumps(
            {
                "id": f"bulk-{i}",
                "title": f"Bulk story {i}",
                "text": " ".join(
                    f"Sentence {j} of bulk story {i} about harbour cranes." for j in range(60)
                ),
            }
        )
        + "\n"
        for i in range(150)
    )
    with httpx.Client(base_url=server, timeout=60) as client:
        files = {"file": ("bulk.jsonl", feed.encode())}
        started = client.post("/v1/articles", files=files, headers=headers)
        assert started.status_code == 202  # a long upload runs as a job
        status_url = started.headers["location"]
        answered_during, status = 0, started.json()
        while status["status"] in ("queued", "running"):
            assert client.get("/healthz").json() == {"status": "ok"}
            status = client.get(status_url, headers=headers).json()
            answered_during += status["status"] in ("queued", "running")
    assert status["status"] == "done" and status["report"]["added"] == 150
    assert answered_during >= 3  # the event loop kept serving while the upload was embedded


def test_asks_during_a_replacement_never_see_half_an_article(server: str) -> None:
    headers = {"Authorization": "Bearer test-key"}
    versions = [
        {
            "id": "tide-report",
            "title": "Tide report A",
            "text": " ".join(
                f"Version alpha line {i}: the tide gauge at Pelham read {i} metres."
                for i in range(80)
            ),
        },
        {
            "id": "tide-report",
            "title": "Tide report B",
            "text": " ".join(
                f"Version beta line {i}: the tide gauge at Pelham read {i} feet." for i in range(80)
            ),
        },
    ]
    with httpx.Client(base_url=server, headers=headers, timeout=120) as client:
        assert client.post("/v1/articles", json=versions[0]).status_code == 201
        stop = threading.Event()
        seen: list[set[str]] = []
        errors: list[str] = []

        def ask_repeatedly() -> None:
            with httpx.Client(base_url=server, headers=headers, timeout=120) as asker:
                while not stop.is_set():
                    r = asker.post(
                        "/v1/ask",
                        json={"question": "What did the tide gauge at Pelham read?", "top_k": 10},
                    )
                    if r.status_code != 200:
                        errors.append(r.text)
                        continue
                    words = {
                        w
                        for c in r.json()["citations"]
                        if c["article_id"] == "tide-report"
                        for w in ("alpha", "beta")
                        if w in c["quote"]
                    }
                    seen.append(words)

        askers = [threading.Thread(target=ask_repeatedly) for _ in range(3)]
        for t in askers:
            t.start()
        for version in versions[1:] + versions[:1] + versions[1:]:
            assert client.post("/v1/articles", json=version).status_code == 201
        stop.set()
        for t in askers:
            t.join()
    assert not errors
    assert seen and all(len(words) <= 1 for words in seen)  # never alpha and beta together


def test_two_api_processes_share_one_chroma_server(tmp_path: Path) -> None:
    with chroma_server(tmp_path / "chroma") as chroma_url:
        env = {"QA_CHROMA_URL": chroma_url, "QA_SYNC_INTERVAL_S": "0.2"}
        with qa_server(env) as first, qa_server(env) as second:
            files = {
                "file": (
                    "glacier.md",
                    b"---\ntitle: Glacier retreat measured\n---\n"
                    b"The Hallan glacier retreated 212 metres last year, surveyors "
                    b"from the Nordvik institute reported.\n",
                )
            }
            assert httpx.post(f"{first}/v1/articles", files=files, timeout=120).status_code == 201
            answer = httpx.post(
                f"{second}/v1/ask",
                timeout=60,
                json={"question": "How far did the Hallan glacier retreat?"},
            ).json()
            assert answer["answered"] and "212 metres" in answer["answer"]
            assert answer["citations"][0]["article_id"] == "glacier"
            assert httpx.delete(f"{second}/v1/articles/glacier", timeout=60).status_code == 204
            listed = httpx.get(f"{first}/v1/articles", timeout=60).json()
            assert "glacier" not in {a["id"] for a in listed}


def test_a_body_that_never_arrives_is_cut_off(server: str) -> None:
    import socket
    from urllib.parse import urlparse

    url = urlparse(server)
    held = []
    for _ in range(20):
        sock = socket.create_connection((url.hostname, url.port), timeout=60)
        sock.sendall(
            b"POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer test-key\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"question'
        )
        held.append(sock)
    for sock in held:
        reply = b""
        while chunk := sock.recv(4096):  # the server answers, then closes the connection
            reply += chunk
        sock.close()
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert httpx.get(f"{server}/healthz", timeout=30).status_code == 200
