"""Multi-turn history: which earlier turns a new prompt is sent with.

A conversation is a list of turns, each tied to the cell that asked it. Running a cell again
replaces that cell's turn in place, so re-runs never duplicate history, and stops the old reply if
it is still streaming. A turn's request waits until every earlier turn has ended, so history is
never built from a reply still on its way. A reply that was stopped or failed stays in history with
only what actually arrived, marked as such. Showing a conversation is
`render.history_bundle`'s job.

Turns are read and changed on the kernel's main thread (the magic) and read on the stream thread
(`messages_before`, `unfinished_before`); changes replace list items whole, so a reader sees either
the old turn or the new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .reply import Reply

log = logging.getLogger(__name__)


@dataclass
class Turn:
    cell: str  # the asking cell's id, or a key of its own for each run where the front end sends no id
    prompt: str
    reply: Reply


class Conversation:
    def __init__(self, name: str) -> None:
        self.name = name
        self.system: str | None = None
        self.turns: list[Turn] = []
        # Told after every change of the turns (a chat box showing this conversation, chat.py).
        self.watchers: list[Callable[[], None]] = []

    def messages_before(self, cell: str, prompt: str) -> list[dict[str, Any]]:
        """The messages for `prompt`: the system prompt and every finished turn before this cell's."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.system}] if self.system else []
        for turn in self.turns:
            if turn.cell == cell:
                break
            answer = assistant_content(turn.reply)
            if answer is not None:  # with the tool calls and results that came before the answer
                messages += [{"role": "user", "content": turn.prompt}, *turn.reply.exchange,
                             {"role": "assistant", "content": answer}]
        messages.append({"role": "user", "content": prompt})
        return messages

    def unfinished_before(self, cell: str) -> Reply | None:
        """An earlier turn's reply that has not ended yet (this cell's request must wait for it), or None."""
        for turn in list(self.turns):
            if turn.cell == cell:
                break
            if not turn.reply.ended:
                return turn.reply
        return None

    def record(self, cell: str, prompt: str, reply: Reply) -> None:
        """Put this cell's turn in place: replace its earlier turn (stopping its reply), or append a new one."""
        for i, turn in enumerate(self.turns):
            if turn.cell == cell:
                self.turns[i] = Turn(cell, prompt, reply)
                turn.reply.stop()  # nobody sees it any more; it must not go on costing tokens
                break
        else:
            self.turns.append(Turn(cell, prompt, reply))
        self.tell_watchers()

    def tell_watchers(self) -> None:
        """Tell every watcher (a chat box) that the turns changed. A watcher that fails is logged: the cell that
        changed them goes on."""
        for watcher in list(self.watchers):
            try:
                watcher()
            except Exception:
                log.exception("ling-notebook: a view of conversation %r failed to follow it", self.name)


def assistant_content(reply: Reply) -> str | None:
    """What the model is told it said last (after its answered tool calls): the text that arrived, marked when
    it is partial; None to drop (a turn whose tool calls were answered keeps them, with an empty answer)."""
    text = reply.final_text
    if reply.status == "done":
        return text
    kept = "" if reply.exchange else None  # the exchange must end with an assistant message
    if reply.status == "stopped":
        return f"{text}\n\n[reply stopped by the user]" if text else kept
    if reply.status == "error":
        return f"{text}\n\n[reply incomplete: {reply.error}]" if text else kept
    return text  # still streaming: only used by %ling history
