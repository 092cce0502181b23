"""A chat box's model: one named conversation (the one `%%ling --chat NAME` cells use), and asking it.

Owns sending a prompt as a new turn, Regenerate (the last turn asked again, replacing its answer in the
history) and Stop. It keeps no history of its own: the turns are the conversation's, in the magics'
registry of named conversations, so a chat box and the `%%ling --chat NAME` cells see the same turns, and
a `%ling reset NAME` (which puts a new, empty conversation in the registry) empties the box too. It imports
no view: `chat_widget.py` shows it, and hears of every change through `on_turns`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from . import config, record
from .conversation import Conversation
from .reply import Reply
from .tools import Tool


class Chat:
    """A named conversation asked from a chat box. `conversation()` looks it up in the registry each time."""

    def __init__(
        self,
        name: str,
        lookup: Callable[[], Conversation],
        settings: config.Settings,
        *,
        params: dict[str, Any] | None = None,
        tools: dict[str, Tool] | None = None,
        max_rounds: int,
        approve: bool = False,
    ) -> None:
        self.name = name
        self.settings = settings
        self.params = dict(params or {})
        self.tools = tools
        self.max_rounds = max_rounds
        self.approve = approve
        self.views: list[Any] = []  # told `on_turns(chat)` after every change of the turns
        self._lookup = lookup
        self._watched: Conversation | None = None
        # Guards `_watched` and the watcher it put in: the box asks for the conversation on any thread (the
        # kernel's, a reply's stream or end thread), and two that both find a new one must watch it once.
        self._watch_lock = threading.Lock()

    def conversation(self) -> Conversation:
        """The conversation as the registry has it now, watched from now on."""
        with self._watch_lock:
            conversation = self._lookup()
            if conversation is not self._watched:
                self._unwatch_locked()
                conversation.watchers.append(self._tell)
                self._watched = conversation
            return conversation

    def unwatch(self) -> None:
        """Hear no more of the conversation (the box is gone)."""
        with self._watch_lock:
            self._unwatch_locked()

    def _unwatch_locked(self) -> None:
        if self._watched is not None and self._tell in self._watched.watchers:
            self._watched.watchers.remove(self._tell)
        self._watched = None

    @property
    def busy(self) -> bool:
        """A turn of the conversation is still being answered (the box then sends nothing new)."""
        return any(not turn.reply.ended for turn in self.conversation().turns)

    def send(self, prompt: str) -> Reply:
        """Ask `prompt` as a new turn after every turn so far; return its reply, already started."""
        if not prompt.strip():
            raise config.ConfigurationError("The message is empty: write what you want to ask.")
        # A key no turn has, also among turns resumed from the reply log after a restart.
        return self._ask(f"chat:{uuid.uuid4().hex}", prompt.strip())

    def regenerate(self) -> Reply | None:
        """Ask the last turn's prompt again: its new answer replaces the old one in the history. None when
        the conversation is empty or its last answer has not ended."""
        turns = self.conversation().turns
        if not turns or not turns[-1].reply.ended:
            return None
        return self._ask(turns[-1].cell, turns[-1].prompt)

    def stop(self) -> None:
        """Stop every answer of the conversation still running; each keeps what arrived."""
        for turn in list(self.conversation().turns):
            turn.reply.stop()

    def _ask(self, key: str, prompt: str) -> Reply:
        chat = self.conversation()
        with record.asked_in(conversation=self.name, cell=key):  # what resuming after a restart reads back
            reply = Reply(lambda: chat.messages_before(key, prompt), self.settings, params=dict(self.params),
                          after=lambda: chat.unfinished_before(key), tools=self.tools, max_rounds=self.max_rounds,
                          approve=self.approve)
            reply.start()
        chat.record(key, prompt, reply)  # the views hear of it through the conversation's watchers
        return reply

    def _tell(self) -> None:
        for view in list(self.views):
            view.on_turns(self)

    def __repr__(self) -> str:
        return f"<Chat {self.name!r}: {len(self.conversation().turns)} turn(s)>"
