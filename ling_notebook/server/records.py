"""The built-in server's record of each request: what it carried and how its response went.

Header values are masked when a record is made, all but those of a short list of headers known to carry
no credential (`_CLEAR_HEADERS`: an allowlist, so a credential in a header nobody foresaw is masked too),
so no record (its repr, `to_dict`, the ``/_ling/requests`` answer) ever holds one. Which key a request
carried can still be checked: `RequestRecord.carried_key` compares SHA-256 digests.

Records are bounded: the last `MAX_RECORDS` requests are kept, and a body larger than `MAX_KEPT_BODY`
bytes is not kept (its record has ``body=None``, no messages, and its size in ``body_size``).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from typing import Any

MAX_RECORDS = 1000  # a long-running `serve` must not grow without bound
MAX_KEPT_BODY = 64 * 1024  # bytes; with MAX_RECORDS, at most about 64 MB of bodies are held
# What the openai SDK and common clients send that carries no credential; every other value is masked.
_CLEAR_HEADERS = frozenset({
    "accept", "accept-encoding", "accept-language", "cache-control", "connection", "content-length",
    "content-type", "host", "user-agent", "x-stainless-arch", "x-stainless-async", "x-stainless-lang",
    "x-stainless-os", "x-stainless-package-version", "x-stainless-read-timeout", "x-stainless-retry-count",
    "x-stainless-runtime", "x-stainless-runtime-version",
})
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_AUTH_SCHEMES = frozenset({"basic", "bearer", "digest"})  # shown, so a record tells which kind was sent


@dataclasses.dataclass
class RequestRecord:
    """What one request carried and how its response went (times are ``time.time()`` floats)."""

    id: int
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; values masked but those of harmless headers
    body: dict[str, Any] | None = None  # the JSON body, when it was an object of at most MAX_KEPT_BODY bytes
    body_size: int = 0  # bytes
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
    attempt_sha256: str | None = None  # the SHA-256 of the model and messages: retries of one request share it

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
    """Lower-cased headers with every value masked but the harmless ones, and the bearer key's digest (if any)."""
    kept: dict[str, str] = {}
    digest = None
    for name, value in headers:
        name = name.lower()
        if name not in _CLEAR_HEADERS:
            scheme, _, credential = value.strip().partition(" ")
            if name == "authorization" and scheme.lower() == "bearer":
                digest = _digest(credential.strip())
            known = name in _AUTH_HEADERS and scheme.lower() in _AUTH_SCHEMES
            value = f"{scheme} ***" if known else "***"
        kept[name] = value
    return kept, digest


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def attempt_digest(model: object, messages: object) -> str:
    """What tells retries of one request apart from other requests, whether or not its body was kept."""
    return _digest(json.dumps([model, messages], sort_keys=True, default=repr))


class Records:
    """The request log, shared between the server thread and the caller's thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[RequestRecord] = []
        self._next_id = 1

    def add(self, method: str, path: str, headers: list[tuple[str, str]], body: dict[str, Any] | None,
            body_size: int) -> RequestRecord:
        kept, digest = redact_headers(headers)
        body = body if body_size <= MAX_KEPT_BODY else None
        with self._cond:
            record = RequestRecord(self._next_id, method, path, kept, body, body_size, key_sha256=digest)
            self._next_id += 1
            self._items = [*self._items[1 - MAX_RECORDS :], record]
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
