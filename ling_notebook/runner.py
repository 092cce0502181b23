"""Runs stream coroutines on one background event-loop thread.

Why a thread of our own: a task on the kernel's loop stops moving whenever a cell runs synchronous
code, and the Stop click may be delivered on a subshell thread where `task.cancel()` is not
thread-safe. On our loop the stream keeps going (and rendering) while other cells run, `wait()` from
the main thread cannot deadlock, and `Future.cancel()` works from any thread.

The end of a reply with views (each view building its static copy: about a second for a 60,000-token
reply, more for longer or hostile ones) runs on a thread of its own (`finish`), so it holds up neither
other streams on the loop, nor the kernel thread that clicked Stop, nor the end of any other reply:
nothing is queued behind a copy. Who waits on what: a reply's `wait()` (and the next turn of its
conversation, and a batch counting it) waits for its own views' final copies only; a reply without
views is settled where it ends. Many copies at once share the CPU, but none waits for another to finish.

The loop's thread starts lazily on first use and is stopped by `weakref.finalize` at exit; finishing
threads are daemons (a copy still being built when the interpreter exits is of no use to anyone).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import openai

from ._secrets import RedactingFilter
from .config import Settings
from .engine import make_client

T = TypeVar("T")

log = logging.getLogger("ling_notebook.runner")
log.addFilter(RedactingFilter())


class Runner:
    """One daemon thread running an asyncio loop forever; work goes in thread-safely."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._clients: dict[tuple[Any, ...], openai.AsyncOpenAI] = {}
        self._thread = threading.Thread(target=self.loop.run_forever, name="ling-notebook-streams", daemon=True)
        self._thread.start()
        weakref.finalize(self, _shutdown, self.loop, self._thread)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule `coro` on the background loop; cancel the returned future to cancel it (any thread)."""
        if threading.get_ident() != self._thread.ident:
            return asyncio.run_coroutine_threadsafe(coro, self.loop)
        # Already on the loop (a batch's worker starting its next item): the task now, not one loop turn
        # later through the thread-safe queue. A batch's items wait on each other for such turns, and each
        # turn of a loop busy with 16 streams takes milliseconds (figure 12).
        future: Future[T] = Future()
        task = self.loop.create_task(coro)

        def settle(done: asyncio.Task[T]) -> None:
            if done.cancelled():
                future.cancel()
            elif not future.set_running_or_notify_cancel():  # cancelled meanwhile, from another thread
                return
            elif (error := done.exception()) is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result())

        def cancel(done: Future[T]) -> None:
            if done.cancelled():
                self.loop.call_soon_threadsafe(task.cancel)

        task.add_done_callback(settle)
        future.add_done_callback(cancel)
        return future

    async def ended(self, future: Future[Any]) -> None:
        """Wait, on the loop, until `future` is done; cancelling this wait leaves `future` alone.

        One loop turn after it settles on the loop's thread (`asyncio.wrap_future` + `shield` take three)."""
        here = self.loop.create_future()

        def wake(_: Future[Any]) -> None:
            if threading.get_ident() == self._thread.ident:
                if not here.done():
                    here.set_result(None)
            else:
                self.loop.call_soon_threadsafe(lambda: here.done() or here.set_result(None))

        future.add_done_callback(wake)
        await here

    def call_soon(self, callback: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(callback, *args)

    def finish(self, callback: Callable[..., object], *args: Any) -> None:
        """Run slow end-of-reply work off the loop and off the caller's thread, on a thread of its own.

        Not a pool: a bounded one queues a reply's end behind other replies' copies. Any exception is
        logged; nobody else would see it. The callback settles what waits on it itself (in a `finally`).
        """
        threading.Thread(target=_logged, args=(callback, *args), name="ling-notebook-finish", daemon=True).start()

    def client_for(self, settings: Settings) -> openai.AsyncOpenAI:
        """A cached client per connection settings, so connections are reused across replies.

        Call only from the loop thread: clients belong to the loop they first ran on.
        """
        if settings.client is not None:
            return settings.client
        key = (settings.base_url, settings.api_key, settings.timeout, settings.max_retries)
        if key not in self._clients:
            self._clients[key] = make_client(settings)
        return self._clients[key]


def _logged(callback: Callable[..., object], *args: Any) -> None:
    try:
        callback(*args)
    except BaseException:  # the thread's end: nothing above would report it, and `threading` would not redact
        log.exception("ling-notebook failed while ending a reply")


def _shutdown(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if loop.is_closed():
        return
    loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():  # the last reference may go on the loop's own thread
        thread.join(timeout=2)


_runner: Runner | None = None
_lock = threading.Lock()


def get_runner() -> Runner:
    """The process-wide runner, started on first use."""
    global _runner
    with _lock:
        if _runner is None:
            _runner = Runner()
        return _runner


def current() -> Runner | None:
    """The runner if one has started, without starting one (safe in a signal handler: no lock)."""
    return _runner
