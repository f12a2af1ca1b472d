"""The HTTP API through FastAPI's TestClient (the lifespan runs), over a real index."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.server import create_app
from qa.service import Service
from qa.settings import Settings

SEED_ID = "us-says-civilian-deaths-unintended"


@pytest.fixture
def client(indexed: Service, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, service=indexed), base_url="http://127.0.0.1:8000") as c:
        yield c


def _error_shape(response) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = response.json()
    assert set(body) >= {"error"} and set(body["error"]) == {"type", "message"}
    assert "Traceback" not in response.text
    return body["error"]  # type: ignore[no-any-return]


def test_ask_answers_with_citations_that_match_the_article(client: TestClient) -> None:
    response = client.post("/v1/ask", json={"question": "Who denied awareness of the airstrikes?"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["answered"] is True and "Mark Toner" in answer["short_answer"]
    assert "Mark Toner" in answer["answer"] and "[1]" in answer["answer"]
    assert set(answer["timings_ms"]) == {"retrieve", "answer", "total"}
    article = client.get(f"/v1/articles/{SEED_ID}").json()
    for c in answer["citations"]:
        assert article["text"][c["start"] : c["end"]] == c["quote"]
    assert "not aware" in answer["citations"][0]["quote"]


def test_follow_up_uses_the_history(client: TestClient) -> None:
    history = [
        {"role": "user", "content": "Who denied awareness of the airstrikes?"},
        {
            "role": "assistant",
            "content": client.post(
                "/v1/ask", json={"question": "Who denied awareness of the airstrikes?"}
            ).json()["answer"],
        },
    ]
    answer = client.post(
        "/v1/ask", json={"question": "What did he say about pinpoint accuracy?", "history": history}
    ).json()
    assert answer["standalone_question"] == "What did Mark Toner say about pinpoint accuracy?"
    assert "spare civilian lives" in answer["answer"]


def test_chat_streams_deltas_then_the_whole_answer(client: TestClient) -> None:
    body = {"question": "Which air base did the F-16 jets fly from?", "stream": True}
    with client.stream("POST", "/v1/chat", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse(response.iter_lines())
    deltas = [json.loads(d)["text"] for e, d in events if e == "delta"]
    [final] = [json.loads(d) for e, d in events if e == "answer"]
    assert events[-1][0] == "answer"
    assert "".join(deltas) == final["answer"] and "Incirlik" in final["answer"]
    plain = client.post("/v1/chat", json={**body, "stream": False}).json()
    assert plain["answer"] == final["answer"]


def _sse(lines: Iterator[str]) -> list[tuple[str, str]]:
    events, event, data = [], "message", []
    for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())
        elif not line.strip() and data:
            events.append((event, "\n".join(data)))
            event, data = "message", []
    return events


def test_upload_ask_replace_delete(client: TestClient) -> None:
    files = {
        "file": (
            "ferry-strike.txt",
            b"Ferry crews strike\n\nFerry crews on the Ostra "
            b"line walked out on Friday over a pay freeze, stranding 4,000 commuters.\n",
        )
    }
    created = client.post("/v1/articles", files=files)
    assert created.status_code == 201, created.text
    assert created.json()["articles"] == ["ferry-strike"] and created.json()["added"] == 1
    answer = client.post("/v1/ask", json={"question": "How many commuters were stranded?"}).json()
    assert answer["short_answer"] == "4,000"
    assert answer["citations"][0]["article_id"] == "ferry-strike"

    replaced = client.post(
        "/v1/articles",
        json={
            "id": "ferry-strike",
            "title": "Ferry strike called off",
            "text": "The Ostra ferry strike was called off after crews accepted a 3 percent raise.",
        },
    )
    assert replaced.status_code == 201 and replaced.json()["updated"] == 1
    assert client.get("/v1/articles/ferry-strike").json()["title"] == "Ferry strike called off"

    assert client.delete("/v1/articles/ferry-strike").status_code == 204
    assert client.get("/v1/articles/ferry-strike").status_code == 404
    after = client.post("/v1/ask", json={"question": "Why was the Ostra ferry strike called off?"})
    assert all(c["article_id"] != "ferry-strike" for c in after.json()["citations"])
    assert "ferry-strike" not in {a["id"] for a in client.get("/v1/articles").json()}


def test_list_and_filter_articles(client: TestClient) -> None:
    listed = client.get("/v1/articles").json()
    assert len(listed) == 6 and all("text" not in a for a in listed)
    assert [a["id"] for a in client.get("/v1/articles", params={"q": "chess"}).json()] == [
        "chess-final"
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"question": ""},
        {"question": "   "},
        {"question": "x" * 2001},
        {"question": "ok?", "top_k": 0},
        {"question": "ok?", "top_k": 1000},
        {"question": "ok?", "history": [{"role": "user", "content": "hi"}] * 21},
        {"question": "ok?", "history": [{"role": "wizard", "content": "hi"}]},
        {"question": "ok?", "surprise": True},
        {"question": 42},
    ],
)
def test_bad_questions_get_422_with_one_error_shape(client: TestClient, body: dict) -> None:  # type: ignore[type-arg]
    response = client.post("/v1/ask", json=body)
    assert response.status_code == 422
    assert _error_shape(response)["message"]


def test_malformed_json_and_bad_uploads(client: TestClient) -> None:
    broken = client.post(
        "/v1/ask", content=b'{"question": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422 and _error_shape(broken)
    binary = client.post("/v1/articles", files={"file": ("x.txt", b"\x00\x01\x02PNG")})
    assert binary.status_code == 422 and "binary" in _error_shape(binary)["message"]
    pdf = client.post("/v1/articles", files={"file": ("x.pdf", b"%PDF")})
    assert pdf.status_code == 422 and "unsupported type" in _error_shape(pdf)["message"]
    missing = client.get("/v1/articles/no-such-article")
    assert missing.status_code == 404 and _error_shape(missing)["type"] == "article_not_found"


def test_upload_over_the_limit_is_413_before_reading(indexed: Service, settings: Settings) -> None:
    small = settings.model_copy(update={"max_upload_mb": 0.01})
    with TestClient(create_app(small, service=indexed), base_url="http://127.0.0.1:8000") as client:
        big = b"Title\n\n" + b"words " * 5000
        response = client.post("/v1/articles", files={"file": ("big.txt", big)})
        assert response.status_code == 413
        assert _error_shape(response)["type"] == "payload_too_large"

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            for _ in range(100):
                yield b"x" * 1000

        streamed = client.post(
            "/v1/ask", content=chunked(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413


def test_api_keys(indexed: Service, settings: Settings) -> None:
    keyed = settings.model_copy(update={"api_keys": ["s3cret", "other"]})
    with TestClient(create_app(keyed, service=indexed), base_url="http://127.0.0.1:8000") as client:
        body = {"question": "Who denied awareness of the airstrikes?"}
        assert client.post("/v1/ask", json=body).status_code == 401
        wrong = client.post("/v1/ask", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and _error_shape(wrong)["type"] == "unauthorized"
        ok = client.post("/v1/ask", json=body, headers={"Authorization": "Bearer other"})
        assert ok.status_code == 200
        assert client.get("/v1/articles").status_code == 401
        assert client.get("/healthz").status_code == 200  # probes stay open


def test_empty_index_says_so(service: Service, settings: Settings) -> None:
    with TestClient(
        create_app(settings, service=service), base_url="http://127.0.0.1:8000"
    ) as client:
        response = client.post("/v1/ask", json={"question": "Anything?"})
        assert response.status_code == 409 and "qa ingest" in _error_shape(response)["message"]


def test_health_readiness_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["articles"] == 6
    client.post("/v1/ask", json={"question": "Who denied awareness of the airstrikes?"})
    client.post("/v1/ask", json={"question": "What is the population of Mars?"})
    text = client.get("/metrics").text
    assert 'qa_answers_total{outcome="answered"} 1.0' in text
    assert 'qa_answers_total{outcome="abstained"} 1.0' in text
    assert 'qa_http_requests_total{method="POST",route="/v1/ask",status="200"} 2.0' in text
    assert "qa_articles 6.0" in text and "qa_http_request_seconds_bucket" in text


def test_security_headers_and_cors(
    client: TestClient, indexed: Service, settings: Settings
) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/ask", headers=preflight).headers
    opened = settings.model_copy(update={"cors_origins": ["https://news.example"]})
    with TestClient(create_app(opened, service=indexed), base_url="http://127.0.0.1:8000") as c:
        got = c.options("/v1/ask", headers={**preflight, "Origin": "https://news.example"})
        assert got.headers["access-control-allow-origin"] == "https://news.example"


def test_openapi_describes_every_field(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    answer = schema["components"]["schemas"]["AnswerOut"]["properties"]
    assert all(field.get("description") for field in answer.values())
    assert "/v1/chat/completions" in schema["paths"] and "/v1/articles" in schema["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()
