"""The record of every reply: a SQLite log with one row per reply, and what a saved output says of its reply.

Every reply that ends (done, stopped or failed; streamed or not; with what text arrived) is handed to
`ended`, which only queues it: one writer thread per process builds the rows and writes them, many per
transaction, so a stream never waits for the disk. The file is in WAL mode with a busy timeout, so
several kernels may write one log at once. A log that cannot be written (a read-only folder, a lock
held too long, a corrupt file, a full disk) costs one warning line on stderr; the replies go on.

Where: `Settings.log` (`configure(log=...)`, `LING_LOG`, `%ling log`; default: the user's data folder),
"off" for none. What: see `_MIGRATIONS` and the README's schema. Never a secret: URLs are stored as
`shown_url` shows them, header and query values are masked, and every text passes `redact`.

Reading the log (`%ling usage`, resuming a conversation after a restart) is `rows` and `read_turns`;
`replay` answers a request the log has a complete reply to (same `request_key`) from the log.

Provenance: the static copy of a reply, a comparison or a batch summary is displayed with
`metadata["ling_notebook"]` (`provenance`, `comparison_provenance`, `batch_provenance`), so a saved
notebook says which model answered, how, and when: never a key, never the messages.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import hashlib
import json
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import engine
from ._secrets import MASK, redact, shown_url
from .engine import valid_text

if TYPE_CHECKING:
    from .batch import Batch
    from .compare import Comparison
    from .reply import Reply

OFF = "off"
BUSY_TIMEOUT = 10.0  # seconds a write waits for another kernel's transaction before it gives up (and warns)
# While replies end in quick succession (a batch), the writer lets them gather for this many seconds after
# the first one it wakes for: one wake-up and one transaction for all of them, not one per reply (each
# wake-up took the GIL from the streams). A reply ending alone, a reset and a flush (a replay's lookup,
# resuming, the kernel's exit) are written at once: a kernel killed right after loses nothing.
GATHER = 0.1

# Each migration (its statements) takes the log from version i to i + 1 (`PRAGMA user_version`); never
# edit one, add one.
_MIGRATIONS: list[tuple[str, ...]] = [(
    """
    CREATE TABLE replies (
        seq INTEGER PRIMARY KEY,       -- the order rows were written in
        id TEXT NOT NULL UNIQUE,       -- the reply's id, also in its saved output's metadata
        time TEXT NOT NULL,            -- when the request was sent (UTC, ISO 8601)
        notebook TEXT,                 -- the notebook's path, where the front end tells it
        cell TEXT,                     -- the asking cell: 'cell:<id>', or 'run:<n>' without an id
        conversation TEXT,             -- the %%ling conversation's name; NULL outside one
        model TEXT NOT NULL,
        server TEXT NOT NULL,          -- the base URL without credentials
        request TEXT NOT NULL,         -- JSON: model, messages, params (header and query values masked), stream
        request_key TEXT NOT NULL,     -- SHA-256 of what makes two requests the same: server, model, messages, params
        text TEXT NOT NULL,            -- what arrived, complete or not
        reasoning TEXT NOT NULL,
        parts TEXT,                    -- JSON list of the reply's parts (tool calls and results); NULL: text only
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        total_tokens INTEGER,
        finish_reason TEXT,
        status TEXT NOT NULL,          -- done, stopped or error
        error TEXT,
        ttft REAL,                     -- seconds to the first token (streamed replies)
        duration REAL,                 -- seconds from the request to the end
        version TEXT NOT NULL          -- ling-notebook's version
    )""",
    "CREATE INDEX replies_by_notebook ON replies (notebook, conversation, seq)",
    "CREATE INDEX replies_by_time ON replies (time)",
    "CREATE INDEX replies_by_request ON replies (request_key, status)",
    """
    CREATE TABLE resets (              -- `--new` and `%ling reset`: a resumed conversation starts after these
        notebook TEXT NOT NULL,
        conversation TEXT NOT NULL,
        time TEXT NOT NULL
    )""",
)]
SCHEMA_VERSION = len(_MIGRATIONS)

_COLUMNS = ("id", "time", "notebook", "cell", "conversation", "model", "server", "request", "request_key", "text",
            "reasoning",
            "parts", "prompt_tokens", "completion_tokens", "total_tokens", "finish_reason", "status", "error",
            "ttft", "duration", "version")
# A non-ASCII text and reasoning are bound as UTF-8 bytes and cast back to TEXT by SQLite: bound as a str, a
# non-ASCII text is read by the sqlite3 module through its cached UTF-8 form, which CPython then keeps inside
# the reply's own text for as long as the reply lives (the text once more, in memory). An ASCII str is read
# in place, and CAST leaves a str as it is.
_AS_BYTES = ("text", "reasoning")
_INSERT = (f"INSERT OR IGNORE INTO replies ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join('CAST(? AS TEXT)' if c in _AS_BYTES else '?' for c in _COLUMNS)})")

# Where the reply being made is asked from: the %%ling magic sets the conversation and cell around it.
_asked_in: contextvars.ContextVar[Mapping[str, str | None]] = contextvars.ContextVar(
    "ling_asked_in", default=MappingProxyType({}))


@contextlib.contextmanager
def asked_in(**where: str | None) -> Iterator[None]:
    """Replies made inside are recorded with these fields (`conversation`, `cell`)."""
    token = _asked_in.set(MappingProxyType({**_asked_in.get(), **where}))
    try:
        yield
    finally:
        _asked_in.reset(token)


def notebook_path() -> str | None:
    """The notebook this kernel runs, where the front end says: Jupyter Server's `JPY_SESSION_NAME`
    (JupyterLab, Notebook 7), VS Code's `__vsc_ipynb_file__`; None elsewhere (nbclient, a terminal)."""
    if os.environ.get("JPY_SESSION_NAME"):
        return os.environ["JPY_SESSION_NAME"]
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    path = shell.user_ns.get("__vsc_ipynb_file__") if shell is not None else None
    return path if isinstance(path, str) else None


def origin() -> dict[str, str | None]:
    """Where a reply made now is asked from; kept by the reply, written with it."""
    return {"notebook": notebook_path(), "cell": None, "conversation": None, **_asked_in.get()}


# model -> [requests, prompt tokens, completion tokens] of this process's replies, for `%ling usage`.
_session: dict[str, list[int]] = {}
_session_lock = threading.Lock()


def ended(reply: Reply) -> None:
    """Record an ended reply (called once, by the reply, as it ends). Only queues it: quick on any thread."""
    if reply.replayed is not None:  # a copy of a row already there; it sent no request
        return
    if reply.started_at is not None:  # a request was sent
        usage = reply.usage
        with _session_lock:
            counts = _session.setdefault(reply.model, [0, 0, 0])
            counts[0] += 1
            if usage is not None:
                counts[1] += usage.prompt_tokens
                counts[2] += usage.completion_tokens
    path = reply.settings.log
    if path != OFF:
        _writer.put((path, reply, time.time()))


def flush(timeout: float | None = 10.0) -> bool:
    """Wait until every reply ended so far is written (or has failed to be); False on timeout."""
    return _writer.flush(timeout)


def reset(path: str, notebook: str, conversation: str) -> None:
    """Mark a conversation as started afresh: turns before now are not resumed."""
    if path != OFF:
        _writer.put((path, (notebook, conversation, _iso(time.time())), 0.0), urgent=True)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _masked(fields: Any) -> Any:
    """Header and query fields by name only: their values may be credentials."""
    return {name: MASK for name in fields} if isinstance(fields, Mapping) else fields


def _text(text: str) -> str:
    """Text as the log keeps it: no known secret, and encodable (a prompt may hold half a surrogate pair)."""
    return valid_text(redact(text))


def _request_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A request's parameters as the log and saved outputs keep them: header and query values masked."""
    return {name: _masked(value) if name in ("extra_headers", "extra_query") else value
            for name, value in params.items()}


# Options the client applies itself: they are not in the request's body, so they do not make it another request.
_CLIENT_OPTIONS = frozenset({"extra_headers", "extra_query", "timeout", "extra_body"})


def sent_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    """Request parameters as the request's body carries them: unset ones left out, `extra_body`'s merged in."""
    fields = {name: value for name, value in params.items() if name not in _CLIENT_OPTIONS and value is not None}
    fields.update(params.get("extra_body") or {})
    return fields


def same_request_key(model: str, messages: Any, params: Mapping[str, Any], server: str | None = None) -> str:
    """What makes two requests the same, hashed: the model (as asked for), the messages, the parameters as
    sent (`sent_fields`; tools included) and, when given, the server. A replay server (`ling-notebook serve
    --replay`) leaves the server out: the client it answers points at it, not at the server that replied."""
    same = {"model": model, "messages": messages, "params": sent_fields(params),
            **({"server": server} if server is not None else {})}
    return hashlib.sha256(_text(json.dumps(same, sort_keys=True, ensure_ascii=False, default=str)).encode()).hexdigest()


def request_key(reply: Reply) -> str:
    """The key of a reply's request (`same_request_key`), its server included."""
    return same_request_key(reply.settings.model, reply.messages, _request_params(reply._params),
                            shown_url(reply.settings.base_url))


async def replay(reply: Reply) -> AsyncIterator[engine.Event] | None:
    """The events of the latest complete logged reply to the same request, when the reply's settings ask
    for replays (`--replay`, `configure(replay=True)`) and the log has one; else None (the request is sent)."""
    if not reply.settings.replay or reply.settings.log == OFF:
        return None
    row = await asyncio.to_thread(_find_replay, reply.settings.log, request_key(reply))
    if row is None:
        return None
    reply.id, reply.replayed = row["id"], row["time"]
    return _events_of(row)


def _find_replay(path: str, key: str) -> sqlite3.Row | None:
    flush()  # a reply of this kernel to the same request may be on its way to the file
    try:
        connection = connect(path)
    except (FileNotFoundError, sqlite3.Error):
        return None
    try:
        connection.row_factory = sqlite3.Row
        return connection.execute("SELECT * FROM replies WHERE request_key = ? AND status = 'done' "
                                  "ORDER BY seq DESC LIMIT 1", (key,)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        connection.close()


async def _events_of(row: sqlite3.Row) -> AsyncIterator[engine.Event]:
    yield engine.Started(row["model"])
    if row["reasoning"]:
        yield engine.ReasoningDelta(row["reasoning"])
    if row["text"]:
        yield engine.ContentDelta(row["text"])
    if row["total_tokens"] is not None:
        yield engine.Usage(row["prompt_tokens"], row["completion_tokens"], row["total_tokens"])
    yield engine.Finished(row["finish_reason"] or "stop")


def _row(reply: Reply, ended_at: float) -> tuple[Any, ...]:
    """The row of an ended reply; every text field redacted (a key pasted into a prompt, echoed back...)."""
    from . import __version__

    request = {"model": reply.settings.model, "messages": reply.messages, "params": _request_params(reply._params),
               "stream": reply.streamed}
    if reply.exchange:  # what the later rounds of a reply with tool calls sent after `messages`
        request["exchange"] = reply.exchange
    if reply._tools:  # what each round offered, so a replay server matches requests with tools too
        request["tools"] = [tool.schema for tool in reply._tools.values()]
    usage = reply.usage
    where = reply.origin
    elapsed = reply.elapsed
    return (
        reply.id,
        _iso(ended_at - (elapsed or 0.0)),
        *(_text(where[name]) if where.get(name) else None for name in ("notebook", "cell", "conversation")),
        _text(reply.model),
        _text(shown_url(reply.settings.base_url)),
        _text(json.dumps(request, ensure_ascii=False, default=str)),
        request_key(reply),
        _kept(reply, "text"),
        _kept(reply, "reasoning"),
        _text(json.dumps(calls, ensure_ascii=False, default=str)) if (calls := _calls(reply)) else None,
        *((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) if usage else (None, None, None)),
        reply.finish_reason,
        reply.status,
        reply.error and _text(reply.error),
        reply.ttft,
        elapsed,
        __version__,
    )


def _detached(text: str) -> str | bytes:
    """`text` as it may be bound without CPython caching its UTF-8 form inside it (see _AS_BYTES)."""
    return text if text.isascii() else text.encode()


def _kept(reply: Reply, kind: str) -> str | bytes:
    """The reply's text or reasoning as the log binds it (`_text`, `_detached`): when the reply keeps it as
    UTF-8 (`Reply.kept`) and it needs no change, those very bytes, not a copy. Read without `reply.text`,
    which would keep the text as a str from then on (reply.TextBuffer), before its copy is made."""
    kept = reply.kept(kind)
    text = kept if isinstance(kept, str) else kept.decode("utf-8", "surrogatepass")
    clean = _text(text)
    if clean is text and isinstance(kept, bytes):
        return kept
    return _detached(clean)


def _calls(reply: Reply) -> list[dict[str, Any]]:
    """The reply's tool calls as the log keeps them (the `parts` column): what was asked and what came of it."""
    return [{"round": call.round, "id": call.id, "name": call.name, "arguments": call.arguments_text,
             "state": call.state, "result": call.result, "error": call.error, "output": call.output,
             "seconds": call.seconds} for call in reply.tool_calls]


def _plain(value: Any) -> Any:
    """`value` as JSON data (what a notebook's metadata can hold), with no known secret in it."""
    return json.loads(_text(json.dumps(value, ensure_ascii=False, default=str)))



def _reply_facts(reply: Reply) -> dict[str, Any]:
    from . import __version__

    started = reply.started_at
    return {
        "reply": reply.id,
        "model": reply.model,
        "params": _request_params(reply._params),
        "usage": vars(reply.usage) if reply.usage else None,
        "finish_reason": reply.finish_reason,
        "status": reply.status,
        "ttft": reply.ttft,
        "duration": reply.elapsed,
        "time": _iso(time.time() - (time.perf_counter() - started)) if started is not None else None,
        "version": __version__,
        "conversation": reply.origin.get("conversation"),
        "tools": sorted(reply._tools),
        **({"replayed_from": reply.replayed} if reply.replayed else {}),
    }


def provenance(reply: Reply) -> dict[str, Any]:
    """The display metadata of a reply's static copy."""
    return {"ling_notebook": _plain(_reply_facts(reply))}


def comparison_provenance(comparison: Comparison) -> dict[str, Any]:
    """The display metadata of a comparison's static copy: each column's reply, in order."""
    return {"ling_notebook": _plain({"comparison": [_reply_facts(reply) for reply in comparison.replies]})}


def batch_provenance(batch: Batch) -> dict[str, Any]:
    """The display metadata of a batch's summary: the request every item shared, and the totals."""
    from . import __version__

    return {"ling_notebook": _plain({
        "batch": len(batch),
        "model": batch.settings.model,
        "params": _request_params(batch._params),
        "usage": batch.usage,
        "counts": batch.counts,
        "status": batch.status,
        "duration": batch.elapsed,
        "time": _iso(time.time() - batch.elapsed),
        "version": __version__,
    })}


def connect(path: str | Path, *, write: bool = False) -> sqlite3.Connection:
    """A connection to the log at `path`, its schema brought up to date when writing.

    Autocommit mode: transactions are explicit (`BEGIN IMMEDIATE`), so two kernels never both read an
    old schema version and both migrate.
    """
    path = Path(path)
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise FileNotFoundError(f"no reply log at {path}")
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        if write:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL's safe setting: a power cut loses no committed row
            _migrate(connection)
        else:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"the log has schema version {version}; this ling-notebook reads {SCHEMA_VERSION}")
    except BaseException:
        connection.close()
        raise
    return connection


def _migrate(connection: sqlite3.Connection) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"it has schema version {version}, written by a newer ling-notebook (this one writes {SCHEMA_VERSION})"
            )
        for statements in _MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


class _Writer:
    """The one thread that writes the log, started with the first reply to record."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._urgent = threading.Event()  # a flush or a reset waits: stop gathering
        self._written_at = -GATHER  # when the last transaction ended (time.monotonic)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._connections: dict[str, sqlite3.Connection] = {}
        self._warned: set[str] = set()

    def put(self, item: Any, urgent: bool = False) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="ling-notebook log", daemon=True)
                    self._thread.start()
                    atexit.register(self.flush, 5.0)  # what ended just before the kernel exits is kept
        self._queue.put(item)
        if urgent:
            self._urgent.set()

    def flush(self, timeout: float | None) -> bool:
        if self._thread is None:
            return True
        done = threading.Event()
        self.put(done, urgent=True)
        return done.wait(timeout)

    def _run(self) -> None:
        while True:  # no local variable here: the replies written last must not stay held while it waits
            self._handle(self._take())

    def _take(self) -> list[Any]:
        """What waits, at least one item, and what comes within `GATHER` seconds after it: all of it goes in
        one transaction per file."""
        items = [self._queue.get()]
        if time.monotonic() - self._written_at < GATHER:  # ends come in quick succession: let them gather
            self._urgent.wait(GATHER)
        self._urgent.clear()
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _handle(self, items: list[Any]) -> None:
        self._write([item for item in items if not isinstance(item, threading.Event)])
        self._written_at = time.monotonic()
        for item in items:
            if isinstance(item, threading.Event):
                item.set()

    def _write(self, items: list[tuple[str, Any, float]]) -> None:
        by_path: dict[str, tuple[list[tuple[Any, ...]], list[tuple[str, str, str]]]] = {}
        for path, what, ended_at in items:
            replies, resets = by_path.setdefault(path, ([], []))
            try:
                if isinstance(what, tuple):
                    resets.append(what)
                else:
                    replies.append(_row(what, ended_at))
            except Exception as exc:  # a bug of ours must not stop the writer: the other rows still go
                self._warn(path, exc)
        for path, (replies, resets) in by_path.items():
            try:
                if path not in self._connections:
                    self._connections[path] = connect(path, write=True)
                connection = self._connections[path]
                connection.execute("BEGIN IMMEDIATE")
                try:
                    connection.executemany(_INSERT, replies)
                    connection.executemany("INSERT INTO resets (notebook, conversation, time) VALUES (?, ?, ?)", resets)
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
            except Exception as exc:  # sqlite3.Error, OSError; anything else must not stop the writer either
                stale = self._connections.pop(path, None)  # opened again next time: the file may be fixed by then
                if stale is not None:
                    stale.close()
                self._warn(path, exc)

    def _warn(self, path: str, exc: BaseException) -> None:
        if path in self._warned:
            return
        self._warned.add(path)
        print(f"ling: the reply log {path} cannot be written ({type(exc).__name__}: {redact(str(exc))}); "
              "replies go on, unrecorded. Choose another file with LING_LOG=PATH, or turn it off with "
              "%ling log off.", file=sys.stderr)


_writer = _Writer()


# -- reading ---------------------------------------------------------------------------------------

def rows(path: str, where: str = "1", args: tuple[Any, ...] = (), columns: str = "*") -> list[sqlite3.Row]:
    """Rows of the log at `path` matching the SQL condition `where` (placeholders filled from `args`)."""
    connection = connect(path)
    try:
        connection.row_factory = sqlite3.Row
        return connection.execute(f"SELECT {columns} FROM replies WHERE {where} ORDER BY seq", args).fetchall()
    finally:
        connection.close()


def session_usage() -> list[tuple[str, int, int, int]]:
    """(model, requests, prompt tokens, completion tokens) of the replies this process sent, by model."""
    with _session_lock:
        return sorted((model, *counts) for model, counts in _session.items())  # type: ignore[misc]


def logged_usage(path: str, since: str = "", notebook: str | None = None) -> list[tuple[Any, ...]]:
    """(day, model, conversation, requests, prompt tokens, completion tokens) from the log at `path`, for
    requests sent on `since` (YYYY-MM-DD) or later, of one notebook or all."""
    where, args = "duration IS NOT NULL AND time >= ?", [since]
    if notebook is not None:
        where, args = where + " AND notebook = ?", [*args, notebook]
    connection = connect(path)
    try:
        return connection.execute(
            "SELECT substr(time, 1, 10) AS day, model, coalesce(conversation, '') AS chat, count(*), "
            "coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0) FROM replies "
            f"WHERE {where} GROUP BY day, model, chat ORDER BY day, model, chat", args,
        ).fetchall()
    finally:
        connection.close()


@dataclass
class Recorded:
    """An earlier turn's reply as the log kept it: what a conversation needs of a `Reply` that has ended."""

    text: str
    status: str
    error: str | None
    model: str
    reasoning: str = ""
    ended: bool = True
    id: str = ""  # its row's id (`%ling export` reads the row again)
    # The tool-call and tool messages of its answered rounds (`Reply.exchange`), from the logged request.
    exchange: list[dict[str, Any]] = field(default_factory=list)

    @property
    def final_text(self) -> str:
        """The answer after the answered tool rounds (`Reply.final_text`): `text` holds every round's text in
        order, and each answered round's text is its assistant message's content."""
        before = "".join(m.get("content") or "" for m in self.exchange if m.get("role") == "assistant")
        return self.text[len(before):] if before and self.text.startswith(before) else self.text

    # What a view reads of an ended reply (a chat box shows resumed turns as it shows its ended answers);
    # the log keeps no timings or tool calls of a turn for them.
    waiting_for = ttft = tokens_per_s = elapsed = usage = cost = finish_reason = None
    tool_calls: tuple[Any, ...] = ()

    def stop(self) -> None:
        """Nothing to stop: it ended in an earlier kernel."""

    def add_listener(self, listener: Any) -> None:
        """A view hears all of it at once, then its end, on this thread (as a `Reply` tells a late view)."""
        if self.text or self.reasoning:
            listener.on_delta(self, self.text, self.reasoning)
        listener.on_end(self)


def read_turns(path: str, notebook: str, conversation: str) -> list[tuple[str, str, Recorded]]:
    """The turns of a conversation of a notebook as the log has them, since its last reset: (cell, prompt,
    reply) for each cell with an id, in the order the cells first asked, each with its latest reply."""
    connection = connect(path)
    try:
        connection.row_factory = sqlite3.Row
        since = connection.execute("SELECT max(time) FROM resets WHERE notebook = ? AND conversation = ?",
                                   (notebook, conversation)).fetchone()[0] or ""
        found = connection.execute(
            "SELECT id, cell, request, text, status, error, model, reasoning FROM replies WHERE notebook = ? "
            "AND conversation = ? AND cell LIKE 'cell:%' AND time > ? ORDER BY seq",
            (notebook, conversation, since),
        ).fetchall()
    finally:
        connection.close()
    turns: dict[str, tuple[str, str, Recorded]] = {}  # dicts keep the order keys were first added in
    for row in found:
        request = json.loads(row["request"])
        messages = request["messages"] or []
        prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), None)
        if isinstance(prompt, str):
            reply = Recorded(row["text"], row["status"], row["error"], row["model"], row["reasoning"],
                             id=row["id"], exchange=request.get("exchange") or [])
            turns[row["cell"]] = (row["cell"], prompt, reply)
    return list(turns.values())
