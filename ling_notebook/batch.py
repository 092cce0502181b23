"""Batches: one prompt template over many inputs, at most `concurrency` requests open at once.

Owns turning the input (prompts, or a template and rows) into requests, scheduling them on the
runner's loop, the batch's counts, results and progress, Stop all and Retry. Each item is an ordinary
`Reply` (no conversation, no view of its own): a batch of 1,000 items has one view, updated at most
every `PROGRESS_INTERVAL` with one coalesced state, whatever the number of items or tokens.

Scheduling: `concurrency` workers on the runner's loop take items from a queue, one reply at a
time each, so at most `concurrency` connections are open. Retries of 429/5xx/connection failures
before the stream starts are the client's (`max_retries`, honouring `retry-after`). Every change of
an item's state happens on the runner's loop; `stop()` may come from any thread.

It imports no view: `batch()`, which creates, shows and starts one, and `show_batch()` are in `display.py`;
the progress widget and the static summary are in `batch_widget.py`, which subscribes to the batch (`views`).
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future
from decimal import Decimal
from typing import Any, Protocol

from . import config, showing
from ._secrets import redact
from .errors import ConfigurationError
from .fill import fill_template, template
from .reply import Reply, rate
from .runner import Runner, get_runner
from .terminal import printable

PROGRESS_INTERVAL = 0.1  # seconds between progress updates (browser and terminal)
RUNNING_SHOWN = 8  # running items whose last line the progress view shows
LINE_LIMIT = 160  # characters of a running item's last line
# An item's state, the one word used by `counts`, `state()`, `to_pandas()`, the progress view and the
# summary. "queued": not started (yet; after Stop all, until `retry()`).
STATES = ("done", "failed", "running", "queued", "stopped")
_FRAME_TYPES = {"text": "string", "status": "string", "finish_reason": "string", "prompt_tokens": "Int64",
                "completion_tokens": "Int64", "error": "string"}

_batches: set[Batch] = set()  # batches with a run in progress, for `%ling stop`
_batches_lock = threading.Lock()


def stop_all() -> int:
    """Stop every batch that is running; return how many there were."""
    with _batches_lock:
        running = list(_batches)
    for b in running:
        b.stop()
    return len(running)


class ProgressView(Protocol):
    """What shows a batch's progress (the widget, the terminal line). Called on the runner's thread."""

    def update(self, progress: dict[str, Any]) -> None: ...
    def finish(self, batch: Batch) -> None: ...
    def restart(self, batch: Batch) -> None: ...
    def reopen(self) -> None: ...


def fill_rows(prompt: str, data: Any, namespace: dict[str, Any]) -> tuple[list[str], Any]:
    """One prompt per row of `data`: rows of a DataFrame or dicts fill `{column}`, other items fill
    `{item}`; other names come from `namespace`. Returns the prompts and the input's pandas index."""
    rows, index = listed(data)
    if not rows:
        raise ConfigurationError("The batch has no items: the data is empty.")
    format_string = template(prompt)
    filled = []
    for position, row in enumerate(rows):
        values = row if isinstance(row, dict) else {"item": row}
        try:
            text = fill_template(format_string, {**namespace, **{str(k): v for k, v in values.items()}})
        except NameError as exc:
            named = ", ".join(map(str, values)) if isinstance(row, dict) else "item"
            raise ConfigurationError(
                f"Row {_label(index, position)}: {exc} (in a {{...}} of the template). Each row has: {named}. "
                "Write {{ and }} for literal braces. Nothing was sent."
            ) from None
        except Exception as exc:
            raise ConfigurationError(
                f"Row {_label(index, position)}: could not fill a {{...}} of the template "
                f"({type(exc).__name__}: {exc}). Nothing was sent."
            ) from None
        filled.append(text.strip())
    return filled, index


def listed(data: Any) -> tuple[list[Any], Any]:
    """The items of `data` as a list (DataFrame rows as dicts) and its pandas index, if it has one."""
    if _is_pandas(data, "DataFrame"):
        return data.to_dict("records"), data.index
    if _is_pandas(data, "Series"):
        return data.tolist(), data.index
    if isinstance(data, (str, bytes, dict)) or not isinstance(data, Iterable):
        raise ConfigurationError(
            f"Expected a list of prompts or rows (or a pandas Series/DataFrame), not {type(data).__name__}."
        )
    return list(data), None


def _is_pandas(obj: Any, name: str) -> bool:
    kind = type(obj)
    return kind.__name__ == name and kind.__module__.split(".")[0] == "pandas"


def _label(index: Any, position: int) -> str:
    return str(position) if index is None else str(index[position])


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    """What the summary shows as an item's prompt: its last user message."""
    users = [m for m in messages if m.get("role") == "user"] or messages
    content = users[-1].get("content", "")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def _last_line(text: str) -> str:
    """The readable text of a running item's last line (Markdown markers stripped), its end if long."""
    from .render import plain_excerpt

    tail = text[-4 * LINE_LIMIT :].rstrip()
    line = plain_excerpt(tail[tail.rfind("\n") + 1 :], 4 * LINE_LIMIT)
    return line if len(line) <= LINE_LIMIT else "…" + line[-LINE_LIMIT:]


class Batch:
    """Many independent requests, their replies and one progress view. See `batch()`."""

    def __init__(
        self,
        requests: list[list[dict[str, Any]]],
        settings: config.Settings,
        *,
        params: dict[str, Any] | None = None,
        concurrency: int = 8,
        index: Any = None,
        stream: bool = True,
        runner: Runner | None = None,
    ) -> None:
        if not requests:
            raise ConfigurationError("The batch has no items: pass at least one prompt.")
        if not (isinstance(concurrency, int) and concurrency >= 1):
            raise ConfigurationError(f"concurrency must be a whole number of 1 or more, not {concurrency!r}.")
        self.requests = requests
        self.settings = settings
        self.concurrency = concurrency
        self.index = index
        self._params = params or {}
        self._stream = stream
        self._runner = runner or get_runner()
        self._replies: list[Reply | None] = [None] * len(requests)
        self._states: list[str] = ["queued"] * len(requests)
        self._pending: collections.deque[int] = collections.deque()
        self._workers = 0
        self._stopping = False
        self._lock = threading.Lock()  # guards _stopping and the start of a reply against stop()
        self._running = False  # a run is in progress; set and cleared on the loop
        self._done: Future[None] = Future()  # the end of the current run: replaced by each run
        self._done.set_result(None)
        self._elapsed_before = 0.0  # seconds of earlier runs
        self._run_started: float | None = None
        self._ended_this_run = 0
        self._spent = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}  # of ended replies
        self._ended_chunks = 0  # pieces of ended replies that sent no usage
        self._ticker: asyncio.Task[None] | None = None
        self.views: list[ProgressView] = []

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.requests)

    @property
    def results(self) -> list[str | None]:
        """The texts in input order; None where an item failed, was stopped or never ran."""
        pairs = zip(self._replies, self._states, strict=True)
        return [r.text if s == "done" and r is not None else None for r, s in pairs]

    @property
    def replies(self) -> list[Reply | None]:
        """The `Reply` of each item in input order (its latest attempt); None for items never started."""
        return list(self._replies)

    @property
    def errors(self) -> dict[int, str]:
        """`{position: message}` for the items that failed."""
        return {i: r.error or "failed" for i, (r, s) in enumerate(zip(self._replies, self._states, strict=True))
                if s == "failed" and r is not None}

    @property
    def counts(self) -> dict[str, int]:
        """How many items are done, failed, running, queued (not started) and stopped."""
        counted = collections.Counter(self._states)
        return {state: counted[state] for state in STATES}

    @property
    def status(self) -> str:
        """"running", "done" (every item done), "stopped" (Stop was used), "failed" (every item failed)
        or "partial" (some failed)."""
        if self._running:
            return "running"
        counts = self.counts
        if counts["done"] == len(self):
            return "done"
        if self._stopping or counts["stopped"]:
            return "stopped"
        return "failed" if counts["failed"] == len(self) else "partial"

    @property
    def elapsed(self) -> float:
        started = self._run_started
        running = 0.0 if started is None or not self._running else time.perf_counter() - started
        return self._elapsed_before + running

    @property
    def usage(self) -> dict[str, int]:
        """Tokens spent by every reply that has ended (retried items count each attempt)."""
        return dict(self._spent)

    @property
    def cost(self) -> Decimal | None:
        """What `usage` cost in USD at the configured prices (`configure(prices=...)`); None without a price."""
        usage = self._spent
        return self.settings.prices.cost(usage["prompt_tokens"], usage["completion_tokens"], self.settings.model)

    def state(self, position: int) -> str:
        """One item's state: "done", "failed", "running", "queued" (not started) or "stopped"."""
        return self._states[position]

    def prompt(self, position: int) -> str:
        return _prompt_text(self.requests[position])

    def label(self, position: int) -> str:
        """The item's name: its index label for a pandas input, else its position."""
        return _label(self.index, position)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {state}" for state, n in self.counts.items() if n)
        return f"<Batch of {len(self)} ({counts}), {self.status}>"

    # -- waiting -------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> list[str | None]:
        """Block until the batch ends and return `results`. Interrupting the kernel stops the batch."""
        try:
            self._done.result(timeout)
        except TimeoutError:
            raise TimeoutError(f"The batch is still running after {timeout:g} s.") from None
        except KeyboardInterrupt:
            self.stop()
            raise
        return self.results

    def __await__(self) -> Generator[Any, None, list[str | None]]:
        return self._wait_async().__await__()

    async def _wait_async(self) -> list[str | None]:
        # shield: cancelling this waiter must not cancel the batch's own future.
        await asyncio.shield(asyncio.wrap_future(self._done))
        return self.results

    # -- control -------------------------------------------------------------------------------
    def start(self) -> Batch:
        """Run every item that has not run yet. Returns at once."""
        return self._enqueue(lambda state: state == "queued")

    def retry(self) -> Batch:
        """Run the failed, stopped and queued items again, in the same batch. Returns at once.

        After the end, its live view (then its summary) shows where `retry()` is called, as a new output:
        the earlier summary stays as it was, failures included. While the batch runs, the items that
        have failed so far go back in the queue, in the view that runs. With nothing to run again (every
        item done), nothing happens and no view is shown."""
        with self._lock:
            idle = not self._running
        if idle and not any(state in ("failed", "stopped", "queued") for state in self._states):
            return self
        for view in self.views:
            view.reopen()
        return self._requeue()

    def _requeue(self) -> Batch:
        """The items to run again go back in the queue (the view's Retry button: its own view shows them)."""
        return self._enqueue(lambda state: state in ("failed", "stopped", "queued"))

    def stop(self) -> None:
        """Stop all: every open connection closes at once and no queued item starts. Safe from any thread."""
        with self._lock:
            if not self._running:  # nothing to stop: a finished batch keeps its status
                return
            self._stopping = True
            running = [r for r in self._replies if r is not None and not r.ended]
        for reply in running:
            reply.stop()

    def _enqueue(self, chosen: Callable[[str], bool]) -> Batch:
        # On the loop, where every state change happens; wait for it so counts are current on return.
        self._runner.submit(self._enqueue_on_loop(chosen)).result()
        return self

    async def _enqueue_on_loop(self, chosen: Callable[[str], bool]) -> None:
        pending = set(self._pending)
        items = [i for i, state in enumerate(self._states) if chosen(state) and i not in pending]
        with self._lock:
            self._stopping = False
        if not items:
            return
        for i in items:
            self._states[i] = "queued"
        self._pending.extend(items)
        if self._workers == 0:
            self._begin_run()
        for _ in range(min(self.concurrency - self._workers, len(self._pending))):
            self._workers += 1
            asyncio.get_running_loop().create_task(self._worker())

    def _begin_run(self) -> None:
        self._done = Future()
        self._running = True
        self._run_started = time.perf_counter()
        self._ended_this_run = 0
        with _batches_lock:
            _batches.add(self)
        for view in self.views:
            view.restart(self)
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _worker(self) -> None:
        try:
            while self._pending:
                i = self._pending.popleft()
                with self._lock:
                    if self._stopping:
                        self._pending.appendleft(i)
                        break
                    reply = Reply(self.requests[i], self.settings, stream=self._stream, params=self._params,
                                  runner=self._runner)
                    self._replies[i] = reply
                    self._states[i] = "running"
                    reply.start()
                await self._runner.ended(reply._ended)
                self._record_end(i, reply)
        finally:
            self._workers -= 1
            if self._workers == 0:
                self._end_run()

    def _record_end(self, i: int, reply: Reply) -> None:
        self._states[i] = {"done": "done", "error": "failed"}.get(reply.status, "stopped")
        self._ended_this_run += 1
        if reply.usage is not None:
            for name in self._spent:
                self._spent[name] += getattr(reply.usage, name)
        else:
            self._ended_chunks += reply.chunks

    def _end_run(self) -> None:
        self._pending.clear()
        if self._run_started is not None:
            self._elapsed_before += time.perf_counter() - self._run_started
        if self._ticker is not None:
            self._ticker.cancel()
        with _batches_lock:
            _batches.discard(self)
        self._running = False  # status is final from here on
        progress = self.progress()
        try:
            for view in self.views:
                view.update(progress)
                view.finish(self)
        finally:  # the summary is out before wait() returns; a failing view must not leave it hanging
            self._done.set_result(None)

    async def _tick(self) -> None:
        while True:
            progress = self.progress()
            for view in self.views:
                view.update(progress)
            await asyncio.sleep(PROGRESS_INTERVAL)

    # -- progress ------------------------------------------------------------------------------
    def progress(self) -> dict[str, Any]:
        """One snapshot of everything the progress view shows (plain data, plain text)."""
        counts = self.counts
        running = [(i, r) for i, r in enumerate(self._replies) if r is not None and self._states[i] == "running"]
        live_tokens = sum(r.chunks for _, r in running)
        tokens = self._spent["completion_tokens"] + self._ended_chunks + live_tokens
        elapsed = self.elapsed
        run_elapsed = elapsed - self._elapsed_before if self._running else 0.0
        left = counts["queued"] + counts["running"] if self._running else 0
        eta = run_elapsed / self._ended_this_run * left if self._ended_this_run and left else None
        lines = [{"label": self.label(i), "line": _last_line(r.text)} for i, r in running[:RUNNING_SHOWN]]
        last_error = next((r.error for r, s in zip(reversed(self._replies), reversed(self._states), strict=True)
                           if s == "failed" and r is not None), None)
        return {
            "status": self.status,
            "stopping": self._stopping and self._running,
            "model": redact(self.settings.model),  # a key pasted as the model name is sent, never shown
            "total": len(self),
            "counts": counts,
            "tokens": tokens,
            "tokens_per_s": rate(tokens, elapsed),
            "elapsed": elapsed,
            "eta": eta,
            "usage": self.usage,
            "running": lines,
            "last_error": last_error,
        }

    # -- views ---------------------------------------------------------------------------------
    def show(self) -> Batch:
        """Attach the progress view (the widget in Jupyter, a line on stderr elsewhere) and start.

        In a terminal this returns when the batch ends; Ctrl-C stops it. The views are the showing side's
        (`display.show_batch`, through `showing`)."""
        return showing.ask(self, "start")

    def _ipython_display_(self) -> None:
        for view in self.views:
            if hasattr(view, "show_again"):
                view.show_again()
                return
        showing.show(self)

    def summary_bundle(self) -> dict[str, str]:
        """The static, sanitized summary that replaces the progress view when the batch ends."""
        return showing.ask(self, "summary")

    def to_pandas(self) -> Any:
        """One row per item: text, status, finish_reason, prompt/completion tokens, error; indexed like
        the input when it was a pandas Series or DataFrame. Needs pandas.

        One missing-value marker in every column, `pd.NA` (shown `<NA>`): the text columns are pandas
        "string" columns and the token counts "Int64", so no column mixes None and NaN."""
        try:
            import pandas as pd
        except ImportError:
            raise ConfigurationError("to_pandas() needs pandas: pip install pandas") from None
        rows = []
        for reply, state in zip(self._replies, self._states, strict=True):
            usage = reply.usage if reply is not None else None
            rows.append({
                "text": reply.text if reply is not None and state != "queued" else None,
                "status": state,
                "finish_reason": reply.finish_reason if reply is not None else None,
                "prompt_tokens": usage.prompt_tokens if usage else None,
                "completion_tokens": usage.completion_tokens if usage else None,
                "error": reply.error if reply is not None and state == "failed" else None,
            })
        frame = pd.DataFrame(rows, index=self.index, columns=list(_FRAME_TYPES))
        return frame.astype(_FRAME_TYPES)


class TerminalProgress:
    """The progress line on stderr outside Jupyter: redrawn in place on a terminal, else one line per second."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last = 0.0

    def update(self, progress: dict[str, Any]) -> None:
        now = time.perf_counter()
        if not self._tty and now - self._last < 1 and progress["status"] == "running":
            return
        self._last = now
        line = printable(progress_line(progress))
        sys.stderr.write(("\r\033[K" if self._tty else "") + line + ("" if self._tty else "\n"))
        sys.stderr.flush()

    def finish(self, batch: Batch) -> None:
        if self._tty:
            sys.stderr.write("\n")
        for position, message in list(batch.errors.items())[:3]:
            sys.stderr.write(printable(f"ling-notebook: item {batch.label(position)}: {message}") + "\n")
        sys.stderr.flush()

    def restart(self, batch: Batch) -> None:
        pass

    def reopen(self) -> None:
        pass


def progress_line(progress: dict[str, Any]) -> str:
    """`[batch] 12/100 done · 1 failed · 8 running · 79 queued · 340 tokens/s · 4.1 s · ETA 30 s`."""
    c = progress["counts"]
    parts = [f"[batch {progress['status']}] {c['done']}/{progress['total']} done"]
    parts += [f"{c[state]} {state}" for state in ("failed", "stopped", "running", "queued") if c[state]]
    if progress["tokens_per_s"]:
        parts.append(f"{progress['tokens_per_s']:.0f} tokens/s")
    parts.append(f"{progress['elapsed']:.1f} s")
    if progress["eta"] is not None:
        parts.append(f"ETA {progress['eta']:.0f} s")
    return " · ".join(parts)
