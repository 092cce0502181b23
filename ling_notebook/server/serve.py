"""`ModelServer`: the built-in server on its own event loop in a daemon thread; `run`: the same in the foreground."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from ..config import is_loopback
from .handlers import log, make_app
from .records import Records, RequestRecord
from .scenarios import DEMO_MODEL, Plan, model_names, plan_request

if TYPE_CHECKING:
    from .replay import LoggedReplies

# Tornado's defaults (100 MB bodies, no time limit on reading one, an hour of idle keep-alive) let one
# client hold memory and connections for long. Chat requests are small; clients keep idle connections
# for seconds (httpx: 5 s), so they close first and a reused connection is never cut under them.
LIMITS = {"max_body_size": 10 * 1024 * 1024, "body_timeout": 30.0, "idle_connection_timeout": 60.0}


class ModelServer:
    """The server, run on its own event loop in a daemon thread: ``start()``, use ``url``, ``stop()``.

    With ``replay`` (a reply log's path) it answers only requests the log has a complete reply to, with
    that reply (`replay`), instead of the demo and test models."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, rate: float = 40.0, replay: str | None = None) -> None:
        if not is_loopback(host):
            raise ValueError(f"Refusing to listen on {host!r}: the built-in server has no authentication, "
                             "so it only listens on loopback (127.0.0.1, ::1 or localhost).")
        if not rate >= 0:
            raise ValueError(f"rate must be a number of tokens per second >= 0 (0 = no pause), not {rate!r}.")
        self.host, self.port, self.rate = host, port, rate
        self._records = Records()
        self._replies: LoggedReplies | None = None
        if replay is not None:  # read now: a log that cannot be read fails before anything listens
            from .replay import LoggedReplies

            self._replies = LoggedReplies(replay)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._startup_error: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def start(self) -> ModelServer:
        """Listen and serve in the background; returns once the port is open. Calling it again is a no-op."""
        if self._thread is not None:
            if not self._thread.is_alive():
                raise RuntimeError("This ModelServer has been stopped; create a new one.")
            return self
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve(ready)),
                                        name="ling-model-server", daemon=True)
        self._thread.start()
        ready.wait()
        if self._startup_error is not None:
            raise self._startup_error
        return self

    async def _serve(self, ready: threading.Event) -> None:
        try:
            sockets = bind_sockets(self.port, address=self.host.strip("[]"))
            http = HTTPServer(make_app(self), **LIMITS)
            http.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]
            self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        except BaseException as exc:  # start() re-raises it in the caller's thread
            self._startup_error = exc
            return
        finally:
            ready.set()
        await self._stopping.wait()
        http.stop()
        try:  # closing the connections tells running handlers that their clients left
            await asyncio.wait_for(http.close_all_connections(), timeout=5)
        except asyncio.TimeoutError:
            log.warning("Some connections did not close within 5 s of stop().")

    def stop(self) -> None:
        """Stop serving and close open connections. Safe to call twice."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None or not thread.is_alive():
            return
        try:
            loop.call_soon_threadsafe(stopping.set)
        except RuntimeError:  # the loop already closed
            return
        thread.join(timeout=10)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def plan(self, body: dict[str, Any], attempts: Callable[[], int]) -> Plan:
        """What to send for a request body (see `scenarios.plan_request`, `replay.LoggedReplies.plan`)."""
        if self._replies is not None:
            return self._replies.plan(body)
        return plan_request(body, self.rate, attempts)

    def model_names(self) -> list[str]:
        """What ``GET /v1/models`` lists."""
        return self._replies.models() if self._replies is not None else model_names()

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the records, oldest first: the last `records.MAX_RECORDS` (1000) requests."""
        return self._records.snapshot()

    def last_request(self) -> RequestRecord | None:
        records = self._records.snapshot()
        return records[-1] if records else None

    def clear(self) -> None:
        """Forget all records."""
        self._records.clear()

    def wait_for(self, predicate: Callable[[RequestRecord], object], timeout: float = 5.0) -> RequestRecord:
        """The newest record that satisfies ``predicate``, waiting up to ``timeout`` s; else TimeoutError."""
        return self._records.wait_for(predicate, timeout)


def run(host: str = "127.0.0.1", port: int = 8765, rate: float = 40.0, replay: str | None = None) -> None:
    """Serve in the foreground until Ctrl-C (or SIGTERM), after printing where; call from the main thread."""
    with ModelServer(host=host, port=port, rate=rate, replay=replay) as server:
        if server._replies is not None:
            banner = (f"ling-notebook: answering the {server._replies.read()} request(s) logged in {replay} with "
                      f"their replies at {server.url} (Ctrl-C to stop)")
        else:
            banner = f"ling-notebook: offline demo model '{DEMO_MODEL}' at {server.url} (Ctrl-C to stop)"
        print(banner, flush=True)
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops as cleanly
        try:
            while server._thread is not None and server._thread.is_alive():
                server._thread.join(timeout=0.5)  # a short join lets Ctrl-C in
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
