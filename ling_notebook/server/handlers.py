"""The built-in server's tornado handlers: the HTTP side of the OpenAI protocol, and who may call it.

Every request first passes `_Handler.prepare`'s guards. The server has no authentication, so:
- only a request whose ``Host`` is a loopback name (``localhost``, ``127.x.x.x``, ``[::1]``, any port)
  is answered; any other gets 403, since a web page that rebinds its DNS name to 127.0.0.1 still
  sends its own name as the Host (DNS rebinding);
- a request with an ``Origin`` that is not a loopback origin (a web page elsewhere) gets 403;
- a POST must say ``Content-Type: application/json`` (else 415): a cross-origin page can only send
  that after a CORS preflight, and no response ever carries CORS headers, so no preflight succeeds.
The answers are error JSON in the API's format, saying why. What to send is `scenarios`' job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tornado.iostream import StreamClosedError
from tornado.web import Application, HTTPError, RequestHandler

from .._secrets import RedactingFilter
from ..config import is_loopback
from .records import RequestRecord, attempt_digest
from .scenarios import HTTP_ERRORS, MID_STREAM_ERROR, ApiError, Plan, text_of

if TYPE_CHECKING:
    from .serve import ModelServer

log = logging.getLogger("ling_notebook.server")
log.addFilter(RedactingFilter())
_STALL_LIMIT = 600.0  # seconds a stalled stream waits for its client before giving up
_MODELS_CREATED = 1767225600  # fixed so /v1/models is deterministic
_MODEL_KEPT = 1000  # characters of the model name a record keeps (records are bounded, see `records`)


def _dumps(data: object) -> str:
    # Raw UTF-8 like the real API, so multi-byte characters reach the wire (and can be split there).
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def refusal(method: str, headers: dict[str, str]) -> ApiError | None:
    """Why a request must not be answered (Host, Origin, content type), or None. `headers`: lower-case names."""
    host = headers.get("host", "")
    if not is_loopback(_hostname(f"//{host}")):
        return ApiError(403, f"Refused: the Host header {host[:100]!r} is not a loopback name. This server only "
                        "answers requests addressed to localhost, 127.0.0.1 or [::1] (protection against DNS "
                        "rebinding).", code="host_not_allowed")
    origin = headers.get("origin")
    if origin is not None and not (urlsplit(origin).scheme in ("http", "https") and is_loopback(_hostname(origin))):
        return ApiError(403, f"Refused: a browser page from {origin[:100]!r} may not call this server; it only "
                        "answers pages served from localhost, 127.0.0.1 or [::1] (no CORS).",
                        code="origin_not_allowed")
    if method == "POST" and headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
        return ApiError(415, "Send the request body as JSON with the header `Content-Type: application/json`.",
                        code="unsupported_media_type")
    return None


def _hostname(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # an unbalanced "[" in the name
        return ""


class _ClientGone(Exception):
    """The client closed the connection: stop generating."""


class _Handler(RequestHandler):
    """Common ground: request records, OpenAI-style errors, disconnect detection, quiet logs."""

    recorded = True

    def initialize(self, server: ModelServer) -> None:
        self.server = server
        self.record: RequestRecord | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def prepare(self) -> None:
        refused = refusal(self.request.method or "", {k.lower(): v for k, v in self.request.headers.items()})
        if refused is not None:
            self.send_api_error(refused)
            return
        try:
            body = json.loads(self.request.body) if self.request.body else None
        except ValueError:
            body = None
        self.body = body if isinstance(body, dict) else None
        if self.recorded:
            self.record = self.server._records.add(self.request.method or "", self.request.path,
                                                   list(self.request.headers.get_all()), self.body,
                                                   len(self.request.body))

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

    def send_api_error(self, error: ApiError) -> None:
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
        self.write(_dumps(ApiError(status_code, message or HTTPStatus(status_code).phrase, kind).body()))

    def log_exception(self, typ: type[BaseException] | None, value: BaseException | None,
                      tb: TracebackType | None) -> None:
        # Tornado's default logs the whole request, Authorization header included.
        if not isinstance(value, HTTPError):  # HTTPError is a 4xx answer to the client, not a fault here
            log.error("%s %s failed", self.request.method, self.request.path, exc_info=value)

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
        if not self._finished:  # not refused already
            self.send_api_error(ApiError(404, f"Invalid URL ({self.request.method} {self.request.path})"))


class _Models(_Handler):
    def get(self) -> None:
        models = [{"id": name, "object": "model", "created": _MODELS_CREATED, "owned_by": "ling-notebook"}
                  for name in self.server.model_names()]
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
        except ApiError as error:
            self.send_api_error(error)
        except _ClientGone:
            pass  # recorded by client_gone(); tornado's own finish() on a closed stream is harmless

    def validate(self) -> tuple[Plan, str]:
        body = self.body
        if body is None:
            raise ApiError(400, "We could not parse the JSON body of your request: send a JSON object.")
        model, messages = body.get("model"), body.get("messages")
        kept = self.record is not None and self.record.body is not None
        self.note(model=model[:_MODEL_KEPT] if isinstance(model, str) else None, stream=bool(body.get("stream")),
                  messages=messages if isinstance(messages, list) and kept else [],
                  attempt_sha256=attempt_digest(model, messages))
        return self.server.plan(body, self.earlier_attempts), str(model)

    def earlier_attempts(self) -> int:
        """How many earlier requests carried the same model and messages as this one."""
        assert self.record is not None
        me, same = self.record.id, self.record.attempt_sha256
        return sum(1 for r in self.server.requests if r.id != me and r.attempt_sha256 == same)

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

    async def stream(self, plan: Plan, model: str) -> None:
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
            await self.send(_dumps({"error": MID_STREAM_ERROR}))
        elif plan.ending == "stall":
            await self.pause(_STALL_LIMIT)
        elif plan.ending != "truncate":
            await self.send(chunk({}, plan.ending))
            if usage_wanted:
                await self.send(_dumps({**head, "choices": [], "usage": self.usage(plan)}))
            self.end(True, b"data: [DONE]\n\n")  # [DONE] is not counted as a chunk
            return
        self.end(False)

    async def respond(self, plan: Plan, model: str) -> None:
        texts: dict[str, list[str]] = {"content": [], "reasoning_content": []}
        calls: dict[int, dict[str, Any]] = {}
        start = asyncio.get_running_loop().time()
        for index, (key, text) in enumerate(plan.within_limit()):
            await self.pace(start, index, plan.rate)  # a whole reply takes as long as its stream would
            if key == "tool_calls":
                for delta in text:  # the first delta of a call is the whole call with empty arguments
                    if delta["index"] in calls:
                        calls[delta["index"]]["function"]["arguments"] += delta["function"]["arguments"]
                    else:
                        calls[delta["index"]] = delta | {"function": dict(delta["function"])}
            elif key:
                texts[key].append(text)
        if plan.ending == "error":
            raise ApiError(500, *HTTP_ERRORS[500])
        if plan.ending == "stall":
            await self.pause(_STALL_LIMIT)
        if plan.ending in ("drop", "truncate", "stall"):
            self.cut()
            return
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts["content"])}
        if texts["reasoning_content"]:
            message["reasoning_content"] = "".join(texts["reasoning_content"])
        if calls:
            message["tool_calls"] = [{k: v for k, v in call.items() if k != "index"} for call in calls.values()]
        choice = {"index": 0, "message": message, "finish_reason": plan.ending, "logprobs": None}
        self.finish_json({"id": self.completion_id(), "object": "chat.completion",
                          "created": int(time.time()), "model": model, "choices": [choice],
                          "usage": self.usage(plan)})

    def completion_id(self) -> str:
        return f"chatcmpl-ling{self.record.id if self.record else 0}"

    def usage(self, plan: Plan) -> dict[str, int]:
        if plan.usage is not None:
            return plan.usage
        assert self.body is not None
        prompt_tokens = sum(len(text_of(m).split()) for m in self.body["messages"])
        return {"prompt_tokens": prompt_tokens, "completion_tokens": plan.sent,
                "total_tokens": prompt_tokens + plan.sent}

    def cut(self) -> None:
        """Close the TCP connection mid-response: no chunked-encoding end, no finish reason, no [DONE]."""
        self.note(finished_at=time.time())
        self.detach().close()


def make_app(server: ModelServer) -> Application:
    """The tornado application for `server`: the API's routes, and a JSON 404 for everything else."""
    routes = [("/v1/chat/completions", _ChatCompletions), ("/v1/models", _Models), ("/_ling/requests", _Requests)]
    return Application([(path, handler, {"server": server}) for path, handler in routes],
                       default_handler_class=_NotFound, default_handler_args={"server": server},
                       log_function=lambda h: log.debug("%d %s %s", h.get_status(), h.request.method, h.request.path))
