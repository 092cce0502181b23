"""How a batch shows in Jupyter: one progress widget while it runs, a static summary when it ends.

The widget has a single synced trait, `progress`, set at most every `batch.PROGRESS_INTERVAL`: one
state message per interval, whatever the number of items or tokens. No widget per item. The
running items' last lines are plain text (the front end sets `textContent`). When a run ends, the
output is replaced by `summary_bundle`, built through `render` (the one safe path to HTML), so a
reloaded or exported notebook shows it; `retry()` after the end shows a new live widget where it is called
(a new output), so the earlier summary, failures included, stays readable.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets
from IPython.display import display, update_display

from . import render
from .batch import progress_line
from .cost import money
from .record import batch_provenance
from .widget import shared_layout, static_text

if TYPE_CHECKING:
    from .batch import Batch

SUMMARY_ROWS = 10  # items shown in the summary's table
PROMPT_CHARS = 100
ANSWER_CHARS = 240
# Constant CSS of ours (no input text in it): a bold heading, and each row read from its top.
_SUMMARY_STYLE = """<style>
.ling-static .ling-batch-heading{margin:0 0 4px;font-weight:600}
.ling-static .ling-batch .ling-table{margin:6px 0}
.ling-static .ling-batch .ling-table td{vertical-align:top}
</style>"""


class BatchWidget(anywidget.AnyWidget):
    """The live progress view of one run of a batch. Its front end is js/batch.ts."""

    _esm = static_text("batch.js")
    _css = static_text("batch.css")

    # Mirrored by `BatchModelState` in js/batch.ts: the whole `Batch.progress()` snapshot.
    progress = traitlets.Dict().tag(sync=True)
    # The cell waits for the batch (display.hold): no Stop all, as the kernel could not take the click in.
    foreground = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(layout=shared_layout(), **kwargs)  # not a Layout comm per run, left open after it


class BatchView:
    """The batch's output in the notebook: a widget per run, in one display, then the summary."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.display_id = uuid.uuid4().hex
        self.widget: BatchWidget | None = None
        self._lock = threading.Lock()  # the widget is swapped on the loop and clicked on the main thread

    def show(self) -> None:
        """Display the live widget; on the thread running the cell, so the output lands in its cell."""
        self.widget = self._new_widget()
        display(self.widget, display_id=self.display_id)

    def restart(self, batch: Batch) -> None:
        """A run begins: if the summary replaced the widget, a live widget takes its place again."""
        with self._lock:
            if self.widget is not None:
                return
            self.widget = widget = self._new_widget()
        update_display(widget, display_id=self.display_id)

    def reopen(self) -> None:
        """`retry()` after the end: a live widget in a new output where it is called (on that thread, so
        the output lands in its cell); the earlier output keeps its summary, failures included."""
        with self._lock:
            if self.widget is not None:  # still running: the live view already shows the retried items
                return
            self.widget = widget = self._new_widget()
            self.display_id = uuid.uuid4().hex
        display(widget, display_id=self.display_id)

    def _new_widget(self) -> BatchWidget:
        widget = BatchWidget(progress=self.batch.progress(), foreground=not self.batch.settings.background)
        widget.on_msg(self._on_front_end_message)
        return widget

    def update(self, progress: dict[str, Any]) -> None:
        with self._lock:
            if self.widget is not None:
                self.widget.progress = progress

    def finish(self, batch: Batch) -> None:
        """The run ended: every view of it becomes the static summary, and the widget is closed."""
        update_display(summary_bundle(batch), raw=True, display_id=self.display_id, metadata=batch_provenance(batch))
        with self._lock:
            widget, self.widget = self.widget, None
        if widget is not None:
            widget.close()

    def show_again(self) -> None:
        """Another view of the same output (`display(b)`): live while running, else the summary."""
        with self._lock:
            widget = self.widget
        if widget is not None:
            display(widget, display_id=self.display_id)
        else:
            display(summary_bundle(self.batch), raw=True, display_id=self.display_id,
                    metadata=batch_provenance(self.batch))

    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "stop":
            self.batch.stop()
        elif kind == "retry":
            self.batch._requeue()


def summary_bundle(batch: Batch) -> dict[str, str]:
    """The static summary: status, counts, usage, elapsed, and the first rows of prompt / answer / status."""
    progress = batch.progress()
    counts = progress["counts"]
    usage = progress["usage"]
    title = f"Batch of {len(batch)} · {progress['model']} · {batch.status}"
    numbers = [f"{counts['done']} done"]
    numbers += [f"{counts[state]} {state}" for state in ("failed", "stopped", "queued") if counts[state]]
    numbers.append(f"{progress['elapsed']:.1f} s")
    if progress["tokens_per_s"]:
        numbers.append(f"{progress['tokens_per_s']:.0f} tokens/s")
    if usage["total_tokens"]:
        numbers.append(f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion = "
                       f"{usage['total_tokens']} tokens")
        if (spent := batch.cost) is not None:
            numbers.append(money(spent))
    elif progress["tokens"]:
        numbers.append(f"{progress['tokens']} tokens received (no usage reported)")
    rows = []
    for position in range(min(SUMMARY_ROWS, len(batch))):
        reply = batch.replies[position]
        state = batch.state(position)
        answer = reply.text if reply is not None else ""
        if state == "failed" and reply is not None:
            state = f"failed: {reply.error}"
        elif reply is not None and reply.finish_reason and reply.finish_reason != "stop":
            state = f"{state} ({reply.finish_reason})"
        rows.append([batch.label(position), _cut(batch.prompt(position), PROMPT_CHARS),
                     render.plain_excerpt(answer, ANSWER_CHARS), _cut(state, ANSWER_CHARS)])
    parts = [_SUMMARY_STYLE, render.text_html(title, "ling-batch-heading"),
             render.text_html(" · ".join(numbers), "ling-status"),
             render.table_html(["#", "prompt", "answer", "status"], rows)]
    if len(batch) > SUMMARY_ROWS:
        parts.append(render.text_html(f"… and {len(batch) - SUMMARY_ROWS} more items (batch.to_pandas() has all)."))
    again = counts["failed"] + counts["stopped"] + counts["queued"]
    if again:
        parts.append(render.text_html(f"Call .retry() on the batch to run the {again} failed, stopped or "
                                      "queued items again."))
    plain = "\n".join([progress_line(progress)] + [f"{r[0]}: {r[3]}: {r[2]}" for r in rows])
    return render.bundle(f'<div class="ling-batch">{"".join(parts)}</div>', plain)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())  # one line per cell
    return text if len(text) <= limit else text[: limit - 1] + "…"
