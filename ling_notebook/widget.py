"""The anywidget model of a reply: synced state for the status line, batched deltas, Stop.

Kernel -> browser traffic is bounded by time, not by tokens: deltas are coalesced into at most one
custom message per frame interval, and the text is sent once. A view that opens mid-stream says
"hello" and gets a snapshot of the text so far. When the reply ends, the output is replaced by a
static HTML copy (`render.reply_bundle`) so that a saved or exported notebook shows it, and the widget
is closed.

The widget's own ESM, sent in every reply's comm_open, is a small stub (js/widget.ts). The renderer
(markdown-it, DOMPurify, highlight.js, the view, its CSS) goes to a browser page once: the first view
there that lacks it asks with a `renderer` message (js/loader.ts).
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import anywidget
import traitlets
from IPython.display import display, update_display

from .render import reply_bundle
from .reply import Reply

STATIC = Path(__file__).parent / "static"


@functools.cache
def renderer_bundle() -> dict[str, str]:
    """The built renderer (js/app.ts) and its stylesheet, read once per kernel."""
    return {name: (STATIC / f"app.{name}").read_text(encoding="utf-8") for name in ("js", "css")}


class ReplyWidget(anywidget.AnyWidget):
    """A live view of one `Reply`. Create it with `ReplyWidget(reply)`; `show()` displays it and from
    then on follows the reply (catching up on what already arrived)."""

    _esm = STATIC / "widget.js"  # the stub; no `_css`: the stylesheet comes with the renderer

    # Mirrored by `LingModelState` in js/contract.ts. The text is not a trait: it goes once, as deltas.
    status = traitlets.Unicode("waiting").tag(sync=True)
    model_name = traitlets.Unicode("").tag(sync=True)
    ttft = traitlets.Float(None, allow_none=True).tag(sync=True)
    tokens_per_s = traitlets.Float(None, allow_none=True).tag(sync=True)
    elapsed = traitlets.Float(None, allow_none=True).tag(sync=True)
    usage = traitlets.Dict(None, allow_none=True).tag(sync=True)
    finish_reason = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    error = traitlets.Unicode(None, allow_none=True).tag(sync=True)

    def __init__(self, reply: Reply, **kwargs: Any) -> None:
        super().__init__(model_name=reply.model, status=reply.status, **kwargs)
        self.reply = reply
        self.display_id = uuid.uuid4().hex
        self._interval = reply.settings.frame_interval
        # Deltas are queued on the stream thread; a snapshot is asked for on the main or a subshell
        # thread; the reply can end (`on_end`) on the thread that called `stop()`. This lock guards
        # everything below and every trait sync, so those threads take turns.
        self._lock = threading.Lock()
        self._pending_content: list[str] = []
        self._pending_reasoning: list[str] = []
        self._seq = 0
        # How much of the reply's text and reasoning the views have been given as deltas (sent or
        # pending). The reply's text grows before its listeners hear of a piece, so a snapshot is this
        # much of it: exactly what deltas 1..seq carry, never a piece that a later delta brings again.
        self._given_content = 0
        self._given_reasoning = 0
        self._last_flush = 0.0
        self._flush_scheduled = False
        self._attached = False
        self.on_msg(self._on_front_end_message)

    def show(self) -> None:
        """Display a view of the reply; every view shares one display id, so all get the final copy."""
        if self.reply.ended:
            display(reply_bundle(self.reply), raw=True, display_id=self.display_id)
        else:
            display(self, display_id=self.display_id)
        if not self._attached:  # only now: the final copy must never arrive before the display it replaces
            self._attached = True
            self.reply.add_listener(self)

    # -- messages from the front end (main thread or a subshell thread) -------------------------
    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "stop":
            self.reply.stop()
        elif kind == "hello":
            with self._lock:
                self._flush_locked()
                self.send({"type": "snapshot", "seq": self._seq, "text": self.reply.text[: self._given_content],
                           "reasoning": self.reply.reasoning[: self._given_reasoning]})
        elif kind == "renderer":
            self.send({"type": "renderer", **renderer_bundle()})

    # -- the reply's listener interface (runner thread) ----------------------------------------
    def on_status(self, reply: Reply) -> None:
        with self._lock, self.hold_sync():
            self.model_name = reply.model
            self.status = reply.status

    def on_delta(self, reply: Reply, content: str, reasoning: str) -> None:
        with self._lock:
            if content:
                self._pending_content.append(content)
                self._given_content += len(content)
            if reasoning:
                self._pending_reasoning.append(reasoning)
                self._given_reasoning += len(reasoning)
            if self._flush_scheduled:
                return
            wait = self._last_flush + self._interval - time.perf_counter()
            if wait <= 0:  # the first delta after a quiet spell goes out at once
                self._flush_locked()
            else:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_later(wait, self._scheduled_flush)  # we are on the stream's loop

    def on_end(self, reply: Reply) -> None:
        """The reply ended: on the stream thread, or on the thread that called `stop()`."""
        with self._lock:
            self._flush_locked()
        # Every view already has the text from the deltas, and the static copy below replaces them.
        with self._lock, self.hold_sync():
            self.model_name = reply.model
            self.ttft = reply.ttft
            self.tokens_per_s = reply.tokens_per_s
            self.elapsed = reply.elapsed
            self.usage = vars(reply.usage) if reply.usage else None
            self.finish_reason = reply.finish_reason
            self.error = reply.error
            self.status = reply.status
        update_display(reply_bundle(reply), raw=True, display_id=self.display_id)
        self.close()  # every view is now the static copy; free the model here and in the browser

    def _scheduled_flush(self) -> None:
        with self._lock:
            self._flush_scheduled = False
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not (self._pending_content or self._pending_reasoning):
            return
        self._seq += 1
        self._last_flush = time.perf_counter()
        reply = self.reply
        self.send({
            "type": "delta",
            "seq": self._seq,
            "content": "".join(self._pending_content),
            "reasoning": "".join(self._pending_reasoning),
            "elapsed": reply.elapsed,
            "ttft": reply.ttft,
            "chunks": reply.chunks,
        })
        self._pending_content.clear()
        self._pending_reasoning.clear()

