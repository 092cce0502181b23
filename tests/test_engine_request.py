"""What the engine puts in a request and which choice it reads, against a tiny canned HTTP server.

The built-in server always sends one choice, so several choices come from a handler of our own here.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ling_notebook import config, engine


def _chunk(*choices: tuple[int, str | None, str | None]) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": i, "delta": {"content": text} if text else {}, "finish_reason": finish}
                        for i, text, finish in choices]}


# Two choices streaming at once, each chunk listing choice 1 first: only choice 0 is the reply.
STREAM = [
    _chunk((0, "Alpha", None)),
    _chunk((1, "Beta", None)),
    _chunk((1, " two", None), (0, " one", None)),
    _chunk((1, None, "length")),
    _chunk((0, None, "stop")),
    {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [],
     "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
]
COMPLETION = {
    "id": "c2", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [
        {"index": 1, "message": {"role": "assistant", "content": "Beta two"}, "finish_reason": "length"},
        {"index": 0, "message": {"role": "assistant", "content": "Alpha one"}, "finish_reason": "stop"},
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
}


class _Canned(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.received.append({"path": self.path, "headers": headers, "body": body})
        if body.get("stream"):
            payload = "".join(f"data: {json.dumps(c)}\n\n" for c in STREAM) + "data: [DONE]\n\n"
            kind = "text/event-stream"
        else:
            payload, kind = json.dumps(COMPLETION), "application/json"
        data = payload.encode()
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def canned():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def run(url: str, *, stream: bool = True, **params) -> list[engine.Event]:
    settings = config.resolve(base_url=url, model="m", api_key="sk-canned", max_retries=0)

    async def events() -> list[engine.Event]:
        return [e async for e in engine.stream_events([{"role": "user", "content": "hi"}], settings,
                                                      stream=stream, **params)]

    return asyncio.run(events())


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_with_several_choices_only_the_first_is_the_reply(canned, stream):
    events = run(canned, stream=stream, n=2)
    assert "".join(e.text for e in events if isinstance(e, engine.ContentDelta)) == "Alpha one"
    assert [e.reason for e in events if isinstance(e, engine.Finished)] == ["stop"]
    assert not [e for e in events if isinstance(e, engine.Failed)]


def test_client_options_are_applied_not_sent_in_the_body(canned):
    _Canned.received.clear()
    run(canned, extra_headers={"X-Trace": "t-1"}, extra_query={"region": "eu"}, timeout=30,
        extra_body={"top_k": 3}, enable_thinking=True, temperature=0.5)
    (request,) = _Canned.received
    body = request["body"]
    assert not {"extra_headers", "extra_query", "extra_body", "timeout"} & set(body)
    assert (body["top_k"], body["enable_thinking"], body["temperature"]) == (3, True, 0.5)
    assert request["headers"]["x-trace"] == "t-1"
    assert request["path"].endswith("?region=eu")
