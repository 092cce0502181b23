"""The anywidget model of a reply: synced state for the status line, batched deltas, Stop.

Kernel -> browser traffic is bounded by time, not by tokens: deltas are coalesced into at most one
custom message per frame interval, and the text is sent once. A view that opens mid-stream says
"hello" and gets a snapshot of the text so far.

The end. The output must become the static HTML copy (`render.reply_bundle`), so that the notebook
model holds it, a save keeps it and an export shows it, in every page showing the reply:

1. `update_display` replaces every output this kernel displayed in a page that is still the one it
   displayed in. That is the usual case, and it costs one message (packed as the copy is built, see
   packed.py: a long reply's copy is never held whole beside that message).
2. An output loaded from a file (the page was reloaded, or the notebook closed and reopened, while the
   reply streamed) has no display id: update_display misses it, and its view is still there. So after
   update_display every view is sent a small `ended` message; a view that is still there when it arrives
   asks for the copy (`copy`), gets it (`final`), and hands it to the page's ling-notebook extension
   (js/keeper.ts, shipped in the wheel for JupyterLab and Notebook 7), which puts it in the notebook's
   model in place of the widget. A view that opens after the end (a hello) is sent `ended` too.
3. Where no extension answers (VS Code, Colab, an old front end), the view keeps showing the final text
   itself and says in one line that it is not saved.

When to close the widget (`ViewSet`, shared with the comparison widget). Closing it removes its views in
every page, so a view of case 3 would go blank: the widget is closed only once the reply has ended and
every view that said hello has said bye (a view says bye when it is disposed, which is when its output is
replaced, and when its page unloads). The copy is not kept for late views: each `copy` builds it
again from the reply, so an open widget holds no more than its reply does. A view that goes without
its bye (a browser crash, or a notebook tab closed in JupyterLab, which never disposes its views) keeps
the widget, and through it the reply, until the kernel restarts; the reply is usually held anyway (by
its variable and `%ling history`). Closing at once, as before, blanked every reloaded view; closing
after a short delay would blank a slow page's (or any view while a cell runs blocking code, as its hello
waits behind the cell). A view whose page unloads says bye `away`: its page may be coming back (a reload),
and the hello of the reloaded view comes only once that page and its kernel connection are up. So when
the views left are all away, the widget waits `AWAY_GRACE` seconds for a hello before it closes.

The widget's own ESM, sent in every reply's comm_open, is a small stub (js/widget.ts). The renderer
(markdown-it, DOMPurify, highlight.js, the view, its CSS) goes to a browser page once: the first view
there that lacks it asks with a `renderer` message (js/loader.ts).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets
import traitlets
from IPython.display import display

from . import packed
from .deltas import DeltaBatcher, Piece
from .parts import ToolCall
from .render import (
    TOOL_SHOWN,
    cut_plain,
    reply_bundle,
    reply_copy,
    reply_metadata,
    status_notes,
    tool_arguments_text,
    usage_state,
)
from .reply import Reply

STATIC = Path(__file__).parent / "static"

# How long a widget whose last views left with their page waits for a reloaded page's hello.
AWAY_GRACE = 600.0
# Seconds after a foreground widget is made when its views get the first catch-up snapshot (then twice as long).
CATCH_UP = 0.5

TRIM_AFTER = 1_000_000
"""Size of a reply (characters, or bytes where it keeps UTF-8) from which the memory its copy took is handed back
to the system at the end."""


@functools.cache
def _malloc_trim() -> Any:
    # glibc's; elsewhere None (other allocators give memory back on their own, or have no such call).
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def give_back_freed_memory() -> None:
    """Return to the system what the C allocator holds freed. Building and sending a long reply's copy frees
    several times the text (HTML, JSON text, JSON bytes); measured with a 1,000,000-token reply, glibc kept
    2.1x the text resident after the end, 1.0x (the text) after this, which takes well under a millisecond."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def renderer_bundle() -> dict[str, str]:
    """The built renderer (js/app.ts), its stylesheet, the math bundle (js/math.ts, which a page imports
    only when a formula is first shown), and their content hash (as js/build.mjs computes it for the stub,
    which refuses a renderer of another build), read once per kernel."""
    files = {name: (STATIC / file).read_bytes() for name, file in (("js", "app.js"), ("css", "app.css"),
                                                                    ("math", "math.js"))}
    digest = hashlib.sha256(files["js"] + files["css"] + files["math"]).hexdigest()[:16]
    return {"hash": digest, **{name: data.decode("utf-8") for name, data in files.items()}}


def static_text(name: str) -> traitlets.Unicode:
    """A synced trait holding the text of a built file, for `_esm` and `_css`.

    Not the path: anywidget turns a path into a `FileContents` whose `changed` signal holds every instance
    for good (manzt/anywidget#929), and with each widget its reply or comparison and all their text.
    """
    return traitlets.Unicode((STATIC / name).read_text(encoding="utf-8")).tag(sync=True)


_layout: ipywidgets.Layout | None = None


def shared_layout() -> ipywidgets.Layout:
    """One `Layout` for all our widgets (created on the kernel's main thread, where widgets are shown).

    Every DOMWidget otherwise opens a Layout model of its own, which costs each reply a comm_open and
    outlives the reply: closing a widget does not close its layout. Ours never set one.
    """
    global _layout
    if _layout is None or _layout.comm is None:
        _layout = ipywidgets.Layout()
    return _layout


class ViewSet:
    """The views of one widget that said hello and not yet bye, and whether its reply (or comparison) has
    ended: the widget is closed once both hold (see the module docstring). Call with the widget's lock held."""

    def __init__(self, widget: anywidget.AnyWidget, lock: Any) -> None:
        self._widget = widget
        self._lock = lock
        self._ids: set[str] = set()
        self._away = 0  # views that left with their page (it may come back) and no new view since
        self.ended = False
        # Runs a function after a delay; a hook so tests can run it when they choose.
        self.later = _daemon_timer

    def hello(self, content: dict[str, Any]) -> None:
        if isinstance(content.get("view"), str):
            self._ids.add(content["view"])
            self._away = max(0, self._away - 1)  # a page came back (or a new one opened)

    def bye(self, content: dict[str, Any]) -> None:
        view = content.get("view")
        if isinstance(view, str):
            self._ids.discard(view)
            self._away += content.get("away") is True
            self._close_if_done()

    def end(self) -> None:
        """After update_display: the views it missed are told, and ask for the copy."""
        self.ended = True
        if self._ids:
            self._widget.send({"type": "ended"})
        self._close_if_done()

    def _close_if_done(self) -> None:
        if not self.ended or self._ids:
            return
        if self._away:
            self.later(AWAY_GRACE, self._close_unless_back)
        else:  # every view is now the static copy: free the model here and in the browser
            self._widget.close()

    def _close_unless_back(self) -> None:
        with self._lock:
            if not self._ids:
                self._widget.close()


def _daemon_timer(delay: float, function: Any) -> None:
    timer = threading.Timer(delay, function)
    timer.daemon = True
    timer.start()


class StubWidget(anywidget.AnyWidget):
    """The base of every widget of ours: it ships only the stub (no `_css`: the stylesheet comes with the
    renderer) and answers a page's request for the renderer.

    In foreground mode (`foreground`: the cell waits for the reply, see `display.hold`) the kernel answers no
    view's message until the cell ends: neither the renderer request nor the hello, nor a Stop click. So such a
    widget carries the renderer in its state (`_renderer`: about 450 kB more in its comm_open, which a page
    without the renderer loads, once, as if it had asked), sends views a snapshot now and then
    (`_catch_up_locked`), for the early deltas a view missed while it was being built, and tells them
    (`foreground`) to offer no Stop: interrupting the kernel stops the reply.
    """

    _esm = static_text("widget.js")
    # Mirrored by `foreground` in js/contract.ts: the views then offer no Stop (the click could not come in).
    foreground = traitlets.Bool(False).tag(sync=True)

    def __init__(self, foreground: bool = False, **kwargs: Any) -> None:
        if foreground:  # mirrored by `CarriedRenderer` in js/contract.ts
            self.add_traits(_renderer=traitlets.Dict(renderer_bundle()).tag(sync=True))
        super().__init__(layout=shared_layout(), foreground=foreground, **kwargs)
        self._catch_up = CATCH_UP if foreground else None
        self._shown_at = time.perf_counter()
        self.on_msg(self._answer_renderer_request)

    def _answer_renderer_request(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "renderer":
            self.send({"type": "renderer", **renderer_bundle()})

    def _snapshot_locked(self) -> dict[str, Any]:
        """What a view that says hello gets: all that deltas 1..seq carry. Call with the batcher's lock held,
        after its `flush_locked`."""
        raise NotImplementedError

    def _catch_up_locked(self) -> None:
        """In foreground mode, after a delta: a snapshot once 0.5, 1, 2, 4... seconds have passed since the
        widget was made (a few, and a few times the text in all, however long the reply)."""
        if self._catch_up is None or time.perf_counter() - self._shown_at < self._catch_up:
            return
        self._catch_up *= 2
        self.send(self._snapshot_locked())


class ReplyWidget(StubWidget):
    """A live view of one `Reply`. Create it with `ReplyWidget(reply)`; `show()` displays it and from
    then on follows the reply (catching up on what already arrived)."""

    # Mirrored by `LingModelState` in js/contract.ts. The text is not a trait: it goes once, as deltas.
    status = traitlets.Unicode("waiting").tag(sync=True)
    waiting_for = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    model_name = traitlets.Unicode("").tag(sync=True)
    ttft = traitlets.Float(None, allow_none=True).tag(sync=True)
    tokens_per_s = traitlets.Float(None, allow_none=True).tag(sync=True)
    elapsed = traitlets.Float(None, allow_none=True).tag(sync=True)
    usage = traitlets.Dict(None, allow_none=True).tag(sync=True)
    finish_reason = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    error = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    notes = traitlets.List(traitlets.Unicode()).tag(sync=True)  # render.status_notes

    def __init__(self, reply: Reply, **kwargs: Any) -> None:
        super().__init__(not reply.settings.background, model_name=reply.model, status=reply.status,
                         notes=status_notes(reply), **kwargs)
        self.reply = reply
        self.display_id = uuid.uuid4().hex
        # Deltas, snapshots and the end arrive on different threads: the batcher's lock guards them and
        # every trait sync (see deltas.py).
        self._batcher = DeltaBatcher([reply], reply.settings.frame_interval, self._send_deltas)
        self._lock = self._batcher.lock
        self._attached = False
        self._views = ViewSet(self, self._lock)
        self.on_msg(self._on_front_end_message)

    def __repr__(self) -> str:
        # The `text/plain` of the live output: what a notebook saved mid-stream shows where no view can render.
        return f"[ling-notebook: the live view of a reply from {self.reply.model}; run the cell again to see the reply]"

    def show(self) -> None:
        """Display a view of the reply; every view shares one display id, so all get the final copy."""
        if self.reply.ended:
            display(reply_bundle(self.reply), raw=True, metadata=reply_metadata(self.reply), display_id=self.display_id)
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
        elif kind == "tool" and isinstance(content.get("call"), str):
            self.reply.decide(content["call"], content.get("run") is True)
        elif kind == "hello":
            with self._lock:
                self._views.hello(content)
                self._batcher.flush_locked()
                self.send(self._snapshot_locked())
                if self._views.ended:
                    self.send({"type": "ended"})
        elif kind == "copy" and self._views.ended:
            # Only a view that update_display missed asks: built again here, never kept (see the docstring).
            # Never before the end: a copy of a partial reply would be kept in the notebook as the reply.
            bundle, metadata = reply_bundle(self.reply), reply_metadata(self.reply)
            with self._lock:
                self.send({"type": "final", "bundle": bundle, "metadata": metadata, "model_id": self.model_id})
        elif kind == "bye":
            with self._lock:
                self._views.bye(content)

    def _snapshot_locked(self) -> dict[str, Any]:
        text, reasoning = self._batcher.snapshot_locked(0)
        snapshot = {"type": "snapshot", "seq": self._batcher.seq, "text": text, "reasoning": reasoning}
        if self.reply.tool_calls:
            snapshot["parts"] = self._batcher.parts_locked(0)
        return snapshot

    # -- the reply's listener interface (the stream's thread; on_end on the reply's own end thread) --
    def on_status(self, reply: Reply) -> None:
        with self._lock, self.hold_sync():
            self.model_name = reply.model
            self.waiting_for = reply.waiting_for
            self.notes = status_notes(reply)
            self.status = reply.status

    def on_delta(self, reply: Reply, content: str, reasoning: str) -> None:
        self._batcher.add(0, content, reasoning)

    def on_part(self, reply: Reply, call: ToolCall, arguments: str) -> None:
        self._batcher.add_call(0, reply.tool_calls.index(call), call_change(call, arguments))

    def on_end(self, reply: Reply) -> None:
        """The reply ended (on the reply's own end thread, see Runner.finish: the copy may take a while)."""
        self._batcher.flush()
        # Every view already has the text from the deltas, and the static copy below replaces them.
        with self._lock, self.hold_sync():
            self.model_name = reply.model
            self.ttft = reply.ttft
            self.tokens_per_s = reply.tokens_per_s
            self.elapsed = reply.elapsed
            self.usage = usage_state(reply)
            self.notes = status_notes(reply)
            self.finish_reason = reply.finish_reason
            self.error = reply.error
            self.status = reply.status
        # `kept` joins the text's pieces (reply.TextBuffer). For a long reply the pieces, freed but held by
        # the allocator, are handed back before the copy is made, and the copy's own garbage after it is sent:
        # each was measured to stay in the kernel's memory beside the next, about the text's size.
        long = len(reply.kept()) + len(reply.kept("reasoning")) >= TRIM_AFTER
        if long:
            give_back_freed_memory()
        try:
            html_pieces, plain = reply_copy(reply)
            packed.update_display(html_pieces, plain, reply_metadata(reply, packing=True), self.display_id)
        finally:  # the views update_display missed still get the end, and the widget still closes
            with self._lock:  # a hello or a delta on another thread must not send while the comm closes
                self._views.end()
        if long:
            give_back_freed_memory()

    def _send_deltas(self, seq: int, pieces: list[Piece]) -> None:
        reply = self.reply
        (piece,) = pieces
        self.send({
            "type": "delta",
            "seq": seq,
            "content": piece.content,
            "reasoning": piece.reasoning,
            "calls": piece.calls,
            "elapsed": reply.elapsed,
            "ttft": reply.ttft,
            "tokens_per_s": reply.tokens_per_s,
        })
        self._catch_up_locked()



def call_change(call: ToolCall, arguments: str) -> dict[str, Any]:
    """What a view needs of a call that changed: its state, the new piece of its arguments, and once they are
    complete their shown form; its result, error and printed output, shortened for display (plain text:
    the view sets them as text, never as HTML)."""
    change: dict[str, Any] = {"id": call.id, "name": call.name, "state": call.state, "arguments": arguments,
                              "seconds": call.seconds}
    if call.state != "arguments":
        change["shown"] = cut_plain(tool_arguments_text(call), TOOL_SHOWN)
        change.update({key: None if value is None else cut_plain(value, TOOL_SHOWN)
                       for key, value in (("result", call.result), ("error", call.error), ("output", call.output))})
    return change
