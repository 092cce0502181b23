"""The anywidget model of a chat box: the turns of a `Chat`'s conversation, each answer streamed as a reply is.

Every answer gets its own `DeltaBatcher` (its deltas coalesced per frame interval, with a `seq` of its own),
all under the widget's one lock; a view that opens says hello and gets a snapshot of every turn. The turns
(prompt and each answer's state) are a synced trait; the answers' texts go only as deltas and snapshots.
Answers of `%%ling --chat NAME` cells of the same conversation stream into the box too.

The static copy. The output is the widget's view together with the conversation's static transcript
(`render.history_bundle`: `text/html`, `text/plain`, and the answers' Markdown in the metadata), put in
place again with `update_display` after each answer ends. A front end that cannot show the widget (an
export, a notebook opened with no kernel behind the widget) shows the transcript: nbconvert skips a widget
with no saved state, and the ling-notebook extension (js/chatcopy.ts) drops the widget from a chat output
of a notebook as it opens. The widget itself lives as long as the kernel.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import traitlets
from IPython.display import display, update_display

from .chat import Chat
from .compare_widget import column_state
from .conversation import assistant_content
from .deltas import DeltaBatcher, Piece
from .parts import ToolCall
from .render import COPY_METADATA, copy_metadata, history_bundle
from .reply import Reply
from .widget import StubWidget, call_change

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class _Feed:
    """One answer's way to the views: its batcher, and the listener the reply tells."""

    def __init__(self, widget: ChatWidget, reply: Reply, number: int) -> None:
        self.widget, self.reply, self.number = widget, reply, number
        # The box's frame interval: an answer resumed from the log (`record.Recorded`) has no settings of its own.
        self.batcher = DeltaBatcher([reply], widget.chat.settings.frame_interval, self._send)
        self.batcher.lock = widget._lock  # one lock for every answer and the trait: a hello sees them all at once
        self.live = not reply.ended  # an answer that ends while the box shows it brings a new static copy

    def on_status(self, reply: Reply) -> None:
        self.widget._sync()

    def on_delta(self, reply: Reply, content: str, reasoning: str) -> None:
        self.batcher.add(0, content, reasoning)

    def on_part(self, reply: Reply, call: ToolCall, arguments: str) -> None:
        self.batcher.add_call(0, reply.tool_calls.index(call), call_change(call, arguments))

    def on_end(self, reply: Reply) -> None:
        self.batcher.flush()
        self.widget._sync()
        if self.live:
            self.widget._update_copy()

    def _send(self, seq: int, pieces: list[Piece]) -> None:
        (piece,) = pieces
        reply = self.reply
        self.widget.send({"type": "delta", "reply": self.number, "seq": seq, "content": piece.content,
                          "reasoning": piece.reasoning, "calls": piece.calls, "elapsed": reply.elapsed,
                          "ttft": reply.ttft, "tokens_per_s": reply.tokens_per_s})


class ChatWidget(StubWidget):
    """A live chat box of a `Chat`; `show()` displays it."""

    # The renderer shows a chat box when the model has `turns`.

    # Mirrored by `ChatModelState` in js/contract.ts.
    name = traitlets.Unicode("").tag(sync=True)
    chat_id = traitlets.Unicode("").tag(sync=True)  # the same in every view of this box (a draft outlives a view)
    turns = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(self, chat: Chat, **kwargs: Any) -> None:
        self.display_id = uuid.uuid4().hex
        super().__init__(name=chat.name, chat_id=self.display_id, **kwargs)
        self.chat = chat
        self._lock = threading.Lock()
        # Held while a transcript is built and sent: the last answer to end sends the copy with every answer's
        # end in it, after any copy an earlier end built (two answers may end at once on two threads).
        self._copy_lock = threading.Lock()
        self._feeds: dict[int, _Feed] = {}  # by id() of the reply
        self._numbers = 0
        self.on_msg(self._on_front_end_message)
        chat.views.append(self)
        try:
            self._sync()
        except BaseException:  # no half-made box left following the conversation
            self.close()
            raise

    def close(self) -> None:
        """Close the box here and in every page; its chat hears nothing more (the answers go on streaming)."""
        self.chat.unwatch()
        if self in self.chat.views:
            self.chat.views.remove(self)
        super().close()

    def show(self) -> None:
        display(self._bundle(), raw=True, metadata=chat_metadata(self.chat), display_id=self.display_id)

    def _bundle(self) -> dict[str, Any]:
        """The widget's view and, for whoever cannot show it, the transcript (see the module docstring)."""
        view = {"version_major": 2, "version_minor": 1, "model_id": self.model_id}
        return {WIDGET_VIEW: view, **history_bundle(self.chat.conversation())}

    def _update_copy(self) -> None:
        with self._copy_lock:
            if self.comm is None:  # closed: its output is gone
                return
            update_display(self._bundle(), raw=True, metadata=chat_metadata(self.chat), display_id=self.display_id)

    # -- messages from the front end (main thread or a subshell thread) -------------------------
    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "send" and isinstance(content.get("text"), str):
            if content["text"].strip() and not self.chat.busy:
                self.chat.send(content["text"])
        elif kind == "regenerate":
            self.chat.regenerate()
        elif kind == "stop":
            self.chat.stop()
        elif kind == "tool" and isinstance(content.get("call"), str):
            for turn in self.chat.conversation().turns:
                if any(call.id == content["call"] for call in turn.reply.tool_calls):
                    turn.reply.decide(content["call"], content.get("run") is True)
        elif kind == "hello":
            self._sync()
            with self._lock:
                answers = []
                for turn in self.chat.conversation().turns:
                    feed = self._feeds.get(id(turn.reply))
                    if feed is None:  # recorded since the sync above: the next sync brings it
                        continue
                    feed.batcher.flush_locked()
                    text, reasoning = feed.batcher.snapshot_locked(0)
                    answer: dict[str, Any] = {"reply": feed.number, "seq": feed.batcher.seq, "text": text,
                                              "reasoning": reasoning}
                    if turn.reply.tool_calls:
                        answer["parts"] = feed.batcher.parts_locked(0)
                    answers.append(answer)
                self.send({"type": "snapshot", "answers": answers})

    # -- the chat's view interface ------------------------------------------------------------
    def on_turns(self, chat: Chat) -> None:
        self._sync()

    def _sync(self) -> None:
        """The turns trait as the conversation stands; a feed for every answer not yet followed."""
        new = []
        with self._lock:  # the turns read under it: a sync that comes later never shows fewer of them
            turns = list(self.chat.conversation().turns)
            shown = []
            for turn in turns:
                feed = self._feeds.get(id(turn.reply))
                if feed is None:
                    self._numbers += 1
                    feed = self._feeds[id(turn.reply)] = _Feed(self, turn.reply, self._numbers)
                    new.append(feed)
                shown.append({"key": turn.cell, "prompt": turn.prompt, "reply": feed.number,
                              **column_state(turn.reply)})
            alive = {id(turn.reply) for turn in turns}
            self._feeds = {key: feed for key, feed in self._feeds.items() if key in alive}
            self.turns = shown
        for feed in new:  # outside the lock: a reply that has ended tells its catch-up on this thread
            feed.reply.add_listener(feed)


def chat_metadata(chat: Chat) -> dict[str, Any]:
    """The output metadata of the transcript: the conversation's name (js/chatcopy.ts finds chat outputs by
    it) and each answer's Markdown (`render.copy_metadata`)."""
    answers = (assistant_content(turn.reply) or "" for turn in chat.conversation().turns)
    return copy_metadata({COPY_METADATA: {"chat": chat.name}}, *answers)
