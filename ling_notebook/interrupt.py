"""Jupyter's own interrupt (■, Kernel › Interrupt, I,I) stops every running reply, comparison and batch.

An interrupt is a SIGINT to the kernel process. ipykernel (6.x and 7.x alike) ignores it between cells:
it starts with SIGINT set to SIG_IGN, and around each message it handles, `pre_handler_hook` saves
the current handler in `kernel.saved_sigint_handler` and installs Python's `default_int_handler` (so a
running cell gets KeyboardInterrupt; `wait()` turns that into a stop of what it waits on), then
`post_handler_hook` puts the saved handler back. So the handler that is in effect while the kernel is
idle is `kernel.saved_sigint_handler`; `install()` runs during a cell and replaces exactly that one
with ours, which chains to the one it replaced. Cells keep their KeyboardInterrupt.

The handler runs on the kernel's main thread, between two bytecodes of whatever that thread was
doing: possibly holding a lock of a reply or a batch (handling a Stop click). So it takes no lock
and does no work itself: it hands `%ling stop`'s work to the streams' loop thread.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


def install() -> None:
    """Make the idle kernel's SIGINT stop everything. Call it from a cell (the magics' load, each start).

    Does nothing outside an ipykernel, off the main thread (a subshell: signals belong to the main
    thread), or when it is installed already.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None or threading.current_thread() is not threading.main_thread():
        return
    if hasattr(kernel, "saved_sigint_handler") and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        # In a cell: the idle handler is the saved one, restored when the cell ends.
        if not isinstance(kernel.saved_sigint_handler, StopOnInterrupt):
            kernel.saved_sigint_handler = StopOnInterrupt(kernel.saved_sigint_handler)
    elif not isinstance(signal.getsignal(signal.SIGINT), StopOnInterrupt):
        # A kernel without the hooks: one handler all the time, which a cell's own KeyboardInterrupt chains to.
        signal.signal(signal.SIGINT, StopOnInterrupt(signal.getsignal(signal.SIGINT)))


def stop_everything() -> None:
    """What `%ling stop` does: stop every running reply (comparisons' too) and every running batch."""
    from .batch import stop_all as stop_batches
    from .reply import stop_all as stop_replies

    stop_batches()
    stop_replies()


class StopOnInterrupt:
    """A SIGINT handler: stop everything (on the streams' loop), then call the handler it replaced."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        from . import runner

        active = runner.current()
        if active is not None:  # no runner: nothing has ever streamed, so nothing runs
            active.call_soon(stop_everything)
        if callable(self.previous):
            self.previous(signum, frame)
