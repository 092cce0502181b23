"""The built-in OpenAI-compatible chat-completions server: the offline demo model and the test double.

Owns a small HTTP server on loopback (tornado, on its own event loop in a daemon thread) that speaks
``POST /v1/chat/completions`` (SSE stream or plain JSON) and ``GET /v1/models`` like the OpenAI and
Ant Ling APIs, the models it serves, and a record of every request it received. It knows nothing of
Jupyter or of the client side of this package.

Models (parameters go in the model name after ``?``, e.g. ``test/flood?tokens=500&rate=0``):

- ``ling-offline-demo``: deterministic Markdown about the last user message, at the server's rate
  (``?rate=N`` overrides it; ``rate=0`` or ``inf`` means as fast as possible).
- ``test/<scenario>`` (``rate`` defaults to 1000 pieces/s; generic content is ``" w1"``, ``" w2"``, ...):
  ``echo`` (the last user message back, in 4-character pieces), ``trickle`` (tokens=50, rate=20),
  ``flood`` (tokens=10000, rate=0), ``length`` / ``content-filter`` (tokens=10, that finish reason),
  ``reasoning`` (reasoning=20 ``reasoning_content`` pieces, then tokens=20), ``empty-chunks`` (tokens=10,
  interleaved with empty deltas), ``utf8`` (emoji, CJK and combining marks, each event's bytes split
  mid-character across two TCP writes), ``slow-start`` (delay=2.0 s before the headers),
  ``error-mid`` (after=5 pieces, then an in-stream error event and the end of the response),
  ``drop`` (after=5, then the connection is cut), ``truncate`` (after=5, then the response ends with no
  finish reason and no ``[DONE]``), ``stall`` (after=3, then silence until the client leaves), and
  ``http-401``, ``http-403``, ``http-404``, ``http-429``, ``http-500``, ``http-503`` (that error status).

``max_tokens`` / ``max_completion_tokens`` cut any reply with ``finish_reason: "length"``. When a client
disconnects, generation stops at once. ``GET /_ling/requests`` returns the records as JSON (API keys
redacted) and ``DELETE /_ling/requests`` clears them, for tests that run the server in another process.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import json
import logging
import re
import signal
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPServerRequest
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError, RequestHandler

from .config import is_loopback

__all__ = ["DEMO_MODEL", "ModelServer", "RequestRecord", "run"]

DEMO_MODEL = "ling-offline-demo"

_log = logging.getLogger(__name__)
_MAX_RECORDS = 1000  # a long-running `serve` must not grow without bound
_STALL_LIMIT = 600.0  # seconds a stalled stream waits for its client before giving up
_MODELS_CREATED = 1767225600  # fixed so /v1/models is deterministic
_SECRET_HEADERS = {"authorization", "api-key", "x-api-key", "cookie"}

# Scenario name -> default parameters (and `rate`, 1000 unless given); the keys are the parameters it accepts.
_SCENARIOS: dict[str, dict[str, float]] = {
    "echo": {},
    "trickle": {"tokens": 50, "rate": 20},
    "flood": {"tokens": 10000, "rate": 0},
    "length": {"tokens": 10},
    "content-filter": {"tokens": 10},
    "reasoning": {"reasoning": 20, "tokens": 20},
    "empty-chunks": {"tokens": 10},
    "utf8": {},
    "slow-start": {"delay": 2.0, "tokens": 20},
    "error-mid": {"after": 5},
    "drop": {"after": 5},
    "truncate": {"after": 5},
    "stall": {"after": 3},
}
# Status -> (message, type, code), worded like the real API.
_HTTP_ERRORS: dict[int, tuple[str, str, str]] = {
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use this model (simulated).", "invalid_request_error", "permission_denied"),
    404: ("The model `{model}` does not exist or you do not have access to it.", "invalid_request_error",
          "model_not_found"),
    429: ("Rate limit reached for requests (simulated). Please try again in 0s.", "requests",
          "rate_limit_exceeded"),
    500: ("The server had an error while processing your request (simulated).", "server_error",
          "internal_error"),
    503: ("The engine is currently overloaded, please try again later (simulated).", "server_error",
          "service_unavailable"),
}
# `retry-after: 0` as real servers send; openai-python ignores a zero delay, so retry-after-ms makes it quick.
_RETRY_NOW = {"retry-after": "0", "retry-after-ms": "10"}
_MID_STREAM_ERROR = {"message": _HTTP_ERRORS[500][0], "type": "server_error", "param": None,
                     "code": "internal_error"}
_UTF8_PIECES = ["Hello 👋", " 世界", " —", " naïve", " café", " 🎉", " e\u0301t\u0301e\u0301",
                " 👩\u200d💻", " 日本語", " Ωmega", " ✓"]
_PIECE = re.compile(r"\n| ?\w+| ?[^\w\s]|\s")


@dataclasses.dataclass
class RequestRecord:
    """What one request carried and how its response went (times are ``time.time()`` floats)."""

    id: int
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    model: str | None = None
    messages: list[Any] = dataclasses.field(default_factory=list)
    stream: bool = False
    started_at: float = dataclasses.field(default_factory=time.time)
    first_byte_at: float | None = None
    finished_at: float | None = None
    disconnected_at: float | None = None  # the client left before the server finished sending
    completed: bool = False  # the whole response went out (for a stream: up to `data: [DONE]`)
    chunks_sent: int = 0  # `data:` events written, `[DONE]` not counted

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy with credentials redacted."""
        data = dataclasses.asdict(self)
        data["headers"] = {name: _redact(name, value) for name, value in self.headers.items()}
        return data


def _redact(name: str, value: str) -> str:
    if name not in _SECRET_HEADERS:
        return value
    return "Bearer ***" if value.lower().startswith("bearer") else "***"


class _Records:
    """The request log, shared between the server thread and the caller's thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[RequestRecord] = []
        self._next_id = 1

    def add(self, request: HTTPServerRequest, body: dict[str, Any] | None) -> RequestRecord:
        headers = {name.lower(): value for name, value in request.headers.get_all()}
        with self._cond:
            record = RequestRecord(self._next_id, request.method or "", request.path, headers, body)
            self._next_id += 1
            self._items = [*self._items[1 - _MAX_RECORDS :], record]
            self._cond.notify_all()
            return record

    def update(self, record: RequestRecord, **changes: Any) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(record, name, value)
            self._cond.notify_all()

    def snapshot(self) -> list[RequestRecord]:
        with self._cond:
            return [copy.copy(record) for record in self._items]

    def clear(self) -> None:
        with self._cond:
            self._items = []

    def wait_for(self, predicate: Callable[[RequestRecord], object], timeout: float) -> RequestRecord:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in reversed(self._items):
                    if predicate(record):
                        return copy.copy(record)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"No request record satisfied the condition within {timeout} s.")
                self._cond.wait(remaining)


class _ApiError(Exception):
    """An error response in the OpenAI format, raised before any byte of the response is sent."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.type, self.code, self.param = status, type, code, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


class _ClientGone(Exception):
    """The client closed the connection: stop generating."""


_Piece = tuple[str | None, str]  # (delta key, text); key None: an empty delta


@dataclasses.dataclass
class _Plan:
    """What a model will send. Pieces are made lazily, so a million-token flood costs no memory."""

    pieces: Iterator[_Piece]
    ending: str  # a finish reason, or "error", "drop", "truncate", "stall"
    rate: float  # pieces per second; 0 or inf: no pause
    delay: float = 0.0  # seconds before the response headers
    split_utf8: bool = False
    limit: int | None = None  # max_tokens
    sent: int = 0  # non-empty pieces handed out: the completion tokens

    def within_limit(self) -> Iterator[_Piece]:
        """The pieces, at most ``limit`` non-empty ones; hitting the limit makes the ending "length"."""
        for key, text in self.pieces:
            if text and self.sent == self.limit:
                self.ending = "length"
                return
            self.sent += bool(text)
            yield key, text


def _dumps(data: object) -> str:
    # Raw UTF-8 like the real API, so multi-byte characters reach the wire (and can be split there).
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _text_of(message: object) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _last_user_text(messages: list[Any]) -> str:
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return _text_of(users[-1] if users else messages[-1])


def _demo_reply(prompt: str) -> str:
    words = re.sub(r"[^\w\s',.?!-]", " ", prompt).split()
    topic = " ".join(words[:8]).strip(" ,.-") + (" …" if len(words) > 8 else "") or "your prompt"
    seed = zlib.crc32(prompt.encode())
    angle = (
        "A real model would weigh every word of it; this one only shows how a streamed answer looks.",
        "The words you read are fixed in advance, so the same prompt always gets the same reply.",
        "Nothing leaves this machine: the reply comes from a small server on 127.0.0.1.",
    )[seed % 3]
    return (
        "*Offline demo model — no API key, no network.*\n\n"
        f"## About “{topic}”\n\n"
        f"You asked about **{topic}**. {angle} Headings, lists, code and a table arrive token by token, "
        "just as they would from a hosted model.\n\n"
        "### Things to try while it streams\n\n"
        "- Press **Stop**: the text received so far is kept.\n"
        "- Run another cell: the reply keeps streaming in the background.\n"
        "- Set `LING_API_KEY` to talk to a real model instead.\n\n"
        "```python\n"
        f"topic = {' '.join(words[:8])!r}\n"
        "words = topic.split()\n"
        'print(len(words), "words, the longest is", max(words, key=len, default=""))\n'
        "```\n\n"
        "| what | value |\n| --- | --- |\n"
        f"| model | `{DEMO_MODEL}` |\n| words in your prompt | {len(prompt.split())} |\n"
        f"| reply number | {seed % 10000:04d} |\n"
    )


def _parse_model(name: str) -> tuple[str, dict[str, float]]:
    """Split ``test/flood?tokens=5`` into ("flood", {"tokens": 5.0, "rate": 0.0}); the demo is ("", {...})."""
    base, _, query = name.partition("?")
    if base == DEMO_MODEL:
        kind, allowed = "", {"rate"}
        params: dict[str, float] = {}
    elif base.startswith("test/http-") and base[10:].isdigit() and 400 <= int(base[10:]) <= 599:
        return base[5:], {}
    elif base.startswith("test/") and base[5:] in _SCENARIOS:
        kind = base[5:]
        params = {"rate": 1000, **_SCENARIOS[kind]}
        allowed = set(params)
    else:
        raise _ApiError(404, f"The model `{name}` does not exist or you do not have access to it.",
                        code="model_not_found")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in allowed:
            raise _ApiError(400, f"Unknown parameter `{key}` in model `{name}`; it accepts: "
                            f"{', '.join(sorted(allowed))}.", param="model", code="invalid_value")
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = -1.0
        if not 0 <= params[key] < float("inf") and not (key == "rate" and params[key] == float("inf")):
            raise _ApiError(400, f"Parameter `{key}` in model `{name}` must be a number >= 0, not {value!r}.",
                            param="model", code="invalid_value")
    return kind, params


def _words(count: float, prefix: str = "w", key: str = "content") -> Iterator[_Piece]:
    return ((key, f" {prefix}{i}") for i in range(1, int(count) + 1))


def _with_empty_chunks(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    for i, piece in enumerate(pieces):
        yield piece
        yield ("content", "") if i % 2 == 0 else (None, "")


def _plan(kind: str, params: dict[str, float], messages: list[Any], demo_rate: float) -> _Plan:
    rate = params.get("rate", demo_rate)
    prompt = _last_user_text(messages)
    if kind == "":  # led by an empty-content chunk, as real servers often send
        return _Plan((("content", p) for p in ["", *_PIECE.findall(_demo_reply(prompt))]), "stop", rate)
    if kind == "echo":
        return _Plan((("content", prompt[i : i + 4]) for i in range(0, len(prompt), 4)), "stop", rate)
    if kind == "reasoning":
        reasoning = _words(params["reasoning"], "r", "reasoning_content")
        return _Plan(itertools.chain(reasoning, _words(params["tokens"])), "stop", rate)
    if kind == "empty-chunks":
        return _Plan(_with_empty_chunks(_words(params["tokens"])), "stop", rate)
    if kind == "utf8":
        return _Plan((("content", p) for p in _UTF8_PIECES), "stop", rate, split_utf8=True)
    if kind in ("error-mid", "drop", "truncate", "stall"):
        return _Plan(_words(params["after"]), kind.removesuffix("-mid"), rate)
    ending = {"length": "length", "content-filter": "content_filter"}.get(kind, "stop")
    return _Plan(_words(params["tokens"]), ending, rate, delay=params.get("delay", 0.0))


class _Handler(RequestHandler):
    """Common ground: request records, OpenAI-style errors, disconnect detection, quiet logs."""

    recorded = True

    def initialize(self, server: ModelServer) -> None:
        self.server = server
        self.record: RequestRecord | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def prepare(self) -> None:
        try:
            body = json.loads(self.request.body) if self.request.body else None
        except ValueError:
            body = None
        self.body = body if isinstance(body, dict) else None
        if self.recorded:
            self.record = self.server._records.add(self.request, self.body)

    def note(self, **changes: Any) -> None:
        if self.record is not None:
            self.server._records.update(self.record, **changes)

    def end(self, completed: bool, last: str | bytes | None = None) -> None:
        """Finish the response, recording it first: a client that has seen the end sees it recorded."""
        if self.record is not None:
            now = time.time()
            self.note(finished_at=now, completed=completed, first_byte_at=self.record.first_byte_at or now)
        self.finish(last)

    def finish_json(self, data: object) -> None:
        self.set_header("Content-Type", "application/json")
        self.end(True, _dumps(data))

    def send_api_error(self, error: _ApiError) -> None:
        self.set_status(error.status)
        for name, value in error.headers.items():
            self.set_header(name, value)
        self.finish_json(error.body())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Tornado's own errors (405, a bug's 500) in the API's format too.
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.log_message if isinstance(exc, HTTPError) and exc.log_message else None
        kind = "server_error" if status_code >= 500 else "invalid_request_error"
        self.set_header("Content-Type", "application/json")
        self.write(_dumps(_ApiError(status_code, message or HTTPStatus(status_code).phrase, kind).body()))

    def log_exception(self, typ: type[BaseException] | None, value: BaseException | None,
                      tb: TracebackType | None) -> None:
        # Tornado's default logs the whole request, Authorization header included.
        if not isinstance(value, HTTPError):  # HTTPError is a 4xx answer to the client, not a fault here
            _log.error("%s %s failed", self.request.method, self.request.path, exc_info=value)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self.client_gone()

    def client_gone(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
            self.note(disconnected_at=time.time())

    def on_finish(self) -> None:
        # Responses that tornado ends by itself: its own errors, and handlers whose client left.
        if self.record is not None and self.record.finished_at is None:
            now = time.time()
            first_byte_at = self.record.first_byte_at or (None if self.closed.done() else now)
            self.note(finished_at=now, first_byte_at=first_byte_at)


class _NotFound(_Handler):
    def prepare(self) -> None:
        super().prepare()
        self.send_api_error(_ApiError(404, f"Invalid URL ({self.request.method} {self.request.path})"))


class _Models(_Handler):
    def get(self) -> None:
        names = [DEMO_MODEL, *(f"test/{s}" for s in _SCENARIOS), *(f"test/http-{n}" for n in _HTTP_ERRORS)]
        models = [{"id": name, "object": "model", "created": _MODELS_CREATED, "owned_by": "ling-notebook"}
                  for name in names]
        self.finish_json({"object": "list", "data": models})


class _Requests(_Handler):
    recorded = False

    def get(self) -> None:
        self.finish_json([record.to_dict() for record in self.server.requests])

    def delete(self) -> None:
        self.server.clear()
        self.set_status(204)


class _ChatCompletions(_Handler):
    async def post(self) -> None:
        try:
            plan, model = self.validate()
            if plan.delay:
                await self.pause(plan.delay)
            if self.body and self.body.get("stream"):
                await self.stream(plan, model)
            else:
                await self.respond(plan, model)
        except _ApiError as error:
            self.send_api_error(error)
        except _ClientGone:
            pass  # recorded by client_gone(); tornado's own finish() on a closed stream is harmless

    def validate(self) -> tuple[_Plan, str]:
        body = self.body
        if body is None:
            raise _ApiError(400, "We could not parse the JSON body of your request: send a JSON object.")
        model, messages = body.get("model"), body.get("messages")
        self.note(model=model if isinstance(model, str) else None, stream=bool(body.get("stream")),
                  messages=messages if isinstance(messages, list) else [])
        if not isinstance(model, str) or not model:
            raise _ApiError(400, "Missing required parameter: 'model'.", param="model",
                            code="missing_required_parameter")
        if not isinstance(messages, list) or not messages:
            raise _ApiError(400, "Missing required parameter: 'messages'.", param="messages",
                            code="missing_required_parameter")
        limit_name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        max_tokens = body.get(limit_name)
        if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
            raise _ApiError(400, f"Invalid '{limit_name}': expected an integer >= 1, got {max_tokens!r}.",
                            param=limit_name, code="invalid_value")
        kind, params = _parse_model(model)
        if kind.startswith("http-"):
            status = int(kind[5:])
            generic = (f"Simulated HTTP {status}.", "api_error", "simulated")
            message, type_, code = _HTTP_ERRORS.get(status, generic)
            raise _ApiError(status, message.format(model=model), type_, code,
                            headers=_RETRY_NOW if status in (429, 503) else None)
        plan = _plan(kind, params, messages, self.server.rate)
        plan.limit = max_tokens
        return plan, model

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the client leaves."""
        done, _ = await asyncio.wait([self.closed], timeout=seconds)
        if done:
            raise _ClientGone

    async def pace(self, start: float, index: int, rate: float) -> None:
        delay = start + index / rate - asyncio.get_running_loop().time() if 0 < rate < float("inf") else 0
        if delay > 0:
            await self.pause(delay)
        elif index % 64 == 0:
            await asyncio.sleep(0)  # a finished write does not yield: let other streams and close events in
        if self.closed.done():
            raise _ClientGone

    async def send(self, data: str, split: bool = False) -> None:
        raw = f"data: {data}\n\n".encode()
        parts = [raw]
        if split:  # cut just after the first byte of a multi-byte character
            cut = next((i + 1 for i, byte in enumerate(raw) if byte >= 0x80), len(raw) // 2)
            parts = [raw[:cut], raw[cut:]]
        assert self.record is not None
        # Counted before the write, so a client that has seen the event sees it counted.
        first_byte_at = self.record.first_byte_at or time.time()
        self.note(chunks_sent=self.record.chunks_sent + 1, first_byte_at=first_byte_at)
        for n, part in enumerate(parts):
            if n:
                await asyncio.sleep(0.002)  # the halves leave as separate TCP writes
            self.write(part)
            try:
                await self.flush()
            except StreamClosedError:
                self.client_gone()
                raise _ClientGone from None

    async def stream(self, plan: _Plan, model: str) -> None:
        assert self.body is not None
        usage_wanted = bool((self.body.get("stream_options") or {}).get("include_usage"))
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        # Nagle's algorithm would hold small events back until the previous one is acknowledged.
        self.request.connection.stream.set_nodelay(True)  # type: ignore[union-attr]
        head = {"id": self.completion_id(), "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model}
        extra = {"usage": None} if usage_wanted else {}

        def chunk(delta: dict[str, str], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return _dumps({**head, "choices": [choice], **extra})

        await self.send(chunk({"role": "assistant", "content": ""}))
        start = asyncio.get_running_loop().time()
        for index, (key, text) in enumerate(plan.within_limit()):
            await self.pace(start, index, plan.rate)
            await self.send(chunk({} if key is None else {key: text}), split=plan.split_utf8)
        if plan.ending == "drop":
            self.cut()
            return
        if plan.ending == "error":
            await self.send(_dumps({"error": _MID_STREAM_ERROR}))
        elif plan.ending == "stall":
            await self.pause(_STALL_LIMIT)
        elif plan.ending != "truncate":
            await self.send(chunk({}, plan.ending))
            if usage_wanted:
                await self.send(_dumps({**head, "choices": [], "usage": self.usage(plan.sent)}))
            self.end(True, b"data: [DONE]\n\n")  # [DONE] is not counted as a chunk
            return
        self.end(False)

    async def respond(self, plan: _Plan, model: str) -> None:
        texts: dict[str, list[str]] = {"content": [], "reasoning_content": []}
        start = asyncio.get_running_loop().time()
        for index, (key, text) in enumerate(plan.within_limit()):
            await self.pace(start, index, plan.rate)  # a whole reply takes as long as its stream would
            if key:
                texts[key].append(text)
        if plan.ending == "error":
            raise _ApiError(500, *_HTTP_ERRORS[500])
        if plan.ending == "stall":
            await self.pause(_STALL_LIMIT)
        if plan.ending in ("drop", "truncate", "stall"):
            self.cut()
            return
        message = {"role": "assistant", "content": "".join(texts["content"])}
        if texts["reasoning_content"]:
            message["reasoning_content"] = "".join(texts["reasoning_content"])
        choice = {"index": 0, "message": message, "finish_reason": plan.ending, "logprobs": None}
        self.finish_json({"id": self.completion_id(), "object": "chat.completion",
                          "created": int(time.time()), "model": model, "choices": [choice],
                          "usage": self.usage(plan.sent)})

    def completion_id(self) -> str:
        return f"chatcmpl-ling{self.record.id if self.record else 0}"

    def usage(self, completion_tokens: int) -> dict[str, int]:
        assert self.body is not None
        prompt_tokens = sum(len(_text_of(m).split()) for m in self.body["messages"])
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}

    def cut(self) -> None:
        """Close the TCP connection mid-response: no chunked-encoding end, no finish reason, no [DONE]."""
        self.note(finished_at=time.time())
        self.detach().close()


class ModelServer:
    """The server, run on its own event loop in a daemon thread: ``start()``, use ``url``, ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, rate: float = 40.0) -> None:
        if not is_loopback(host):
            raise ValueError(f"Refusing to listen on {host!r}: the built-in server has no authentication, "
                             "so it only listens on loopback (127.0.0.1, ::1 or localhost).")
        if not rate >= 0:
            raise ValueError(f"rate must be a number of tokens per second >= 0 (0 = no pause), not {rate!r}.")
        self.host, self.port, self.rate = host, port, rate
        self._records = _Records()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._startup_error: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def start(self) -> ModelServer:
        """Listen and serve in the background; returns once the port is open. Calling it again is a no-op."""
        if self._thread is not None:
            if not self._thread.is_alive():
                raise RuntimeError("This ModelServer has been stopped; create a new one.")
            return self
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve(ready)),
                                        name="ling-model-server", daemon=True)
        self._thread.start()
        ready.wait()
        if self._startup_error is not None:
            raise self._startup_error
        return self

    async def _serve(self, ready: threading.Event) -> None:
        try:
            sockets = bind_sockets(self.port, address=self.host.strip("[]"))
            routes = [("/v1/chat/completions", _ChatCompletions), ("/v1/models", _Models),
                      ("/_ling/requests", _Requests)]
            app = Application([(path, handler, {"server": self}) for path, handler in routes],
                              default_handler_class=_NotFound, default_handler_args={"server": self},
                              log_function=lambda h: _log.debug("%d %s %s", h.get_status(), h.request.method,
                                                                h.request.path))
            http = HTTPServer(app)
            http.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]
            self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        except BaseException as exc:  # start() re-raises it in the caller's thread
            self._startup_error = exc
            return
        finally:
            ready.set()
        await self._stopping.wait()
        http.stop()
        try:  # closing the connections tells running handlers that their clients left
            await asyncio.wait_for(http.close_all_connections(), timeout=5)
        except asyncio.TimeoutError:
            _log.warning("Some connections did not close within 5 s of stop().")

    def stop(self) -> None:
        """Stop serving and close open connections. Safe to call twice."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None or not thread.is_alive():
            return
        try:
            loop.call_soon_threadsafe(stopping.set)
        except RuntimeError:  # the loop already closed
            return
        thread.join(timeout=10)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the records, oldest first (the last 1000 requests)."""
        return self._records.snapshot()

    def last_request(self) -> RequestRecord | None:
        records = self._records.snapshot()
        return records[-1] if records else None

    def clear(self) -> None:
        """Forget all records."""
        self._records.clear()

    def wait_for(self, predicate: Callable[[RequestRecord], object], timeout: float = 5.0) -> RequestRecord:
        """The newest record that satisfies ``predicate``, waiting up to ``timeout`` s; else TimeoutError."""
        return self._records.wait_for(predicate, timeout)


def run(host: str = "127.0.0.1", port: int = 8765, rate: float = 40.0) -> None:
    """Serve in the foreground until Ctrl-C (or SIGTERM), after printing where; call from the main thread."""
    with ModelServer(host=host, port=port, rate=rate) as server:
        banner = f"ling-notebook: offline demo model '{DEMO_MODEL}' at {server.url} (Ctrl-C to stop)"
        print(banner, flush=True)
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops as cleanly
        try:
            while server._thread is not None and server._thread.is_alive():
                server._thread.join(timeout=0.5)  # a short join lets Ctrl-C in
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
