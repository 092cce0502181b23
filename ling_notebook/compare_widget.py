"""The anywidget model of a comparison: one widget, one column per reply.

Every column's deltas travel in one coalesced custom message per frame interval (`deltas.py`), so
the number of messages is bounded by elapsed time, not by the number of models or tokens. A view
that opens mid-stream says "hello" and gets a snapshot of every column. Stop may name one column or
none (Stop all). When every reply has ended, the output is replaced by the static side-by-side copy,
also in a page reloaded mid-stream, and the widget closed when no view is left, as for a reply (see
widget.py).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import traitlets
from IPython.display import display, update_display

from .deltas import DeltaBatcher, Piece
from .reply import Reply
from .widget import StubWidget, ViewSet

if TYPE_CHECKING:
    from .compare import Comparison


def column_state(reply: Reply) -> dict[str, Any]:
    """One column's synced state; the fields of `ReplyWidget`'s traits (js/contract.ts `ColumnState`)."""
    ended = reply.ended
    return {
        "status": reply.status,
        "waiting_for": reply.waiting_for,
        "model_name": reply.model,
        "ttft": reply.ttft if ended else None,
        "tokens_per_s": reply.tokens_per_s if ended else None,
        "elapsed": reply.elapsed if ended else None,
        "usage": vars(reply.usage) if ended and reply.usage else None,
        "finish_reason": reply.finish_reason,
        "error": reply.error,
    }


class CompareWidget(StubWidget):
    """A live view of a `Comparison`; `show()` displays it and from then on follows every reply."""

    # The renderer shows a comparison when the model has `columns`.

    # Mirrored by `CompareModelState` in js/contract.ts. The texts are not traits: they go once, as deltas.
    columns = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(self, comparison: Comparison, **kwargs: Any) -> None:
        replies = comparison.replies
        super().__init__(columns=[column_state(reply) for reply in replies], **kwargs)
        self.comparison = comparison
        self.display_id = uuid.uuid4().hex
        self._index = {id(reply): i for i, reply in enumerate(replies)}
        # Deltas, snapshots and the ends arrive on different threads: the batcher's lock guards them and
        # every trait sync (see deltas.py).
        self._batcher = DeltaBatcher(replies, replies[0].settings.frame_interval, self._send_deltas)
        self._lock = self._batcher.lock
        self._attached = False
        # Columns whose end this widget has heard of: the last one brings the static copy. Not
        # `comparison.ended`: ends are told on several threads, and every reply may have ended before
        # the first is told, so the copy would come (and the widget close) before the other columns sync.
        self._told_ended: set[int] = set()
        self._views = ViewSet(self, self._lock)
        self.on_msg(self._on_front_end_message)

    def show(self) -> None:
        """Display a view; every view shares one display id, so all get the static copy at the end."""
        from .compare import comparison_bundle

        if self.comparison.ended:
            display(comparison_bundle(self.comparison), raw=True, display_id=self.display_id)
        else:
            display(self, display_id=self.display_id)
        if not self._attached:  # only now: the static copy must never arrive before the display it replaces
            self._attached = True
            for reply in self.comparison.replies:
                reply.add_listener(self)

    # -- messages from the front end (main thread or a subshell thread) -------------------------
    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "stop":
            column = content.get("column")
            if column is None:
                self.comparison.stop()
            elif isinstance(column, int) and 0 <= column < len(self.comparison.replies):
                self.comparison.replies[column].stop()
        elif kind == "hello":
            with self._lock:
                self._views.hello(content)
                self._batcher.flush_locked()
                columns = []
                for i in range(len(self.comparison.replies)):
                    text, reasoning = self._batcher.snapshot_locked(i)
                    columns.append({"text": text, "reasoning": reasoning})
                self.send({"type": "snapshot", "seq": self._batcher.seq, "columns": columns})
                if self._views.ended:
                    self.send({"type": "ended"})
        elif kind == "copy" and self._views.ended:  # never a copy of a comparison still under way
            from .compare import comparison_bundle

            bundle = comparison_bundle(self.comparison)
            with self._lock:
                self.send({"type": "final", "bundle": bundle, "model_id": self.model_id})
        elif kind == "bye":
            with self._lock:
                self._views.bye(content)

    # -- the replies' listener interface (the stream's thread; on_end on each reply's end thread) --
    def on_status(self, reply: Reply) -> None:
        with self._lock:
            self._sync_column(reply)

    def on_delta(self, reply: Reply, content: str, reasoning: str) -> None:
        self._batcher.add(self._index[id(reply)], content, reasoning)

    def on_end(self, reply: Reply) -> None:
        self._batcher.flush()
        with self._lock:
            self._sync_column(reply)
            before = len(self._told_ended)
            self._told_ended.add(self._index[id(reply)])
            last = before < len(self._told_ended) == len(self.comparison.replies)
        if last:  # the copy replaces every view, which already had all the text as deltas
            from .compare import comparison_bundle

            try:
                update_display(comparison_bundle(self.comparison), raw=True, display_id=self.display_id)
            finally:  # the views update_display missed still get the end, and the widget still closes
                with self._lock:  # a hello or a delta on another thread must not send while the comm closes
                    self._views.end()

    def _sync_column(self, reply: Reply) -> None:
        columns = list(self.columns)
        columns[self._index[id(reply)]] = column_state(reply)
        self.columns = columns

    def _send_deltas(self, seq: int, pieces: list[Piece]) -> None:
        columns = []
        for piece in pieces:
            reply = self.comparison.replies[piece.index]
            columns.append({
                "index": piece.index,
                "content": piece.content,
                "reasoning": piece.reasoning,
                "elapsed": reply.elapsed,
                "ttft": reply.ttft,
                "tokens_per_s": reply.tokens_per_s,
            })
        self.send({"type": "delta", "seq": seq, "columns": columns})
