"""The engine through the real `openai` client over real HTTP against the built-in server."""

from __future__ import annotations

import asyncio
import time

import pytest
from secret_forms import forms, leaked

from ling_notebook import config, engine
from ling_notebook.errors import ReplyError

KEY = "sk-test-0123456789-secret"


def settings(server, model: str, **overrides) -> config.Settings:
    return config.resolve(base_url=server.url, model=model, api_key=KEY, max_retries=overrides.pop("max_retries", 1),
                          **overrides)


def collect(server, model: str, prompt: str = "Hello", *, stream: bool = True, **params) -> dict:
    """Run one request to the end and sort its events."""
    overrides = {k: params.pop(k) for k in ("timeout", "max_retries") if k in params}
    s = settings(server, model, **overrides)

    async def run() -> list[engine.Event]:
        return [e async for e in engine.stream_events([{"role": "user", "content": prompt}], s, stream=stream,
                                                      **params)]

    events = asyncio.run(run())
    failed = [e.error for e in events if isinstance(e, engine.Failed)]
    return {
        "events": events,
        "text": "".join(e.text for e in events if isinstance(e, engine.ContentDelta)),
        "reasoning": "".join(e.text for e in events if isinstance(e, engine.ReasoningDelta)),
        "finish": [e.reason for e in events if isinstance(e, engine.Finished)],
        "usage": [e for e in events if isinstance(e, engine.Usage)],
        "error": failed[0] if failed else None,
    }


def words(n: int, start: int = 1) -> str:
    return "".join(f" w{i}" for i in range(start, start + n))


def test_content_usage_and_finish_reason_arrive(model_server):
    r = collect(model_server, "test/trickle?tokens=30&rate=0")
    assert r["text"] == words(30)
    assert r["finish"] == ["stop"] and r["error"] is None
    assert r["usage"][0].completion_tokens == 30
    assert r["usage"][0].total_tokens == r["usage"][0].prompt_tokens + 30


def test_the_request_carries_model_messages_key_and_usage_option(model_server):
    collect(model_server, "test/trickle?tokens=3&rate=0", prompt="Count to three", temperature=0.3,
            enable_thinking=True)
    req = model_server.last_request()
    assert req.body["messages"] == [{"role": "user", "content": "Count to three"}]
    assert req.body["stream"] is True and req.body["stream_options"] == {"include_usage": True}
    assert req.body["temperature"] == 0.3 and req.body["enable_thinking"] is True
    assert req.carried_key(KEY) and req.headers["authorization"] == "Bearer ***"


def test_emoji_and_cjk_split_across_tcp_writes_arrive_intact(model_server):
    r = collect(model_server, "test/utf8")
    assert "👋" in r["text"] and "世界" in r["text"] and "\ufffd" not in r["text"]
    assert r["error"] is None


def test_empty_chunks_are_skipped(model_server):
    r = collect(model_server, "test/empty-chunks?tokens=10&rate=0")
    assert r["text"] == words(10)
    assert all(e.text for e in r["events"] if isinstance(e, engine.ContentDelta))


def test_reasoning_deltas_are_separate_from_content(model_server):
    r = collect(model_server, "test/reasoning?tokens=5&rate=0")
    assert r["reasoning"] and r["text"] == words(5)
    assert r["reasoning"] not in r["text"]


@pytest.mark.parametrize("model, reason", [("test/length?tokens=4&rate=0", "length"),
                                           ("test/content-filter?tokens=4&rate=0", "content_filter")])
def test_other_finish_reasons(model_server, model, reason):
    assert collect(model_server, model)["finish"] == [reason]


def test_max_tokens_gives_length(model_server):
    r = collect(model_server, "test/trickle?tokens=50&rate=0", max_tokens=7)
    assert r["text"] == words(7) and r["finish"] == ["length"]


def test_non_streaming_gives_the_same_events(model_server):
    r = collect(model_server, "test/trickle?tokens=12&rate=0", stream=False)
    assert r["text"] == words(12) and r["finish"] == ["stop"] and r["usage"][0].completion_tokens == 12
    assert model_server.last_request().body["stream"] is False


@pytest.mark.parametrize(
    "status, kind, hint",
    [
        (401, "auth", "LING_API_KEY"),
        (403, "permission", "HTTP 403"),
        (404, "not_found", "Model 'test/http-404'"),
        (429, "rate_limit", "after 1 retry"),
        (500, "server", "Try again later"),
        (503, "server", "HTTP 503"),
    ],
)
def test_http_errors_become_clear_messages(model_server, monkeypatch, status, kind, hint):
    monkeypatch.setenv("LING_API_KEY", KEY)
    s = config.resolve(base_url=model_server.url, model=f"test/http-{status}", max_retries=1)

    async def run():
        return [e async for e in engine.stream_events([{"role": "user", "content": "hi"}], s)]

    error = asyncio.run(run())[-1].error
    assert isinstance(error, ReplyError) and error.kind == kind and error.status_code == status
    assert hint in error.message
    assert KEY not in error.message


def test_429_is_retried_as_often_as_configured(model_server):
    model_server.clear()
    r = collect(model_server, "test/http-429", max_retries=2)
    assert r["error"].kind == "rate_limit" and "after 2 retries" in r["error"].message
    assert len(model_server.requests) == 3


def test_unknown_model_names_model_and_base_url(model_server):
    error = collect(model_server, "no-such-model")["error"]
    assert "no-such-model" in error.message and model_server.url in error.message


def test_error_mid_stream_keeps_the_partial_text(model_server):
    r = collect(model_server, "test/error-mid?after=6&rate=0")
    assert r["text"] == words(6)
    assert r["error"].kind == "stream" and "simulated" in r["error"].message and "incomplete" in r["error"].message


def test_dropped_connection_is_incomplete_not_done(model_server):
    r = collect(model_server, "test/drop?after=5&rate=0")
    assert r["text"] == words(5) and r["finish"] == []
    assert r["error"].kind in ("connection", "incomplete") and "incomplete" in r["error"].message


def test_stream_without_finish_or_done_is_incomplete(model_server):
    r = collect(model_server, "test/truncate?after=4&rate=0")
    assert r["text"] == words(4)
    assert r["error"].kind == "incomplete"


def test_a_stalled_stream_hits_the_timeout(model_server):
    r = collect(model_server, "test/stall?after=3&rate=0", timeout=0.5)
    assert r["text"] == words(3)
    assert r["error"].kind == "timeout" and "0.5 s" in r["error"].message


def test_connection_refused_is_explained():
    s = config.resolve(base_url="http://127.0.0.1:9/v1", model="m", api_key=KEY, max_retries=0, timeout=2)

    async def run():
        return [e async for e in engine.stream_events([{"role": "user", "content": "hi"}], s)]

    error = asyncio.run(run())[-1].error
    assert error.kind == "connection" and "Could not connect to http://127.0.0.1:9/v1" in error.message
    assert KEY not in error.message


class EchoingServer:
    """A server that answers every request with the error `message` it is given: as an HTTP status, or as
    an error event inside a 200 stream. The errors reach the test from the `openai` client itself."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        echo = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                body = json.dumps({"error": {"message": echo.message, "type": "invalid_request_error"}})
                if echo.status == 200:
                    body = f"data: {body}\n\n"
                self.send_response(echo.status)
                self.send_header("content-type", "text/event-stream" if echo.status == 200 else "application/json")
                self.send_header("content-length", str(len(body.encode())))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.status, self.message = 401, ""
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def error_for(self, s: config.Settings) -> ReplyError:
        async def run():
            return [e async for e in engine.stream_events([{"role": "user", "content": "hi"}], s)]

        (failed,) = [e for e in asyncio.run(run()) if isinstance(e, engine.Failed)]
        return failed.error

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def echoing_server():
    server = EchoingServer()
    yield server
    server.close()


@pytest.mark.parametrize("status", [401, 200])
def test_a_key_echoed_by_the_server_is_redacted(echoing_server, status):
    s = config.resolve(base_url=echoing_server.url, model="x", api_key=KEY, max_retries=0)
    echoing_server.status, echoing_server.message = status, f"Incorrect API key provided: {KEY}"
    error = echoing_server.error_for(s)
    assert error.kind == ("auth" if status == 401 else "stream")
    assert "Incorrect API key provided: ***" in error.message and KEY not in error.message


def test_cancelling_closes_the_connection_at_once(model_server):
    s = settings(model_server, "test/stall?after=2&rate=0")
    model_server.clear()

    async def run() -> float:
        async def consume():
            async for _ in engine.stream_events([{"role": "user", "content": "hi"}], s):
                pass

        task = asyncio.create_task(consume())
        model_server_req = await asyncio.to_thread(model_server.wait_for, lambda r: r.chunks_sent >= 2)
        assert model_server_req.disconnected_at is None
        cancelled_at = time.time()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return cancelled_at

    cancelled_at = asyncio.run(run())
    record = model_server.wait_for(lambda r: r.disconnected_at is not None)
    assert record.disconnected_at - cancelled_at < 1.0  # the benchmark measures it precisely


def test_closing_the_events_at_the_first_one_closes_the_connection(model_server):
    """A consumer may stop at any event, the first (the stream opened) included: the response is closed."""
    s = settings(model_server, "test/stall?after=2&rate=0")
    model_server.clear()

    async def run() -> None:
        client = engine.make_client(s)  # a shared client, as the runner's: closing it would hide the leak
        events = engine.stream_events([{"role": "user", "content": "hi"}], s, client=client)
        assert isinstance(await anext(events), engine.Started)
        await events.aclose()
        try:
            record = await asyncio.to_thread(model_server.wait_for, lambda r: r.disconnected_at is not None)
            assert record.model == "test/stall?after=2&rate=0"
        finally:
            await client.close()

    asyncio.run(run())


# --- a bad key never shows in the error it causes ---------------------------------------------------------


@pytest.mark.parametrize("bad_key", ["sk-client-trailing-7c1d\n", "sk-client-inner-7c1d\nsecond-half-9e2f",
                                     "sk-client-naïve-7c1d"])
def test_an_error_caused_by_a_bad_key_never_carries_it(model_server, bad_key):
    """A user's own client is used as it is, so its key is not cleaned: redaction must still hold."""
    import openai

    from ling_notebook.reply import Reply

    client = openai.AsyncOpenAI(api_key=bad_key, base_url=model_server.url, max_retries=0)
    s = config.resolve(client=client, model="test/http-401")
    reply = Reply([{"role": "user", "content": "hi"}], s).start()
    reply.wait(10)
    shown = [reply.error or "", repr(reply), repr(s)]

    async def run():
        return [e async for e in engine.stream_events([{"role": "user", "content": "hi"}], s)]

    error = asyncio.run(run())[-1].error
    shown += [error.message, str(error), repr(error)]
    assert reply.status == "error" and isinstance(error, ReplyError)
    assert [text for text in shown if leaked(text, bad_key)] == []


@pytest.mark.parametrize("status", [401, 200])
def test_a_key_echoed_by_the_server_in_any_form_is_redacted(echoing_server, status):
    key = 'sk-echo/7+"q=z'  # characters that repr, JSON and percent-encoding each escape differently
    s = config.resolve(base_url=echoing_server.url, model="x", api_key=key, max_retries=0)
    echoing_server.status = status
    for echoed in forms(key):
        echoing_server.message = f"Incorrect API key provided: {echoed}"
        assert leaked(echoing_server.error_for(s).message, key) == [], echoed


def test_reasoning_is_read_from_the_extra_field_a_declared_field_or_a_plain_object():
    from openai.types.chat.chat_completion_chunk import ChoiceDelta

    class Declared(ChoiceDelta):  # a client whose models type the field
        reasoning_content: str | None = None

    class Plain:  # a user's own client, not pydantic
        reasoning_content = "plain"

    assert engine._reasoning_of(ChoiceDelta.model_validate({"reasoning_content": "extra"})) == "extra"
    assert engine._reasoning_of(Declared(reasoning_content="declared")) == "declared"
    assert engine._reasoning_of(Plain()) == "plain"
    assert engine._reasoning_of(ChoiceDelta(content="text only")) is None
    assert engine._reasoning_of(ChoiceDelta.model_validate({"reasoning_content": ""})) is None
