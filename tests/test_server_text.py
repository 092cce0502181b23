"""Every string a server sends reaches the views encodable: half a surrogate pair (which JSON can carry) in
the model name, the finish reason, an error message or a model list becomes U+FFFD, like the text does."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from dataclasses import fields, is_dataclass
from typing import Any

import pytest

from ling_notebook import config, engine

HALF = "\ud83d"  # the first half of 😀, alone


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **more: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": f"m{HALF}", "choices": choices,
            **more}


# What each model name gets: a stream, a whole reply, an HTTP error, or an error inside the stream.
STREAM = [
    chunk({"role": "assistant", "reasoning_content": f"think{HALF}"}),
    chunk({"content": f"text{HALF}"}),
    chunk({}, finish=f"stop{HALF}"),
    chunk(usage={"prompt_tokens": f"1{HALF}", "completion_tokens": 2, "total_tokens": None}),
]
WHOLE = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": f"whole{HALF}",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": f"text{HALF}"},
                 "finish_reason": f"stop{HALF}"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": f"2{HALF}", "total_tokens": 3},
}
ERROR = {"error": {"message": f"refused{HALF} by the gateway", "type": "invalid_request_error"}}
MODELS = {"object": "list", "data": [{"id": f"odd{HALF}-model", "object": "model", "created": 1, "owned_by": "x"}]}


class OddServer:
    """A stdlib HTTP server whose every string field carries half a surrogate pair (escaped in JSON, as
    a server may send it). Models: `stream`, `whole` (any request), `status` (HTTP 400), `event` (an error
    event inside a 200 stream); GET /v1/models lists one odd name."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer(200, "application/json", json.dumps(MODELS))

            def do_POST(self) -> None:
                model = json.loads(self.rfile.read(int(self.headers["content-length"])))["model"]
                if model == "status":
                    self.answer(400, "application/json", json.dumps(ERROR))
                elif model == "event":
                    self.answer(200, "text/event-stream", f"data: {json.dumps(ERROR)}\n\n")
                elif model == "whole":
                    self.answer(200, "application/json", json.dumps(WHOLE))
                else:
                    events = "".join(f"data: {json.dumps(c)}\n\n" for c in STREAM)
                    self.answer(200, "text/event-stream", events + "data: [DONE]\n\n")

            def answer(self, status: int, kind: str, body: str) -> None:
                data = body.encode()  # json.dumps wrote every surrogate as \\udxxx: plain ASCII
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def odd_server():
    server = OddServer()
    yield server
    server.close()


def strings(value: Any) -> list[str]:
    """Every str inside an event (dataclasses, errors, lists)."""
    if isinstance(value, str):
        return [value]
    if is_dataclass(value):
        return [s for f in fields(value) for s in strings(getattr(value, f.name))]
    if isinstance(value, BaseException):
        return [str(value)]
    return [s for item in value for s in strings(item)] if isinstance(value, (list, tuple)) else []


def events(server: OddServer, model: str, stream: bool = True) -> list[Any]:
    settings = config.resolve(base_url=server.url, model=model, max_retries=0)

    async def run() -> list[Any]:
        return [e async for e in engine.stream_events([{"role": "user", "content": "hi"}], settings, stream=stream)]

    return asyncio.run(run())


@pytest.mark.parametrize("model, stream", [("stream", True), ("whole", False), ("status", True), ("event", True)])
def test_every_string_a_server_sends_can_be_encoded(odd_server, model, stream):
    got = events(odd_server, model, stream)
    texts = strings(got)
    assert texts and all(text.encode("utf-8") for text in texts)  # a lone surrogate would raise here
    assert any("\ufffd" in text for text in texts)


def test_the_fields_keep_what_they_said_around_the_broken_character(odd_server):
    got = {type(e).__name__: e for e in events(odd_server, "stream")}
    assert got["Finished"].reason == "stop\ufffd" and got["ContentDelta"].text == "text\ufffd"
    assert got["ReasoningDelta"].text == "think\ufffd"
    assert vars(got["Usage"]) == {"prompt_tokens": 0, "completion_tokens": 2, "total_tokens": 0}  # counts, or 0
    whole = {type(e).__name__: e for e in events(odd_server, "whole", stream=False)}
    assert whole["Started"].model == "whole\ufffd" and whole["Usage"].completion_tokens == 0
    (failed,) = [e for e in events(odd_server, "status") if isinstance(e, engine.Failed)]
    assert "refused\ufffd by the gateway" in failed.error.message
