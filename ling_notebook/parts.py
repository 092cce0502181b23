"""What a reply is made of, in order: reasoning, text, and tool calls (each with its result or error).

A `Reply` appends to its last part or opens a new one as events arrive; every view draws the same list
(`Reply.parts`). A text part is a slice of the reply's whole text (no second copy of it). A tool call's
state moves "arguments" (streaming) -> "pending" (complete, waiting to run, or for approval: "approval")
-> "running" -> "done" | "error"; a call that never ran is "skipped" (the user declined it, or the reply
ended first), one running when Stop came is "stopped". Its arguments, result, error and output are
untrusted text: only `render` turns them into HTML.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

# States in which a tool call is over (nothing more will change).
CALL_ENDED = ("done", "error", "skipped", "stopped")


class _Text(Protocol):
    def __str__(self) -> str: ...
    def __len__(self) -> int: ...


@dataclass(eq=False)
class TextPart:
    """Reasoning or text of one round: `buffer[start:end]` of the reply's reasoning or text (`end` None while open)."""

    kind: str  # "text" or "reasoning"
    round: int
    buffer: _Text = field(repr=False)
    start: int
    end: int | None = None

    @property
    def text(self) -> str:
        return str(self.buffer)[self.start : self.end]


@dataclass(eq=False)
class ToolCall:
    """One call the model asked for, and what became of it."""

    round: int
    index: int  # its place in the round
    id: str
    name: str
    kind: str = "tool_call"
    state: str = "arguments"
    result: str | None = None  # what the model was sent (a tool's error is sent as its result, see `error`)
    error: str | None = None
    output: str = ""  # what the tool printed or displayed, as text
    started_at: float | None = None  # when it started running (perf_counter)
    ended_at: float | None = None
    _pieces: list[str] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def arguments_text(self) -> str:
        """The arguments as the model sent them (JSON text, possibly incomplete or invalid)."""
        with self._lock:
            if len(self._pieces) > 1:
                self._pieces[:] = ["".join(self._pieces)]
            return self._pieces[0] if self._pieces else ""

    @property
    def arguments(self) -> Any:
        """The arguments parsed from JSON once complete; None while they stream or when they are not JSON."""
        if self.state == "arguments":
            return None
        try:
            return json.loads(self.arguments_text or "{}")
        except ValueError:
            return None

    @property
    def seconds(self) -> float | None:
        """How long the tool ran (so far, while it runs)."""
        if self.started_at is None:
            return None
        return (self.ended_at or time.perf_counter()) - self.started_at

    @property
    def ended(self) -> bool:
        return self.state in CALL_ENDED

    def add_arguments(self, piece: str) -> None:
        with self._lock:
            self._pieces.append(piece)

    def message(self) -> dict[str, Any]:
        """This call as the assistant message's `tool_calls` entry."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments_text}}

    def answer(self) -> dict[str, Any]:
        """The `tool` message that answers this call."""
        return {"role": "tool", "tool_call_id": self.id, "content": self.result or ""}


Part = TextPart | ToolCall
