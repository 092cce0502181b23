"""The built-in server's record of each request: what it carried and how its response went.

Credentials are redacted when a record is made, so no record (its repr, `to_dict`, the
``/_ling/requests`` answer) ever holds one. Which key a request carried can still be checked:
`RequestRecord.carried_key` compares SHA-256 digests.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from typing import Any

_MAX_RECORDS = 1000  # a long-running `serve` must not grow without bound
_SECRET_HEADERS = {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie"}


@dataclasses.dataclass
class RequestRecord:
    """What one request carried and how its response went (times are ``time.time()`` floats)."""

    id: int
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; credentials already redacted
    body: dict[str, Any] | None = None
    model: str | None = None
    messages: list[Any] = dataclasses.field(default_factory=list)
    stream: bool = False
    started_at: float = dataclasses.field(default_factory=time.time)
    first_byte_at: float | None = None
    finished_at: float | None = None
    disconnected_at: float | None = None  # the client left before the server finished sending
    completed: bool = False  # the whole response went out (for a stream: up to `data: [DONE]`)
    chunks_sent: int = 0  # `data:` events written, `[DONE]` not counted
    key_sha256: str | None = None  # the SHA-256 of the bearer key, when there was one

    def carried_key(self, key: str) -> bool:
        """Whether the request's ``Authorization: Bearer`` key was `key`."""
        return self.key_sha256 is not None and hmac.compare_digest(self.key_sha256, _digest(key))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return dataclasses.asdict(self)


def peak_open(records: list[RequestRecord]) -> int:
    """The most requests that were open at one moment, from their start and end times.

    A request is open from its record's creation until the response finished or the client left,
    whichever came first; one still running counts as open from its start on. A request that
    ends at the instant another starts does not overlap it.
    """
    events: list[tuple[float, int]] = []
    for r in records:
        events.append((r.started_at, 1))
        ends = [t for t in (r.finished_at, r.disconnected_at) if t is not None]
        if ends:
            events.append((min(ends), -1))
    peak = open_now = 0
    for _, change in sorted(events):  # at equal times -1 sorts first: an end frees its place first
        open_now += change
        peak = max(peak, open_now)
    return peak


def redact_headers(headers: list[tuple[str, str]]) -> tuple[dict[str, str], str | None]:
    """Lower-cased headers with credentials masked, and the digest of the bearer key (if any)."""
    kept: dict[str, str] = {}
    digest = None
    for name, value in headers:
        name = name.lower()
        if name in _SECRET_HEADERS:
            scheme, _, credential = value.strip().partition(" ")
            if name == "authorization" and scheme.lower() == "bearer":
                digest = _digest(credential.strip())
            value = f"{scheme} ***" if credential else "***"
        kept[name] = value
    return kept, digest


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class Records:
    """The request log, shared between the server thread and the caller's thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[RequestRecord] = []
        self._next_id = 1

    def add(self, method: str, path: str, headers: list[tuple[str, str]], body: dict[str, Any] | None
            ) -> RequestRecord:
        kept, digest = redact_headers(headers)
        with self._cond:
            record = RequestRecord(self._next_id, method, path, kept, body, key_sha256=digest)
            self._next_id += 1
            self._items = [*self._items[1 - _MAX_RECORDS :], record]
            self._cond.notify_all()
            return record

    def update(self, record: RequestRecord, **changes: Any) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(record, name, value)
            self._cond.notify_all()

    def snapshot(self) -> list[RequestRecord]:
        with self._cond:
            return [copy.copy(record) for record in self._items]

    def clear(self) -> None:
        with self._cond:
            self._items = []

    def wait_for(self, predicate: Callable[[RequestRecord], object], timeout: float) -> RequestRecord:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in reversed(self._items):
                    if predicate(record):
                        return copy.copy(record)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"No request record satisfied the condition within {timeout} s.")
                self._cond.wait(remaining)
