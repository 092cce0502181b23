"""Coalescing the deltas of one or more replies into at most one widget message per frame interval.

Shared by the reply widget (one reply) and the comparison widget (one column per reply): both send
every delta once, bounded by time rather than by tokens, and answer a view's "hello" with a snapshot
that matches the deltas exactly.

Tool calls (`add_call`) are coalesced the same way: a message carries, per call that changed, the new
pieces of its arguments and its latest state. So that the order of text and cards is exact, a message
holds text or calls, never text after a call: text that follows pending calls (and a call that follows
pending text) first sends what is pending. That adds a message per change of kind, not per token.

Threads: deltas are added on the stream thread; a snapshot is asked for on the main or a subshell
thread; a reply's end is told on a thread of its own (`Runner.finish`). `lock` guards everything here, and the
widgets hold it for their trait syncs too, so those threads take turns.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .reply import Reply


@dataclass
class Piece:
    """What one reply brought since the last message: its index among the batcher's replies, and text."""

    index: int
    content: str
    reasoning: str
    calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Given:
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    # How much of the reply's text and reasoning the views have been given as deltas (sent or pending).
    # The reply's text grows before its listeners hear of a piece, so a snapshot is this much of it:
    # exactly what deltas 1..seq carry, never a piece that a later delta brings again.
    content_chars: int = 0
    reasoning_chars: int = 0
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)  # each call as given so far (arguments whole)
    pending_calls: dict[int, dict[str, Any]] = field(default_factory=dict)  # changes not sent yet


class DeltaBatcher:
    """Collects deltas and calls `send(seq, pieces)` at most once per `interval` seconds.

    `seq` counts messages from 1 without gaps. The first delta after a quiet spell goes out at once;
    later ones wait for the end of the interval (a timer on the stream's loop).
    """

    def __init__(self, replies: Sequence[Reply], interval: float, send: Callable[[int, list[Piece]], None]) -> None:
        self.lock = threading.Lock()
        self.seq = 0
        self._replies = list(replies)
        self._given = [_Given() for _ in self._replies]
        self._interval = interval
        self._send = send
        self._last_flush = 0.0
        self._scheduled = False

    def add(self, index: int, content: str, reasoning: str) -> None:
        """A delta of reply `index`, on the stream's loop."""
        with self.lock:
            given = self._given[index]
            if given.pending_calls and (content or reasoning):
                self.flush_locked()
            if content:
                given.content.append(content)
                given.content_chars += len(content)
            if reasoning:
                given.reasoning.append(reasoning)
                given.reasoning_chars += len(reasoning)
            self._schedule_locked()

    def add_call(self, index: int, n: int, change: dict[str, Any]) -> None:
        """A change of reply `index`'s call number `n` (its fields; `arguments`: a new piece to append)."""
        with self.lock:
            given = self._given[index]
            if given.content or given.reasoning:
                self.flush_locked()
            known = given.calls.setdefault(n, {"n": n, "arguments": ""})
            pending = given.pending_calls.setdefault(n, {"n": n, "arguments": ""})
            for key, value in change.items():
                if key == "arguments":
                    known[key] += value
                    pending[key] += value
                else:
                    known[key] = pending[key] = value
            self._schedule_locked()

    def _schedule_locked(self) -> None:
        if self._scheduled:
            return
        wait = self._last_flush + self._interval - time.perf_counter()
        if wait <= 0:
            self.flush_locked()
        else:
            self._scheduled = True
            asyncio.get_running_loop().call_later(wait, self._scheduled_flush)

    def flush(self) -> None:
        with self.lock:
            self.flush_locked()

    def flush_locked(self) -> None:
        """Send what is pending, as one message. Call with `lock` held."""
        pieces = []
        for index, given in enumerate(self._given):
            if given.content or given.reasoning or given.pending_calls:
                pieces.append(Piece(index, "".join(given.content), "".join(given.reasoning),
                                    list(given.pending_calls.values())))
                given.content.clear()
                given.reasoning.clear()
                given.pending_calls.clear()
        if not pieces:
            return
        self.seq += 1
        self._last_flush = time.perf_counter()
        self._send(self.seq, pieces)

    def snapshot_locked(self, index: int) -> tuple[str, str]:
        """The text and reasoning of reply `index` that messages 1..seq carry. Call with `lock` held,
        after `flush_locked`."""
        reply, given = self._replies[index], self._given[index]
        return reply.text[: given.content_chars], reply.reasoning[: given.reasoning_chars]

    def parts_locked(self, index: int) -> list[dict[str, Any]]:
        """The text parts and calls of reply `index` in order, as far as messages 1..seq carry them (a
        snapshot's `parts`, for a reply with tool calls). Call with `lock` held, after `flush_locked`."""
        reply, given = self._replies[index], self._given[index]
        parts: list[dict[str, Any]] = []
        n = 0
        for part in reply.parts:
            if part.kind == "tool_call":
                if n in given.calls:
                    parts.append({"kind": "call", **given.calls[n]})
                n += 1
            elif part.kind == "text" and part.start < given.content_chars:
                end = given.content_chars if part.end is None else min(part.end, given.content_chars)
                start = part.start - (2 if part.start else 0)  # the separator Reply put before a later part
                parts.append({"kind": "text", "text": reply.text[start:end]})
        return parts

    def _scheduled_flush(self) -> None:
        with self.lock:
            self._scheduled = False
            self.flush_locked()
