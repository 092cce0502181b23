"""Where tools run: on the main thread, where the user's variables live, or on a worker when thread-safe.

A reply's stream runs on the runner's loop thread, but the user's functions expect the kernel's main
thread. So a due call becomes a `Job` on a queue, and whichever comes first runs it there:
- in a Jupyter kernel, a callback on the kernel's own loop, which takes the kernel's cell lock (the lock
  ipykernel 7 holds while a cell executes: `Kernel._main_asyncio_lock`), so a tool runs between cells,
  like a cell, never in the middle of one;
- a main thread that blocks on a reply (`reply.wait()`, `await reply`, a batch's or comparison's wait,
  and a terminal's `stream()`): it holds the cell lock itself, so it runs due calls while it waits, and
  nothing deadlocks. Outside Jupyter this is the only way: the thread that waits runs the tools.
A job is claimed once (`Job.claim`), so it runs exactly once whoever gets there first; a job cancelled
before it is claimed never runs. A running tool cannot be killed: `stop_requested()` tells it.

What a main-thread tool prints or displays is captured (IPython's `capture_output`) and kept for its card,
so it never lands in whatever cell runs next. Thread-safe tools run on a thread of their own, uncaptured
(capturing swaps the process-wide stdout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

from .interrupt import StopOnInterrupt
from .tools import Tool, result_text

log = logging.getLogger("ling_notebook.tools")

_due: list[Job] = []
_changed = threading.Condition()  # notified when a job is due or a waited-for future is done
_wakers: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
_current = threading.local()  # the job running on this thread, for stop_requested()


class Job:
    """One tool call to run once: `future` gets (result, error, output); `started` is called when it runs."""

    def __init__(self, tool: Tool, kwargs: dict[str, Any], stop: threading.Event, started: Callable[[], None]) -> None:
        self.tool, self.kwargs, self.stop, self._started = tool, kwargs, stop, started
        self.future: Future[tuple[str | None, str | None, str]] = Future()
        self._lock = threading.Lock()

    def claim(self) -> bool:
        """True for the one caller that may run it; False if it was cancelled or claimed already, or its
        reply was stopped (the task's cancel, which cancels `future`, reaches the loop a moment later)."""
        with self._lock:
            if self.stop.is_set():
                self.future.cancel()
            return not (self.future.running() or self.future.done()) and self.future.set_running_or_notify_cancel()

    def run(self, capture: bool) -> None:
        self._started()
        _current.job = self
        output: list[str] = []
        interrupted = False
        try:
            with _captured(output) if capture else contextlib.nullcontext():
                value = self.tool.function(**self.kwargs)
            outcome: tuple[str | None, str | None] = (result_text(value), None)
        except KeyboardInterrupt:  # Jupyter's interrupt: it stops the replies too; whoever runs this hears of it
            outcome, interrupted = (None, "KeyboardInterrupt: interrupted by the user"), True
        except BaseException as exc:  # the model is told what went wrong (SystemExit included: not ours to exit)
            outcome = (None, f"{type(exc).__name__}: {exc}")
        finally:
            _current.job = None
        self.future.set_result((*outcome, "".join(output)))
        if interrupted:
            raise KeyboardInterrupt


def submit(job: Job) -> None:
    """Run `job` where its tool belongs (see the module's docstring)."""
    if job.tool.thread_safe:
        if job.claim():
            threading.Thread(target=job.run, args=(False,), name=f"ling-tool-{job.tool.name}", daemon=True).start()
        return
    with _changed:
        _due.append(job)
        _changed.notify_all()
        wakers = list(_wakers)
    for loop, waker in wakers:
        loop.call_soon_threadsafe(_set, waker)
    _wake_kernel()


def stop_requested() -> bool:
    """In a running tool: whether its reply was stopped (the tool may return early; its result is not sent)."""
    job = getattr(_current, "job", None)
    return job is not None and job.stop.is_set()


def run_due() -> int:
    """Run every due main-thread job, in order, here (call only on the main thread); return how many ran."""
    ran = 0
    while True:
        with _changed:
            if not _due:
                return ran
            job = _due.pop(0)
        if job.claim():
            job.run(capture=True)
            ran += 1


def on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def wait(future: Future[Any], timeout: float | None = None) -> Any:
    """`future.result(timeout)`, running due tools meanwhile when called on the main thread."""
    if not on_main_thread():
        return future.result(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    future.add_done_callback(_notify)
    while True:
        run_due()
        with _changed:
            if future.done() or _due:
                if future.done():
                    return future.result()
                continue
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError
            _changed.wait(left)


async def wait_async(waiter: asyncio.Future[Any]) -> Any:
    """`await waiter`, running due tools meanwhile when awaited on the main thread (a cell's top-level await
    holds the cell lock, so the kernel's callback could not run them)."""
    if not on_main_thread():
        return await waiter
    loop = asyncio.get_running_loop()
    while True:
        run_due()
        if waiter.done():
            return waiter.result()
        waker: asyncio.Future[None] = loop.create_future()
        entry = (loop, waker)
        with _changed:
            _wakers.add(entry)
            if _due:
                _set(waker)
        try:
            await asyncio.wait([waiter, waker], return_when=asyncio.FIRST_COMPLETED)
        finally:
            with _changed:
                _wakers.discard(entry)


def _set(waker: asyncio.Future[None]) -> None:
    if not waker.done():
        waker.set_result(None)


def _notify(_future: Future[Any]) -> None:
    with _changed:
        _changed.notify_all()


def _wake_kernel() -> None:
    """Ask the kernel's loop to run due jobs between cells; nothing outside a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    kernel = getattr(get_ipython(), "kernel", None)
    io_loop = getattr(kernel, "io_loop", None)
    if io_loop is None:
        return

    async def between_cells() -> None:
        # ipykernel 7's cell lock. 6.x has none: there a tool may run while an async cell awaits.
        lock = getattr(kernel, "_main_asyncio_lock", None)
        async with lock if isinstance(lock, asyncio.Lock) else contextlib.nullcontext():
            # Between cells the kernel ignores SIGINT; a tool must be interruptible like a cell (it may loop
            # forever), and the interrupt stops the replies as it does anywhere (`interrupt`).
            previous = signal.signal(signal.SIGINT, StopOnInterrupt(signal.default_int_handler))
            try:
                run_due()
            except KeyboardInterrupt:
                pass
            except Exception:  # a job's own failures are its result; this would be ours
                log.exception("ling-notebook failed while running tools")
            finally:
                signal.signal(signal.SIGINT, previous)

    io_loop.add_callback(between_cells)


@contextlib.contextmanager
def _captured(output: list[str]) -> Iterator[None]:
    """Collect what the code inside prints or displays (as text), IPython's way when IPython runs."""
    try:
        from IPython import get_ipython
        from IPython.utils.capture import capture_output
    except ImportError:
        shell = None
    else:
        shell = get_ipython()
    if shell is None:
        with contextlib.redirect_stdout(_Collect(output)), contextlib.redirect_stderr(_Collect(output)):
            yield
        return
    with capture_output() as captured:
        try:
            yield
        finally:
            output.append(captured.stdout + captured.stderr)
            for shown in captured.outputs:
                output.append(str(shown.data.get("text/plain", "")) + "\n")


class _Collect:
    def __init__(self, output: list[str]) -> None:
        self._output = output

    def write(self, text: str) -> int:
        self._output.append(text)
        return len(text)

    def flush(self) -> None:
        pass
