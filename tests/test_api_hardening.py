"""The HTTP edge against hostile requests: other sites, other hosts, bounds on work, strict
types, security headers on every reply. Each test failed before its fix."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.server import create_app
from qa.service import Service
from qa.settings import Settings

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def client(indexed: Service, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, service=indexed), base_url=BASE) as c:
        yield c


def _error(response) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = response.json()
    assert set(body["error"]) == {"type", "message"}
    return body["error"]  # type: ignore[no-any-return]


def _upload(name: str = "a.txt") -> dict[str, tuple[str, bytes]]:
    return {"file": (name, b"Harbour news\n\nThe harbour reopened on Monday.\n")}


# --- other sites and other hosts ----------------------------------------------------------


def test_writes_from_another_site_are_refused(client: TestClient) -> None:
    evil = {"Origin": "http://evil.example"}
    response = client.post("/v1/articles", files=_upload(), headers=evil)
    assert response.status_code == 403 and _error(response)["type"] == "cross_origin"
    assert "QA_CORS_ORIGINS" in _error(response)["message"]
    deleted = client.delete("/v1/articles/chess-final", headers=evil)
    assert deleted.status_code == 403
    assert client.get("/v1/articles/chess-final").status_code == 200  # nothing was lost
    sneaky = client.post("/v1/articles", files=_upload(), headers={"Sec-Fetch-Site": "cross-site"})
    assert sneaky.status_code == 403
    assert (
        client.post("/v1/articles", files=_upload(), headers={"Origin": "null"}).status_code == 403
    )
    # The page's own origin, and tools that send no Origin, still write.
    assert client.post("/v1/articles", files=_upload(), headers={"Origin": BASE}).status_code == 201
    assert client.post("/v1/articles", files=_upload("b.txt")).status_code == 201


def test_an_origin_allowed_by_cors_may_write(indexed: Service, settings: Settings) -> None:
    opened = settings.model_copy(update={"cors_origins": ["https://news.example"]})
    with TestClient(create_app(opened, service=indexed), base_url=BASE) as c:
        ok = c.post("/v1/articles", files=_upload(), headers={"Origin": "https://news.example"})
        assert ok.status_code == 201
        refused = c.post("/v1/articles", files=_upload(), headers={"Origin": "https://x.example"})
        assert refused.status_code == 403


def test_unknown_host_names_are_refused(
    client: TestClient, indexed: Service, settings: Settings
) -> None:
    rebound = client.get("/v1/articles", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400 and _error(rebound)["type"] == "invalid_host"
    assert client.get("/v1/articles", headers={"Host": "localhost:8000"}).status_code == 200
    assert client.get("/v1/articles", headers={"Host": "[::1]:8000"}).status_code == 200
    named = settings.model_copy(update={"allowed_hosts": ["qa.newsroom.example"]})
    with TestClient(create_app(named, service=indexed), base_url="http://qa.newsroom.example") as c:
        assert c.get("/v1/articles").status_code == 200
        assert c.get("/v1/articles", headers={"Host": "127.0.0.1"}).status_code == 400


# --- bounds on work -----------------------------------------------------------------------


def test_chat_completion_messages_are_bounded(client: TestClient) -> None:
    long = {"role": "assistant", "content": "word " * 100_000}
    question = {"role": "user", "content": "Who denied awareness of the airstrikes?"}
    response = client.post("/v1/chat/completions", json={"messages": [long, question]})
    assert response.status_code == 422 and "content" in _error(response)["message"]
    many = [question] * 500
    assert client.post("/v1/chat/completions", json={"messages": many}).status_code == 422


def _feed(n: int, prefix: str = "bulk") -> bytes:
    return "".join(
        json.dumps({"id": f"{prefix}-{i}", "title": f"Story {i}", "text": f"Crane {i} moved."})
        + "\n"
        for i in range(n)
    ).encode()


def test_uploads_have_an_article_limit(indexed: Service, settings: Settings) -> None:
    small = settings.model_copy(update={"max_upload_articles": 10})
    with TestClient(create_app(small, service=indexed), base_url=BASE) as c:
        response = c.post("/v1/articles", files={"file": ("f.jsonl", _feed(11))})
        assert response.status_code == 413 and "10" in _error(response)["message"]
        assert not any(a.id.startswith("bulk-") for a in indexed.articles())


def test_a_long_upload_runs_as_a_job_and_lets_other_writers_in(
    indexed: Service, settings: Settings
) -> None:
    tuned = settings.model_copy(update={"upload_job_articles": 20})
    with TestClient(create_app(tuned, service=indexed), base_url=BASE) as c:
        started = c.post("/v1/articles", files={"file": ("f.jsonl", _feed(400))})
        assert started.status_code == 202
        job = started.json()
        assert started.headers["location"] == job["status_url"] == f"/v1/jobs/{job['id']}"
        assert job["total"] == 400
        # Another writer gets in while the job is still running.
        assert c.post("/v1/articles", files=_upload("quick.txt")).status_code == 201
        during = c.get(job["status_url"]).json()
        assert during["status"] in ("queued", "running") and during["done"] < 400
        for _ in range(600):
            status = c.get(job["status_url"]).json()
            if status["status"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        assert status["status"] == "done", status
        assert status["done"] == 400 and status["report"]["added"] == 400
        assert c.get("/v1/jobs/no-such-job").status_code == 404
    assert sum(a.id.startswith("bulk-") for a in indexed.articles()) == 400


# --- strict, documented types -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"question": "Who?", "filters": {"date_to": "1"}},
        {"question": "Who?", "filters": {"date_to": 2**63}},
        {"question": "Who?", "filters": {"date_from": -(10**30)}},
        {"question": "Who?", "top_k": "5"},
    ],
)
def test_ask_takes_no_lax_or_out_of_range_values(client: TestClient, body: dict) -> None:  # type: ignore[type-arg]
    response = client.post("/v1/ask", json=body)
    assert response.status_code == 422, response.text


def test_chat_stream_must_be_a_boolean(client: TestClient) -> None:
    response = client.post("/v1/chat", json={"question": "Who?", "stream": "true"})
    assert response.status_code == 422


def test_an_article_with_an_impossible_date_is_refused(client: TestClient) -> None:
    body = {"id": "x", "title": "X", "text": "Some words.", "date": 10000000000000000000}
    response = client.post("/v1/articles", json=body)
    assert response.status_code == 422 and "date" in _error(response)["message"]
    assert client.post("/v1/ask", json={"question": "What words?"}).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_an_article_id_is_stored_as_given_or_refused(client: TestClient) -> None:
    """An id the API would have to change (too long, not a slug) is refused with 422 rather
    than stored under another id, so the id sent is the id to fetch and delete."""
    for bad in ("0" * 121, "Ferry Strike", "ferry--strike", "-ferry", "../etc/passwd"):
        response = client.post("/v1/articles", json={"id": bad, "title": "T", "text": "Words."})
        assert response.status_code == 422 and "id" in _error(response)["message"], bad
    longest = "0" * 120
    created = client.post("/v1/articles", json={"id": longest, "title": "T", "text": "Words."})
    assert created.status_code == 201 and created.json()["articles"] == [longest]
    assert client.delete(f"/v1/articles/{longest}").status_code == 204


def test_nul_and_control_characters(client: TestClient) -> None:
    nul = client.post("/v1/articles", json={"id": "n", "title": "A\x00B", "text": "Words."})
    assert nul.status_code == 422 and "title" in _error(nul)["message"]
    nul_text = client.post("/v1/articles", json={"id": "n", "title": "N", "text": "Wo\x00rds."})
    assert nul_text.status_code == 422 and "text" in _error(nul_text)["message"]
    ok = client.post(
        "/v1/articles", json={"id": "c", "title": "Bell\x07 rings", "text": "The bell\x1b rang."}
    )
    assert ok.status_code == 201
    stored = client.get("/v1/articles/c").json()
    assert stored["title"] == "Bell rings" and stored["text"] == "The bell rang."


def test_a_key_is_checked_before_the_body_is_read(indexed: Service, settings: Settings) -> None:
    keyed = settings.model_copy(update={"api_keys": ["s3cret"]})
    with TestClient(create_app(keyed, service=indexed), base_url=BASE) as c:
        broken = c.post(
            "/v1/ask", content=b'{"question": ', headers={"content-type": "application/json"}
        )
        assert broken.status_code == 401
        schema = c.get("/openapi.json").json()
        assert (
            "bearer" in json.dumps(schema.get("components", {}).get("securitySchemes", {})).lower()
        )


def test_metrics_are_documented_as_text(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    content = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]


def test_every_reply_carries_the_security_headers(indexed: Service, settings: Settings) -> None:
    small = settings.model_copy(update={"max_upload_mb": 0.001})
    with TestClient(create_app(small, service=indexed), base_url=BASE) as c:
        for response in (
            c.get("/docs"),
            c.get("/redoc"),
            c.post("/v1/articles", files={"file": ("big.txt", b"T\n\n" + b"word " * 1000)}),
            c.get("/v1/articles", headers={"Host": "evil.example"}),
        ):
            assert response.headers["x-content-type-options"] == "nosniff", response.url
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
