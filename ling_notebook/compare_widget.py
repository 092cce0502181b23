"""The anywidget model of a comparison: one widget, one column per reply.

Every column's deltas travel in one coalesced custom message per frame interval (`deltas.py`), so
the number of messages is bounded by elapsed time, not by the number of models or tokens. A view
that opens mid-stream says "hello" and gets a snapshot of every column. Stop may name one column or
none (Stop all). When every reply has ended, the output is replaced by the static side-by-side copy,
also in a page reloaded mid-stream, and the widget closed when no view is left, as for a reply (see
widget.py). That static copy, its summary table and the terminal printout are built here too (every piece of
HTML through `render`); the `Comparison` model imports none of this.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import traitlets
from IPython.display import display, update_display

from .cost import money
from .deltas import DeltaBatcher, Piece
from .record import comparison_provenance
from .render import bundle, copy_metadata, reply_html, table_html, text_html, usage_state
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
        "usage": usage_state(reply) if ended else None,
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
        super().__init__(not replies[0].settings.background, columns=[column_state(reply) for reply in replies],
                         **kwargs)
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
        if self.comparison.ended:
            display(comparison_bundle(self.comparison), raw=True, metadata=comparison_metadata(self.comparison),
                    display_id=self.display_id)
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
                self.send(self._snapshot_locked())
                if self._views.ended:
                    self.send({"type": "ended"})
        elif kind == "copy" and self._views.ended:  # never a copy of a comparison still under way
            bundle, metadata = comparison_bundle(self.comparison), comparison_metadata(self.comparison)
            with self._lock:
                self.send({"type": "final", "bundle": bundle, "metadata": metadata, "model_id": self.model_id})
        elif kind == "bye":
            with self._lock:
                self._views.bye(content)

    def _snapshot_locked(self) -> dict[str, Any]:
        columns = []
        for i in range(len(self.comparison.replies)):
            text, reasoning = self._batcher.snapshot_locked(i)
            columns.append({"text": text, "reasoning": reasoning})
        return {"type": "snapshot", "seq": self._batcher.seq, "columns": columns}

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
            try:
                update_display(comparison_bundle(self.comparison), raw=True,
                               metadata=comparison_metadata(self.comparison), display_id=self.display_id)
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
        self._catch_up_locked()


# -- what is shown when the comparison has ended --------------------------------------------------


SUMMARY_HEADER = ("model", "TTFT", "tokens/s", "prompt tokens", "completion tokens", "finish", "elapsed")


def _seconds(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f} s"


def summary_header(comparison: Comparison) -> tuple[str, ...]:
    """`SUMMARY_HEADER`, and a cost column when prices are set."""
    return (*SUMMARY_HEADER, "cost") if _priced(comparison) else SUMMARY_HEADER


def _priced(comparison: Comparison) -> bool:
    return any(reply.settings.prices for reply in comparison)


def summary_rows(comparison: Comparison) -> list[tuple[str, ...]]:
    """One row per reply, in the order of `summary_header`, as text."""
    rows = []
    priced = _priced(comparison)
    for reply in comparison:
        usage = reply.usage
        spent = reply.cost
        rows.append((
            reply.model,
            _seconds(reply.ttft),
            "–" if reply.tokens_per_s is None else f"{reply.tokens_per_s:.0f}",
            "–" if usage is None else str(usage.prompt_tokens),
            "–" if usage is None else str(usage.completion_tokens),
            reply.finish_reason or {"stopped": "stopped by user"}.get(reply.status, reply.status),
            _seconds(reply.elapsed),
            *(("–" if spent is None else money(spent),) if priced else ()),
        ))
    return rows


def plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def terminal_text(comparison: Comparison) -> str:
    """Each reply under its model's name, one after another, then the summary table."""
    parts = []
    for reply in comparison:
        parts.append(f"=== {reply.model} ===")
        if reply.reasoning:
            parts.append(f"[reasoning]\n{reply.reasoning}\n[/reasoning]")
        parts.append(reply.text or f"[{reply.status}, no text]")
        if reply.error:
            parts.append(f"[error] {reply.error}")
        parts.append("")
    parts.append(plain_table(summary_header(comparison), summary_rows(comparison)))
    return "\n".join(parts)


# Scoped to the comparison's wrapper (inside render's `.ling-static`): columns side by side, wrapping
# to rows when narrow, aligned at the top, each as long as its reply (a saved copy is read, not scrolled:
# a column cut at a fixed height hid its end, status line and all). Each column's header is laid out as the
# live column's (js/widget.css): the model, cut short, and the actions (js/copies.ts) on the first row, the
# state and numbers below, so the header has one shape in every column and does not move at the end.
_STYLE = """<style>
.ling-static .ling-compare{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:12px;
align-items:start;margin:0 0 10px}
.ling-static .ling-column{min-width:0;padding:0 8px 6px;border:1px solid var(--jp-border-color2,#ddd);
border-radius:var(--jp-border-radius,2px)}
.ling-static.ling-static .ling-compare-bar{display:flex;align-items:center;min-height:22px;margin:0 0 6px;
color:var(--jp-ui-font-color2,#666);font-family:var(--jp-ui-font-family,system-ui,sans-serif);
font-size:var(--jp-ui-font-size1,13px)}
.ling-static.ling-static .ling-column>.ling-status{padding-top:4px}
.ling-static .ling-column>.ling-status>.ling-model{flex:1 1 0;min-width:0;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
.ling-static .ling-column>.ling-status>.ling-actions{order:1}
.ling-static .ling-column>.ling-status::after{content:"";order:2;flex-basis:100%}
.ling-static .ling-column>.ling-status>.ling-state{order:3}
</style>"""


def comparison_bundle(comparison: Comparison) -> dict[str, str]:
    """The static copy that replaces the live view: the replies side by side, then the summary table;
    every piece of it is built by `render`, the one path from untrusted text to HTML."""
    count = f"{len(comparison.replies)} models" + (", all ended" if comparison.ended else "")
    bar = text_html(count, "ling-compare-bar")  # where the live view has its count and Stop all
    columns = "".join(f'<div class="ling-column">{reply_html(reply)}</div>' for reply in comparison)
    table = table_html(summary_header(comparison), summary_rows(comparison))
    return bundle(f'{_STYLE}{bar}<div class="ling-compare">{columns}</div>{table}', terminal_text(comparison))


def comparison_metadata(comparison: Comparison) -> dict[str, Any]:
    """The output metadata of the static copy: its provenance and each column's Markdown (`render.copy_metadata`)."""
    return copy_metadata(comparison_provenance(comparison), *(reply.kept() for reply in comparison))
