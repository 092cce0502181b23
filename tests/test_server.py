"""The built-in server, seen on the wire: raw HTTP against a real ModelServer (no openai client)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import ling_notebook
from ling_notebook import cli
from ling_notebook.server import DEMO_MODEL, ModelServer, RequestRecord, serve
from ling_notebook.server.records import MAX_KEPT_BODY

USER = "Please write a poem about spring"
FAST_DEMO = f"{DEMO_MODEL}?rate=0"
JSON = {"Content-Type": "application/json"}


def chat(model: str, prompt: str = USER, **params: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True, **params}


def connect(server: ModelServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)


def request(server: ModelServer, method: str, path: str, body: object = None,
            headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    """One request; the body is JSON unless already bytes. A cut response gives `<cut>` + partial bytes."""
    conn = connect(server)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn.request(method, path, data, {**JSON, **(headers or {})})
    response = conn.getresponse()
    try:
        payload = response.read()
    except http.client.IncompleteRead as exc:
        payload = b"<cut>" + exc.partial
    conn.close()
    return response, payload


def post(server: ModelServer, body: object, **kwargs: Any) -> tuple[http.client.HTTPResponse, bytes]:
    return request(server, "POST", "/v1/chat/completions", body, **kwargs)


def events(payload: bytes) -> list[Any]:
    """The SSE `data:` payloads, JSON-decoded except `[DONE]`."""
    blocks = payload.removeprefix(b"<cut>").decode().split("\n\n")
    assert blocks[-1] == "", "the stream must end on an event boundary"
    datas = [block.removeprefix("data: ") for block in blocks[:-1]]
    assert all(block.startswith("data: ") for block in blocks[:-1])
    return [data if data == "[DONE]" else json.loads(data) for data in datas]


def content(evts: list[Any], key: str = "content") -> str:
    chunks = [e for e in evts if isinstance(e, dict) and e.get("choices")]
    return "".join(e["choices"][0]["delta"].get(key, "") for e in chunks)


def finish_reasons(evts: list[Any]) -> list[str]:
    return [e["choices"][0]["finish_reason"] for e in evts
            if isinstance(e, dict) and e.get("choices") and e["choices"][0]["finish_reason"]]


def words(n: int, prefix: str = "w") -> str:
    return "".join(f" {prefix}{i}" for i in range(1, n + 1))


@pytest.fixture
def server(model_server: ModelServer) -> ModelServer:
    model_server.clear()
    return model_server


def open_stream(server: ModelServer, model: str, events_wanted: int) -> tuple[http.client.HTTPConnection,
                                                                               http.client.HTTPResponse]:
    """Start a stream and read until `events_wanted` events have arrived; the caller closes it."""
    conn = connect(server)
    conn.request("POST", "/v1/chat/completions", json.dumps(chat(model)), JSON)
    response = conn.getresponse()
    for _ in range(events_wanted):
        assert response.readline().startswith(b"data: ") and response.readline() == b"\n"
    return conn, response


# --- the demo model -------------------------------------------------------------------------------------


def test_demo_stream_is_openai_shaped_sse(server: ModelServer) -> None:
    response, payload = post(server, chat(DEMO_MODEL, stream_options={"include_usage": True}))
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    evts = events(payload)
    first, *middle, finish, usage, done = evts
    assert first["object"] == "chat.completion.chunk" and first["model"] == DEMO_MODEL
    assert first["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                 "finish_reason": None, "logprobs": None}]
    assert all(e["choices"][0]["finish_reason"] is None for e in middle)
    assert all(set(e["choices"][0]["delta"]) == {"content"} for e in middle)
    assert finish["choices"][0]["delta"] == {} and finish["choices"][0]["finish_reason"] == "stop"
    tokens = sum(1 for e in middle if e["choices"][0]["delta"]["content"])
    assert tokens < len(middle), "an empty-content chunk, as real servers send"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == tokens
    assert usage["usage"]["prompt_tokens"] == len(USER.split())
    assert usage["usage"]["total_tokens"] == tokens + len(USER.split())
    assert done == "[DONE]"
    assert len({e["id"] for e in evts[:-1]}) == 1
    assert 150 <= tokens <= 300


def test_demo_reply_is_labelled_readable_markdown_about_the_prompt(server: ModelServer) -> None:
    text = content(events(post(server, chat(FAST_DEMO))[1]))
    assert text.endswith("\n*Offline demo model — no API key, no network.*\n")
    assert re.search(r"^## .*poem about spring", text, re.MULTILINE)
    assert "\n- " in text and "```python\n" in text and "| --- |" in text


def test_demo_is_deterministic_per_prompt(server: ModelServer) -> None:
    def reply(prompt: str) -> str:
        return content(events(post(server, chat(FAST_DEMO, prompt))[1]))

    assert reply("Tell me about tides") == reply("Tell me about tides")
    assert reply("Tell me about tides") != reply("Tell me about volcanoes")


def test_usage_chunk_only_when_asked_for(server: ModelServer) -> None:
    evts = events(post(server, chat("test/trickle?tokens=3&rate=0"))[1])
    assert all(e["choices"] for e in evts[:-1]) and "usage" not in evts[-2]


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_stops_with_length(server: ModelServer, limit: str) -> None:
    evts = events(post(server, chat(FAST_DEMO, **{limit: 7, "stream_options": {"include_usage": True}}))[1])
    assert finish_reasons(evts) == ["length"]
    assert evts[-2]["usage"]["completion_tokens"] == 7 and evts[-1] == "[DONE]"
    assert content(evts).startswith("A demo answer about")


def test_demo_rate_is_a_model_parameter(server: ModelServer) -> None:
    response, payload = post(server, chat(f"{DEMO_MODEL}?rate=inf"))
    assert response.status == 200 and finish_reasons(events(payload)) == ["stop"]


def test_non_streaming_reply_is_one_json_completion(server: ModelServer) -> None:
    response, payload = post(server, chat("test/reasoning?reasoning=2&tokens=3&rate=0", stream=False))
    body = json.loads(payload)
    assert response.status == 200 and response.getheader("Content-Type") == "application/json"
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": words(3),
                                             "reasoning_content": words(2, "r")}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": len(USER.split()), "completion_tokens": 5, "total_tokens": 11}


def test_models_lists_the_demo_and_the_scenarios(server: ModelServer) -> None:
    response, payload = request(server, "GET", "/v1/models")
    body = json.loads(payload)
    ids = [model["id"] for model in body["data"]]
    assert response.status == 200 and body["object"] == "list"
    assert ids[0] == DEMO_MODEL and {"Ling-2.6-flash", "test/echo", "test/stall", "test/http-429"} <= set(ids)
    assert all(m["object"] == "model" and m["owned_by"] == "ling-notebook" for m in body["data"])


# --- errors before the stream -----------------------------------------------------------------------------


def error_of(payload: bytes) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(payload)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_unknown_model_is_404_like_the_real_api(server: ModelServer) -> None:
    response, payload = post(server, chat("gpt-nope"))
    assert response.status == 404
    message = "The model `gpt-nope` does not exist or you do not have access to it."
    assert error_of(payload)["message"] == message
    assert error_of(payload)["code"] == "model_not_found"


@pytest.mark.parametrize("body, param", [
    (b"{not json", None),
    ({"model": DEMO_MODEL}, "messages"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
    (chat(DEMO_MODEL, max_tokens=0), "max_tokens"),
    (chat("test/flood?tokns=5"), "model"),
    (chat("test/flood?tokens=nan"), "model"),
    (chat(f"{DEMO_MODEL}?rate=-1"), "model"),
])
def test_bad_requests_are_400(server: ModelServer, body: object, param: str | None) -> None:
    response, payload = post(server, body)
    assert response.status == 400 and error_of(payload)["param"] == param


def test_unknown_url_is_a_json_404(server: ModelServer) -> None:
    response, payload = request(server, "GET", "/v1/nothing")
    assert response.status == 404 and error_of(payload)["message"] == "Invalid URL (GET /v1/nothing)"


@pytest.mark.parametrize("status, code", [(401, "invalid_api_key"), (403, "permission_denied"),
                                          (404, "model_not_found"), (429, "rate_limit_exceeded"),
                                          (500, "internal_error"), (503, "service_unavailable")])
def test_http_scenarios_fail_before_the_stream(server: ModelServer, status: int, code: str) -> None:
    response, payload = post(server, chat(f"test/http-{status}"))
    error = error_of(payload)
    assert response.status == status and error["code"] == code and error["message"]
    assert response.getheader("Content-Type") == "application/json"
    if status == 401:
        assert error["message"] == "Incorrect API key provided."
    if status == 404:
        assert "`test/http-404` does not exist" in error["message"]
    if status == 429:
        assert response.getheader("retry-after") == "0"
    assert server.wait_for(lambda r: r.model == f"test/http-{status}").chunks_sent == 0


# --- scenarios ----------------------------------------------------------------------------------------------


def test_echo_returns_the_last_user_message_exactly(server: ModelServer) -> None:
    hostile = "# Hi <img src=x onerror=alert(1)>\n```\n{df.shape} | a |\n[x](javascript:alert(1)) 🎉 naïve"
    body = {"model": "test/echo", "stream": True,
            "messages": [{"role": "system", "content": "be terse"}, {"role": "user", "content": hostile}]}
    evts = events(post(server, body)[1])
    assert content(evts) == hostile and finish_reasons(evts) == ["stop"]
    assert all(len(e["choices"][0]["delta"]["content"]) <= 4 for e in evts[1:-2])


def test_flood_and_trickle_send_numbered_words(server: ModelServer) -> None:
    assert content(events(post(server, chat("test/flood?tokens=2000"))[1])) == words(2000)
    assert content(events(post(server, chat("test/trickle?tokens=5&rate=500"))[1])) == words(5)


@pytest.mark.parametrize("model, reason", [("test/length", "length"),
                                           ("test/content-filter", "content_filter")])
def test_other_finish_reasons(server: ModelServer, model: str, reason: str) -> None:
    evts = events(post(server, chat(model))[1])
    assert content(evts) == words(10) and finish_reasons(evts) == [reason] and evts[-1] == "[DONE]"


def test_reasoning_comes_before_content(server: ModelServer) -> None:
    evts = events(post(server, chat("test/reasoning?reasoning=3&tokens=2"))[1])
    keys = [next(iter(e["choices"][0]["delta"]), None) for e in evts[1:-2]]
    assert keys == ["reasoning_content"] * 3 + ["content"] * 2
    assert content(evts, "reasoning_content") == words(3, "r") and content(evts) == words(2)


def test_empty_chunks_mix_empty_content_and_empty_deltas(server: ModelServer) -> None:
    evts = events(post(server, chat("test/empty-chunks?tokens=4"))[1])
    deltas = [e["choices"][0]["delta"] for e in evts[1:-2]]
    assert {"content": ""} in deltas and {} in deltas and content(evts) == words(4)


def test_utf8_split_mid_character_arrives_exactly(server: ModelServer) -> None:
    evts = events(post(server, chat("test/utf8"))[1])
    assert content(evts) == "Hello 👋 世界 — naïve café 🎉 e\u0301t\u0301e\u0301 👩\u200d💻 日本語 Ωmega ✓"
    assert finish_reasons(evts) == ["stop"]


def test_error_mid_stream_sends_an_error_event_then_ends(server: ModelServer) -> None:
    response, payload = post(server, chat("test/error-mid?after=3"))
    *evts, last = events(payload)
    assert response.status == 200 and not payload.startswith(b"<cut>")
    assert content(evts) == words(3) and finish_reasons(evts) == []
    assert last == {"error": {"message": "The server had an error while processing your request (simulated).",
                              "type": "server_error", "param": None, "code": "internal_error"}}
    assert not server.wait_for(lambda r: r.finished_at is not None).completed


def test_drop_cuts_the_connection_mid_body(server: ModelServer) -> None:
    _, payload = post(server, chat("test/drop?after=4"))
    evts = events(payload)
    assert payload.startswith(b"<cut>") and content(evts) == words(4)
    assert finish_reasons(evts) == [] and "[DONE]" not in evts


def test_truncate_ends_cleanly_without_finish_or_done(server: ModelServer) -> None:
    _, payload = post(server, chat("test/truncate?after=4"))
    evts = events(payload)
    assert not payload.startswith(b"<cut>") and content(evts) == words(4)
    assert finish_reasons(evts) == [] and "[DONE]" not in evts


def test_stall_goes_quiet_and_a_closed_client_is_recorded(server: ModelServer) -> None:
    conn, response = open_stream(server, "test/stall?after=3", events_wanted=4)
    conn.sock.settimeout(0.2)  # type: ignore[union-attr]
    with pytest.raises(TimeoutError):
        response.readline()
    response.close()
    conn.close()
    record = server.wait_for(lambda r: r.disconnected_at is not None)
    assert record.model == "test/stall?after=3" and record.chunks_sent == 4 and not record.completed
    assert record.first_byte_at is not None
    assert record.started_at <= record.first_byte_at <= record.disconnected_at


def test_a_client_leaving_stops_generation(server: ModelServer) -> None:
    conn, response = open_stream(server, "test/trickle?tokens=100000&rate=2000", events_wanted=3)
    response.close()
    conn.close()
    record = server.wait_for(lambda r: r.finished_at is not None)
    assert record.disconnected_at is not None and not record.completed
    assert record.chunks_sent < 100000


def test_slow_start_delays_the_first_byte(server: ModelServer) -> None:
    evts = events(post(server, chat("test/slow-start?delay=0.2&tokens=3"))[1])
    record = server.wait_for(lambda r: r.completed)
    assert content(evts) == words(3)
    assert record.first_byte_at is not None and record.first_byte_at - record.started_at >= 0.2


def test_concurrent_streams_all_complete(server: ModelServer) -> None:
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(
        content(events(post(server, chat("test/trickle?tokens=20&rate=200"))[1])))) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [words(20)] * 10


# --- records ----------------------------------------------------------------------------------------------


def test_records_say_what_the_request_carried(server: ModelServer) -> None:
    post(server, chat("test/trickle?tokens=3", temperature=0.2), headers={"X-Trace": "t1"})
    record = server.last_request()
    assert isinstance(record, RequestRecord) and record is not server.last_request()
    assert (record.method, record.path, record.model, record.stream) == (
        "POST", "/v1/chat/completions", "test/trickle?tokens=3", True)
    assert record.messages == [{"role": "user", "content": USER}] and record.body is not None
    assert record.body["temperature"] == 0.2 and record.body_size == len(json.dumps(record.body))
    assert record.headers["content-type"] == "application/json" and record.headers["x-trace"] == "***"
    assert record.completed and record.chunks_sent == 5 and record.disconnected_at is None
    assert record.started_at <= (record.first_byte_at or 0) <= (record.finished_at or 0)
    assert [r.id for r in server.requests] == [record.id]
    server.clear()
    assert server.requests == [] and server.last_request() is None


def test_wait_for_times_out(server: ModelServer) -> None:
    with pytest.raises(TimeoutError):
        server.wait_for(lambda r: r.model == "never", timeout=0.05)


def test_requests_endpoint_lists_and_clears_with_the_key_redacted(server: ModelServer) -> None:
    post(server, chat("test/trickle?tokens=1"), headers={"Authorization": "Bearer sk-secret-123"})
    _, payload = request(server, "GET", "/_ling/requests")
    records = json.loads(payload)
    assert [r["model"] for r in records] == ["test/trickle?tokens=1"]
    assert records[0]["headers"]["authorization"] == "Bearer ***" and b"sk-secret" not in payload
    assert records[0]["completed"] is True and records[0]["chunks_sent"] == 3
    response, _ = request(server, "DELETE", "/_ling/requests")
    assert response.status == 204 and server.requests == []


def test_records_never_hold_a_credential_not_even_in_repr(server: ModelServer) -> None:
    key = "sk-record-7f1e-secret"
    post(server, chat("test/trickle?tokens=1"), headers={
        "Authorization": f"Bearer {key}", "X-Api-Key": key, "Cookie": f"session={key}",
        "Proxy-Authorization": f"Basic {key}"})
    record = server.wait_for(lambda r: r.completed)
    assert record.headers["authorization"] == "Bearer ***" and record.headers["x-api-key"] == "***"
    assert record.headers["cookie"] == "***" and record.headers["proxy-authorization"] == "Basic ***"
    held = [repr(record), str(record), json.dumps(record.to_dict()), repr(server.requests), repr(record.headers)]
    assert not [text for text in held if key in text]
    assert record.carried_key(key) and not record.carried_key("sk-some-other-key")


@pytest.mark.parametrize("name, value, shown", [
    ("Api-Key", "sk-azure-style", "***"),
    ("X-Goog-Api-Key", "AIza-secret", "***"),
    ("Ocp-Apim-Subscription-Key", "gateway-secret", "***"),
    ("X-Custom-Token", "Bearer hidden-in-a-custom-header", "***"),
    ("Authorization", "sk-without-a-scheme", "***"),
    ("Authorization", "Token abc123", "***"),
    ("Referer", "http://127.0.0.1/?api-key=in-a-query", "***"),
])
def test_records_mask_every_header_but_a_short_list_of_harmless_ones(server: ModelServer, name: str, value: str,
                                                                     shown: str) -> None:
    post(server, chat("test/trickle?tokens=1"), headers={name: value, "User-Agent": "probe/1.0"})
    record = server.wait_for(lambda r: r.completed)
    assert record.headers[name.lower()] == shown
    assert record.headers["user-agent"] == "probe/1.0" and record.headers["content-type"] == "application/json"
    _, payload = request(server, "GET", "/_ling/requests")
    held = [repr(record), json.dumps(record.to_dict()), payload.decode()]
    assert not [text for text in held if value.split()[-1] in text]


def test_a_large_body_is_answered_but_not_kept(server: ModelServer) -> None:
    body = chat("test/trickle?tokens=2&rate=0", "x" * MAX_KEPT_BODY)
    response, payload = post(server, body)
    assert response.status == 200 and content(events(payload)) == words(2)
    record = server.wait_for(lambda r: r.completed)
    assert record.body is None and record.messages == [] and record.body_size == len(json.dumps(body))
    assert record.model == "test/trickle?tokens=2&rate=0"


def test_retries_of_a_large_request_are_counted_as_retries(server: ModelServer) -> None:
    body = chat("test/flaky?rate=0", "x" * MAX_KEPT_BODY)
    assert [post(server, body)[0].status for _ in range(2)] == [429, 200]


def test_records_keep_only_the_newest(server: ModelServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ling_notebook.server.records.MAX_RECORDS", 3)
    for n in range(5):
        post(server, chat(f"test/trickle?tokens={n + 1}"))
    assert [r.model for r in server.requests] == [f"test/trickle?tokens={n}" for n in (3, 4, 5)]


def raw_exchange(server: ModelServer, head: bytes) -> bytes:
    """Send `head` on a new connection; everything the server sends until it closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(head)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_a_body_over_the_size_limit_is_refused_before_it_is_read(server: ModelServer) -> None:
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\n\r\n")
    assert raw_exchange(server, head).startswith(b"HTTP/1.1 400 ")
    assert server.requests == []


def test_a_client_that_stalls_in_its_body_or_sends_nothing_is_disconnected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "LIMITS", {**serve.LIMITS, "body_timeout": 0.2, "idle_connection_timeout": 0.2})
    with ModelServer() as quick:
        head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{\"model\"")
        assert raw_exchange(quick, head) == b""
        assert raw_exchange(quick, b"") == b""
        assert quick.requests == []


# --- who may call: loopback Host and Origin, JSON posts, no CORS ------------------------------------------------


def refusal(response: http.client.HTTPResponse, payload: bytes) -> tuple[int, str, str]:
    error = json.loads(payload)["error"]
    return response.status, error["code"], error["message"]


@pytest.mark.parametrize("host", ["localhost", "localhost:8765", "LocalHost:1", "127.0.0.1", "127.9.8.7:80",
                                  "[::1]", "[::1]:8765"])
def test_requests_addressed_to_a_loopback_name_are_answered(server: ModelServer, host: str) -> None:
    response, payload = request(server, "GET", "/v1/models", headers={"Host": host})
    assert response.status == 200 and json.loads(payload)["object"] == "list"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "localhost.evil.example", "127.0.0.1.nip.io",
                                  "0.0.0.0:8765", "10.0.0.1", "[::2]:80", "[::1", ""])
@pytest.mark.parametrize("method, path", [("GET", "/v1/models"), ("POST", "/v1/chat/completions"),
                                          ("GET", "/_ling/requests"), ("DELETE", "/_ling/requests")])
def test_other_host_names_are_refused_against_dns_rebinding(server: ModelServer, host: str, method: str,
                                                             path: str) -> None:
    body = chat("test/trickle?tokens=1") if method == "POST" else None
    response, payload = request(server, method, path, body, headers={"Host": host})
    status, code, message = refusal(response, payload)
    assert (status, code) == (403, "host_not_allowed") and "DNS rebinding" in message
    assert server.requests == []


@pytest.mark.parametrize("origin", ["http://localhost:8888", "http://127.0.0.1:8888", "https://[::1]"])
def test_pages_from_loopback_origins_may_call(server: ModelServer, origin: str) -> None:
    response, payload = post(server, chat("test/trickle?tokens=1"), headers={"Origin": origin})
    assert response.status == 200 and content(events(payload)) == words(1)


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example", "null",
                                    "file://", "http://127.0.0.1.nip.io:8765", "chrome-extension://abc"])
def test_pages_from_other_origins_are_refused(server: ModelServer, origin: str) -> None:
    for method, path, body in [("POST", "/v1/chat/completions", chat("test/trickle?tokens=1")),
                               ("GET", "/v1/models", None), ("GET", "/_ling/requests", None)]:
        status, code, message = refusal(*request(server, method, path, body, headers={"Origin": origin}))
        assert (status, code) == (403, "origin_not_allowed") and "no CORS" in message
    assert server.requests == []


JSON_BODY = json.dumps(chat("test/trickle?tokens=1")).encode()
FORM_PART = b'--x\r\nContent-Disposition: form-data; name="model"\r\n\r\ntest/echo\r\n--x--\r\n'


@pytest.mark.parametrize("content_type, data", [
    (None, JSON_BODY), ("text/plain", JSON_BODY), ("application/jsonp", JSON_BODY),
    ("application/x-www-form-urlencoded", b"model=test/echo"), ("multipart/form-data; boundary=x", FORM_PART)])
def test_posts_must_be_json(server: ModelServer, content_type: str | None, data: bytes) -> None:
    """A form or a plain-text body is what a cross-origin page can post without a preflight."""
    conn = connect(server)
    conn.putrequest("POST", "/v1/chat/completions")
    if content_type:
        conn.putheader("Content-Type", content_type)
    conn.putheader("Content-Length", str(len(data)))
    conn.endheaders(data)
    response = conn.getresponse()
    status, code, message = refusal(response, response.read())
    conn.close()
    assert (status, code) == (415, "unsupported_media_type") and "application/json" in message


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_content_types_with_parameters_are_accepted(server: ModelServer, content_type: str) -> None:
    response, payload = post(server, chat("test/trickle?tokens=1"), headers={"Content-Type": content_type})
    assert response.status == 200 and content(events(payload)) == words(1)


def test_no_response_carries_cors_headers(server: ModelServer) -> None:
    origin = {"Origin": "http://localhost:8888"}
    preflight = {**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    responses = [request(server, "OPTIONS", "/v1/chat/completions", headers=preflight)[0],
                 post(server, chat("test/trickle?tokens=1"), headers=origin)[0],
                 request(server, "GET", "/v1/models", headers=origin)[0],
                 request(server, "GET", "/v1/models", headers={"Origin": "https://evil.example"})[0],
                 post(server, chat("test/http-401"), headers=origin)[0]]
    assert responses[0].status >= 400
    assert [name for r in responses for name in r.headers if name.lower().startswith("access-control-")] == []


def test_curl_with_a_json_content_type_works(server: ModelServer) -> None:
    result = subprocess.run(
        ["curl", "-sS", f"{server.url}/chat/completions", "-H", "content-type: application/json",
         "-d", json.dumps(chat(FAST_DEMO, stream=False))],
        capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(result.stdout)["choices"][0]["message"]["content"].startswith("A demo answer")


# --- lifecycle and command line -----------------------------------------------------------------------------


def test_start_stop_are_idempotent_and_host_must_be_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ModelServer(host="0.0.0.0")
    server = ModelServer()
    assert server.start() is server.start()
    assert server.url == f"http://127.0.0.1:{server.port}/v1" and server.port > 0
    server.stop()
    server.stop()
    with pytest.raises(OSError):
        connect(server).request("GET", "/v1/models")


def test_stop_closes_open_streams() -> None:
    with ModelServer() as server:
        conn, response = open_stream(server, "test/stall", events_wanted=2)
    assert server.wait_for(lambda r: r.disconnected_at is not None, timeout=1)
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    conn.close()


def test_cli_refuses_a_public_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_cli_serve_answers_and_stops_cleanly_on_ctrl_c() -> None:
    root = Path(ling_notebook.__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "ling_notebook.cli", "serve", "--port", "0", "--rate", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()  # the server prints it once it listens
        match = re.fullmatch(r"ling-notebook: offline demo model 'ling-offline-demo' at "
                             r"http://127\.0\.0\.1:(\d+)/v1 \(Ctrl-C to stop\)\n", banner)
        assert match, banner
        conn = http.client.HTTPConnection("127.0.0.1", int(match[1]), timeout=10)
        conn.request("POST", "/v1/chat/completions", json.dumps(chat(DEMO_MODEL)), JSON)
        assert content(events(conn.getresponse().read())).startswith("A demo answer")
        conn.close()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "Traceback" not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
