"""The replay server's answers (`ling-notebook serve --replay`): complete replies from the reply log, each
sent again to the request it answered, so any client can re-run a notebook offline.

A request is answered when the log has a complete reply (status done) to one identical to it: the same
model (as asked for), messages, parameters as sent and tools (`record.same_request_key`, the one notion
of "the same request" that `%%ling --replay` uses too, here without the server: the client points at
this one). A reply with tool calls answers each of its rounds: the first request gets the first round's
text and calls, the request that carries their results the next round, and so on. The log keeps the
reasoning and usage of all rounds together, so the last round carries them (earlier rounds report zero
tokens: the totals add up to the logged ones). A request with no record gets an error naming the model
and the start of its prompt.

This module reads the log (`record`), the one place the server knows of the client side; the log is read
again as it grows, so a notebook recorded while this server runs is served too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .. import record
from .._secrets import redact
from .scenarios import PIECE, ApiError, Piece, Plan, required, text_of

_PROMPT_SHOWN = 40  # characters of the prompt an error quotes


@dataclass(frozen=True)
class Answer:
    """One round of a logged reply, as the server sends it."""

    content: str
    reasoning: str
    tool_calls: list[dict[str, Any]]  # the assistant message's `tool_calls`
    finish_reason: str
    usage: dict[str, int] | None

    def pieces(self) -> Iterator[Piece]:
        yield from (("reasoning_content", piece) for piece in PIECE.findall(self.reasoning))
        yield from (("content", piece) for piece in PIECE.findall(self.content))
        for index, call in enumerate(self.tool_calls):  # as servers stream them: the call, then its arguments
            function = call.get("function") or {}
            yield "tool_calls", [{"index": index, "id": call.get("id"), "type": "function",
                                  "function": {"name": function.get("name"), "arguments": ""}}]
            if function.get("arguments"):
                yield "tool_calls", [{"index": index, "function": {"arguments": function["arguments"]}}]


class LoggedReplies:
    """The complete replies of the log at `path`, by request; `plan` answers a request body with one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._answers: dict[str, Answer] = {}
        self._models: set[str] = set()
        self._seen = 0  # the last row read
        self._lock = threading.Lock()
        self.read()  # a missing or unreadable log fails here, before the server listens

    def read(self) -> int:
        """Read the rows written since the last read; return how many answers are known."""
        with self._lock:
            for row in record.rows(self.path, "seq > ?", (self._seen,)):
                self._seen = row["seq"]
                if row["status"] == "done":
                    self._add(row)
            return len(self._answers)

    def _add(self, row: sqlite3.Row) -> None:
        request = json.loads(row["request"])
        model, params = request["model"], dict(request.get("params") or {})
        if request.get("tools"):
            params["tools"] = request["tools"]
        messages = list(request.get("messages") or [])
        exchange = request.get("exchange") or []
        asked = [m for m in exchange if m.get("role") == "assistant"]
        before = "".join(m.get("content") or "" for m in asked)
        final_text = row["text"][len(before):] if row["text"].startswith(before) else row["text"]
        usage = None if row["total_tokens"] is None else {
            "prompt_tokens": row["prompt_tokens"], "completion_tokens": row["completion_tokens"],
            "total_tokens": row["total_tokens"]}
        zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0} if usage else None
        for message in exchange:
            if message.get("role") == "assistant":
                answer = Answer(message.get("content") or "", "", message.get("tool_calls") or [], "tool_calls", zero)
                self._answers[record.same_request_key(model, messages, params)] = answer
            messages = [*messages, message]
        last = Answer(final_text, row["reasoning"], [], row["finish_reason"] or "stop", usage)
        self._answers[record.same_request_key(model, messages, params)] = last
        self._models.add(model)

    def models(self) -> list[str]:
        """The models the log has complete replies of (as asked for)."""
        with self._lock:
            return sorted(self._models)

    def plan(self, body: dict[str, Any]) -> Plan:
        """The logged reply to this request body, as a plan to send at once; ApiError when there is none."""
        model, messages = required(body)
        params = {name: value for name, value in body.items()
                  if name not in ("model", "messages", "stream", "stream_options")}
        key = record.same_request_key(model, messages, params)
        try:
            self.read()
        except (OSError, sqlite3.Error) as exc:
            raise ApiError(500, f"The reply log {self.path} cannot be read: {redact(str(exc))}.", "server_error",
                           code="log_unreadable") from None
        with self._lock:
            answer = self._answers.get(key)
        if answer is None:
            raise ApiError(400, f"The reply log has no complete reply to this request: model {redact(model)[:100]!r}, "
                           f"prompt {_start(messages)!r}. The replay server answers only requests identical to "
                           "logged ones (model, messages, parameters, tools); run the notebook once against the "
                           "real server with the log on to record them.", code="no_logged_reply", param="messages")
        return Plan(answer.pieces(), answer.finish_reason, rate=0, usage=answer.usage)


def _start(messages: list[Any]) -> str:
    """The start of the last user message, printable and without known secrets: enough to find the cell."""
    prompt = next((text_of(m) for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), "")
    shown = " ".join("".join(ch if ch.isprintable() else " " for ch in redact(prompt)).split())
    return shown if len(shown) <= _PROMPT_SHOWN else shown[:_PROMPT_SHOWN] + "…"
