"""Coalescing the deltas of one or more replies into at most one widget message per frame interval.

Shared by the reply widget (one reply) and the comparison widget (one column per reply): both send
every delta once, bounded by time rather than by tokens, and answer a view's "hello" with a snapshot
that matches the deltas exactly.

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

from .reply import Reply


@dataclass
class Piece:
    """What one reply brought since the last message: its index among the batcher's replies, and text."""

    index: int
    content: str
    reasoning: str


@dataclass
class _Given:
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    # How much of the reply's text and reasoning the views have been given as deltas (sent or pending).
    # The reply's text grows before its listeners hear of a piece, so a snapshot is this much of it:
    # exactly what deltas 1..seq carry, never a piece that a later delta brings again.
    content_chars: int = 0
    reasoning_chars: int = 0


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
            if content:
                given.content.append(content)
                given.content_chars += len(content)
            if reasoning:
                given.reasoning.append(reasoning)
                given.reasoning_chars += len(reasoning)
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
            if given.content or given.reasoning:
                pieces.append(Piece(index, "".join(given.content), "".join(given.reasoning)))
                given.content.clear()
                given.reasoning.clear()
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

    def _scheduled_flush(self) -> None:
        with self.lock:
            self._scheduled = False
            self.flush_locked()
