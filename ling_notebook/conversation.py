"""Multi-turn history: which earlier turns a new prompt is sent with.

A conversation is a list of turns, each tied to the cell that asked it. Running a cell again
replaces that cell's turn in place, so re-runs never duplicate history. A reply that was stopped or
failed stays in history with only what actually arrived, marked as such. Showing a conversation is
`render.history_bundle`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .reply import Reply


@dataclass
class Turn:
    cell: str  # the asking cell's id (or its text, where the front end sends no id)
    prompt: str
    reply: Reply


class Conversation:
    def __init__(self, name: str) -> None:
        self.name = name
        self.system: str | None = None
        self.turns: list[Turn] = []

    def messages_before(self, cell: str, prompt: str) -> list[dict[str, Any]]:
        """The messages for `prompt`: the system prompt and every finished turn before this cell's."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.system}] if self.system else []
        for turn in self.turns:
            if turn.cell == cell:
                break
            answer = assistant_content(turn.reply)
            if answer is not None:
                messages += [{"role": "user", "content": turn.prompt}, {"role": "assistant", "content": answer}]
        messages.append({"role": "user", "content": prompt})
        return messages

    def reply_before(self, cell: str) -> Reply | None:
        """The reply this cell's turn must wait for: the turn before it, or the last one."""
        previous = None
        for turn in self.turns:
            if turn.cell == cell:
                break
            previous = turn.reply
        return previous

    def record(self, cell: str, prompt: str, reply: Reply) -> None:
        """Put this cell's turn in place: replace its earlier turn, or append a new one."""
        for i, turn in enumerate(self.turns):
            if turn.cell == cell:
                self.turns[i] = Turn(cell, prompt, reply)
                return
        self.turns.append(Turn(cell, prompt, reply))


def assistant_content(reply: Reply) -> str | None:
    """What the model is told it said: the text that arrived, marked when it is partial; None to drop."""
    if reply.status == "done":
        return reply.text
    if reply.status == "stopped":
        return f"{reply.text}\n\n[reply stopped by the user]" if reply.text else None
    if reply.status == "error":
        return f"{reply.text}\n\n[reply incomplete: {reply.error}]" if reply.text else None
    return reply.text  # still streaming: only used by %ling history
