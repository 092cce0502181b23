"""The reply object: the state of one request, its text so far, and ways to wait for or stop it.

A `Reply` consumes engine events on the runner's background loop and tells its listeners (the
widget, the terminal printer) about each change. Everything a user reads (`text`, `status`, ...)
is safe to read from any thread; `stop()` is safe to call from any thread. It imports no view: the
views subscribe to it (`add_listener`), and its static copy (`_repr_html_`, display without a live view) is
built by the showing side, asked for through `showing`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Generator
from concurrent.futures import Future
from contextlib import aclosing
from decimal import Decimal
from typing import Any, Protocol

from . import engine, record, showing, toolrun
from ._secrets import redact, redact_logs_of, remember_values
from .config import Settings
from .errors import ReplyError
from .parts import Part, TextPart, ToolCall
from .runner import Runner, get_runner
from .tools import Tool

MAX_ROUNDS = 10  # requests per reply, by default: a model that keeps calling tools is stopped there

ENDED = ("done", "stopped", "error")

# Below these a speed is noise: a reply of a word or two, or text that came in one burst (a
# non-streamed reply, a buffered proxy) would show thousands of tokens/s.
MIN_RATE_TOKENS = 5
MIN_RATE_SECONDS = 0.25

log = logging.getLogger("ling_notebook.reply")
redact_logs_of("ling_notebook", "openai", "httpx", "httpcore")  # imported by now, with their loggers

# Replies started and not yet settled (see `Reply._settle`: ended, row queued, copies published), and
# ended replies whose late view is publishing its copy. Added to by the thread that starts a reply or
# attaches a view, removed from by the last end thread: every use holds the lock.
_running: weakref.WeakSet[Reply] = weakref.WeakSet()
_running_lock = threading.Lock()


def rate(tokens: int, seconds: float) -> float | None:
    """Tokens per second, or None where the number would mean nothing (too few tokens, too short a time).

    The one rule for every speed shown: a reply's status line (live and static), a comparison's
    summary, a batch's progress and summary.
    """
    if tokens < MIN_RATE_TOKENS or seconds < MIN_RATE_SECONDS:
        return None
    return tokens / seconds


def stop_all() -> int:
    """Stop every reply that is still running; return how many there were."""
    with _running_lock:
        replies = [reply for reply in _running if not reply.ended]
    for reply in replies:
        reply.stop()
    return len(replies)


class Listener(Protocol):
    """What a view of a reply implements. `on_status` and `on_delta` are called on the runner's loop thread,
    `on_end` once, on a finishing thread (see `Runner.finish`) that the reply's `wait()` waits for.

    `on_delta` runs while the reply's end waits (so no piece comes after `on_end`): keep it quick.
    A listener may also have `on_part(reply, part, arguments)`, called on the loop thread when a tool call
    starts or changes (`arguments`: the new piece of its arguments, if any; its state, result): `reply.parts`
    then holds it in its place among the text parts."""

    def on_status(self, reply: Reply) -> None: ...
    def on_delta(self, reply: Reply, content: str, reasoning: str) -> None: ...
    def on_end(self, reply: Reply) -> None: ...


class TextBuffer:
    """Append-only text, kept compact. Appends are O(1); reading joins once.

    Small pieces are joined in blocks, so a million-token reply costs about one copy of its text, not a
    million string objects. CPython stores a str at two or four bytes a character as soon as one character
    needs it (a curly quote, an emoji), so a block that is not ASCII is kept as UTF-8 when that is smaller:
    an English reply with curly quotes then takes its UTF-8 size, not twice it, and a reply mostly in Chinese
    stays a str (two bytes a character, against three). `kept()` joins the blocks into the smaller of the two
    forms for the whole text, which a long reply's copy and its row in the log read. `str()` gives the whole
    as one str, and keeps that str as the text from then on, shared by every later reader (a conversation's
    next turns, `wait()`): the text is then kept as it was before it was ever UTF-8, never twice.
    UTF-8 here is `surrogatepass`: a model's text may hold half a surrogate pair, given back as it came.
    """

    _BATCH = 512
    __slots__ = ("_blocks", "_length", "_lock", "_pending", "_utf8", "_width")  # two per reply, 1,000 replies a batch

    def __init__(self) -> None:
        self._blocks: list[str | bytes] = []
        self._pending: list[str] = []
        self._length = 0  # characters
        self._utf8 = 0  # bytes of the sealed blocks in UTF-8
        self._width = 1  # bytes a character of the widest sealed block takes as a str
        self._lock = threading.Lock()

    def append(self, piece: str) -> None:
        with self._lock:
            self._pending.append(piece)
            self._length += len(piece)
            if len(self._pending) >= self._BATCH:
                self._seal()

    def __len__(self) -> int:
        return self._length

    def __str__(self) -> str:
        with self._lock:
            whole = self._whole()
            if isinstance(whole, bytes):
                whole = whole.decode("utf-8", "surrogatepass")
                self._blocks = [whole]
            return whole

    def kept(self) -> str | bytes:
        """The whole text as one block: a str, or its UTF-8 bytes when those are smaller than the str (and
        no one has read it whole as a str since the last append, see the class)."""
        with self._lock:
            return self._whole()

    def _whole(self) -> str | bytes:
        """`kept`, under the lock."""
        if self._pending:
            self._seal()
        blocks = self._blocks
        if len(blocks) == 1:
            return blocks[0]
        if not blocks:
            return ""
        if self._length * self._width <= self._utf8:
            whole: str | bytes = "".join(b if isinstance(b, str) else b.decode("utf-8", "surrogatepass")
                                         for b in blocks)
        else:
            whole = b"".join(b if isinstance(b, bytes) else b.encode("utf-8", "surrogatepass") for b in blocks)
        self._blocks = [whole]
        return whole

    def _seal(self) -> None:
        """Join the pending pieces into a block (under the lock)."""
        block = "".join(self._pending)
        self._pending.clear()
        if block.isascii():
            self._utf8 += len(block)
            self._blocks.append(block)
            return
        data = block.encode("utf-8", "surrogatepass")
        widest = max(block)
        width = 1 if widest <= "\xff" else 2 if widest <= "\uffff" else 4
        self._utf8 += len(data)
        self._width = max(self._width, width)
        self._blocks.append(data if len(data) < len(block) * width else block)


class Reply:
    """One chat completion as it streams. See the README for the full contract."""

    def __init__(
        self,
        messages: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
        settings: Settings,
        *,
        stream: bool = True,
        params: dict[str, Any] | None = None,
        after: Callable[[], Reply | None] | None = None,
        runner: Runner | None = None,
        tools: dict[str, Tool] | None = None,
        max_rounds: int = MAX_ROUNDS,
        approve: bool = False,
        continues: int = 0,
    ) -> None:
        """`messages` may be a function, called just before the request is sent.

        `tools` (by name, see `tools.toolbox`) are offered to the model; while it answers with tool calls,
        they are run (see `toolrun`) and their results sent back, for at most `max_rounds` requests. With
        `approve`, each call waits in state "approval" until `decide(call_id, run)` (the card's Run or Skip).

        `after` says which earlier reply must end first: it is called before the request is sent and
        again each time the reply it named has ended (a conversation may change while this one waits),
        until it returns None or a reply that has ended.
        """
        self._messages = messages
        self.id = uuid.uuid4().hex  # names the reply in the log and in its saved output's metadata
        self.origin = record.origin()  # the notebook, cell and conversation asking, for the log
        self.replayed: str | None = None  # when the logged reply it was answered with was sent (replays)
        self.continues = continues  # earlier turns its conversation took from the log (after a restart)
        self.settings = settings
        self.model = settings.model
        self.status = "waiting"
        # While waiting: "reply" (queued behind an earlier turn, see `after`) or "server" (the request is sent).
        self.waiting_for: str | None = None
        self.finish_reason: str | None = None
        self.usage: engine.Usage | None = None
        self.error: str | None = None
        self.chunks = 0  # content and reasoning pieces received
        self.started_at: float | None = None
        self.first_token_at: float | None = None
        self.ended_at: float | None = None
        self._stream = stream
        self._params = {**settings.params, **(params or {})}  # the session's request defaults, then this one's
        for credentials in ("extra_headers", "extra_query"):  # sent with the request: redacted like its key
            remember_values(self._params.get(credentials))
        self._after = after
        self._runner = runner or get_runner()
        self._content = TextBuffer()
        self._reasoning = TextBuffer()
        self._listeners: list[Listener] = []
        self._tools = tools or {}
        self._max_rounds = max_rounds
        self._approve = approve
        self._decisions: dict[str, asyncio.Future[bool]] = {}  # call id -> the user's choice, on the loop
        self._parts: list[Part] = []
        self._open: dict[str, TextPart] = {}  # the text and reasoning parts that pieces are added to
        self._exchange: list[dict[str, Any]] = []  # the messages of the rounds whose tool calls were all answered
        self.rounds = 0  # requests sent
        self.stopped_during: str | None = None  # what Stop interrupted: "request", "stream" or "tool NAME"
        self._stage = "request"
        # Set once, by `_end`, and never cancelled: each waiter waits on a future of its own (`_waiter`). Its
        # result is None, not the text: a str of all of it would be kept as long as the reply (see `TextBuffer`).
        self._ended: Future[None] = Future()
        # Guards the end against start(), stop() and each piece. Reentrant: a listener may stop the reply
        # from on_delta, on the stream's thread (the reply then ends there, with that piece).
        self._end_lock = threading.RLock()
        self._finishing = 0  # end threads still telling views of the end (`_running_lock`)
        self._task: Future[None] | None = None  # while the request runs; dropped once it has ended
        self._started = False  # start() was called, or stop() came first and the reply is never sent
        self._stop_asked = False
        self._stopping = threading.Event()  # set by stop() at once: a running tool reads it (`stop_requested`)
        self.view: Any = None  # the widget showing this reply, when there is one

    # -- reading -----------------------------------------------------------------------------
    @property
    def model(self) -> str:
        """The model's name (as the server reported it, once it has)."""
        return self._model

    @model.setter
    def model(self, name: str) -> None:
        # Every view (status line, static copy, comparison headers, logs) reads the name here, so a key
        # pasted as the model name is masked once for all of them; the request still sends it as given.
        self._model = redact(name)

    @property
    def text(self) -> str:
        """The content received so far; complete once the reply has ended."""
        return str(self._content)

    @property
    def reasoning(self) -> str:
        """Reasoning ("thinking") text received so far; empty when the model sends none."""
        return str(self._reasoning)

    def kept(self, kind: str = "text") -> str | bytes:
        """The text (or the "reasoning") as the reply keeps it: a str, or its UTF-8 (`surrogatepass`) where that
        is smaller (see `TextBuffer`). `text` makes a str of all of it; a long reply's copy reads windows of this."""
        return (self._content if kind == "text" else self._reasoning).kept()

    @property
    def parts(self) -> list[Part]:
        """The reply in order: reasoning and text parts, and tool calls (see `parts`)."""
        return list(self._parts)

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls the model asked for, in order, with their arguments, results, errors and timings."""
        return [part for part in self._parts if isinstance(part, ToolCall)]

    @property
    def exchange(self) -> list[dict[str, Any]]:
        """The assistant tool-call messages and tool messages of the rounds that were answered in full: what a
        conversation sends between this turn's prompt and its final answer."""
        return list(self._exchange)

    @property
    def final_text(self) -> str:
        """The text after the last answered tool round: the model's answer (`text` for a reply without tools)."""
        answered = sum(1 for m in self._exchange if m["role"] == "assistant")
        if not answered:
            return self.text
        return "".join(p.text for p in self._parts
                       if isinstance(p, TextPart) and p.kind == "text" and p.round > answered)

    @property
    def messages(self) -> list[dict[str, Any]] | None:
        """The messages sent, once they are known."""
        return None if callable(self._messages) else self._messages

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def streamed(self) -> bool:
        """Whether the reply was requested as a stream (`--no-stream`, `stream=False`: not)."""
        return self._stream

    @property
    def ttft(self) -> float | None:
        """Seconds from sending the request to the first token; None for a non-streamed reply, whose text
        arrives all at once at the end (its `elapsed` is the time that means something)."""
        if not self._stream or self.started_at is None or self.first_token_at is None:
            return None
        return self.first_token_at - self.started_at

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.perf_counter()) - self.started_at

    @property
    def cost(self) -> Decimal | None:
        """What the reply's tokens cost in USD at the configured prices (`configure(prices=...)`, by the model
        asked for, else as the server named it); None without a price for it or without usage."""
        usage = self.usage
        if usage is None:
            return None
        return self.settings.prices.cost(usage.prompt_tokens, usage.completion_tokens, self.settings.model, self.model)

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens per second after the first token (usage count when the server sent one).

        None where it would mean nothing: a non-streamed reply (no time between its tokens), and
        whatever `rate` refuses (too few tokens, too short a time)."""
        if not self._stream or self.first_token_at is None:
            return None
        seconds = (self.ended_at or time.perf_counter()) - self.first_token_at
        tokens = self.usage.completion_tokens if self.usage and self.usage.completion_tokens else self.chunks
        return rate(tokens, seconds)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<Reply {self.model!r} {self.status}, {len(self._content)} chars>"

    def _repr_html_(self) -> str:
        return showing.html(self)  # the static copy, built by the views (see showing.py)

    def _ipython_display_(self) -> None:
        if self.view is not None:
            self.view.show()  # another live view of the same stream
        else:
            showing.show(self)

    # -- control -----------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Attach a view. It first hears of everything so far, then of each change, on the stream's thread."""
        self._runner.call_soon(self._attach, listener)

    def _attach(self, listener: Listener) -> None:
        # Under the end lock, as `_on_delta`: `_end` either includes this listener, and then tells it of
        # the end only after this catch-up, or has already ended and the end is told below.
        with self._end_lock:
            self._listeners.append(listener)
            ended = self.ended
            if self.status != "waiting" or self.waiting_for:
                listener.on_status(self)
            if len(self._content) or len(self._reasoning):
                listener.on_delta(self, self.text, self.reasoning)
            on_part = getattr(listener, "on_part", None)
            for call in self.tool_calls if on_part is not None else ():
                on_part(self, call, call.arguments_text)
        if ended:  # a view that came after the end: the reply counts as running again until its copy is out
            with _running_lock:
                _running.add(self)
                self._finishing += 1
            self._finish([listener], settle=False)

    def start(self) -> Reply:
        """Send the request on the background loop. Returns at once."""
        with self._end_lock:
            if self._started or self.ended:
                return self
            self._started = True
            with _running_lock:
                _running.add(self)
        task = self._runner.submit(self._run())
        # A stop() since the lines above found no task to cancel and left its request in `_stop_asked`;
        # one from now on finds the task.
        with self._end_lock:
            self._task = task
            stop_asked = self._stop_asked
        if stop_asked:
            task.cancel()
        task.add_done_callback(self._on_task_done)  # at once if done: it ends the reply
        return self

    def stop(self) -> None:
        """Cancel the request: the HTTP connection closes at once; `text` keeps what arrived."""
        self._stopping.set()  # first: from now on no tool of this reply starts (`toolrun.Job.claim`)
        if not self.ended:
            self.stopped_during = self._stage
        with self._end_lock:
            task, never_started = self._task, not self._started
            self._started = True  # a start() from now on sends nothing
            self._stop_asked = True  # for a start() under way that has no task yet
        if task is not None:
            task.cancel()  # its done callback ends the reply (nothing, if it has ended already)
        elif never_started:  # the view is shown before the request starts: a Stop there means never send
            self._end("stopped")

    def wait(self, timeout: float | None = None) -> str:
        """Block until the reply ends and return `text`. Interrupting the kernel stops the reply.

        On the main thread it runs due tool calls meanwhile (see `toolrun`): they could not run otherwise."""
        try:
            toolrun.wait(self._ended, timeout)
        except TimeoutError:
            raise TimeoutError(f"The reply is still streaming after {timeout:g} s.") from None
        except KeyboardInterrupt:
            self.stop()
            raise
        return self.text

    def __await__(self) -> Generator[Any, None, str]:
        yield from toolrun.wait_async(self._waiter()).__await__()
        return self.text

    def _waiter(self) -> asyncio.Future[None]:
        """A future of this reply's end, on the running loop, for one waiter alone.

        Cancelling it (Stop on a reply queued behind this one, `asyncio.wait_for` timing out) cancels
        only that waiter, never this reply: `wrap_future` alone would pass the cancel back to `_ended`.
        """
        return asyncio.shield(asyncio.wrap_future(self._ended))

    # -- the stream, on the runner's loop ------------------------------------------------------
    async def _run(self) -> None:
        while self._after is not None:  # earlier turns of a conversation must be complete first
            before = self._after()
            if before is None or before.ended:
                break
            self._wait_for("reply")
            await before._waiter()
        self._wait_for("server")
        if callable(self._messages):
            self._messages = self._messages()
        self.started_at = time.perf_counter()
        client = self._runner.client_for(self.settings)
        messages = list(self._messages)
        params = {**self._params, "tools": [t.schema for t in self._tools.values()]} if self._tools else self._params
        error = None
        try:
            while True:
                self.rounds += 1
                self._stage = "stream"
                error, calls = await self._round(messages, client, params)
                if error is not None or self.finish_reason != "tool_calls" or not calls:
                    break
                if self.rounds >= self._max_rounds:
                    for call in calls:
                        self._set_call(call, "skipped")
                    error = ReplyError(
                        f"The model still asked for tools after {self.rounds} requests, the most this reply may "
                        f"make (max_rounds={self._max_rounds}): stopped there. Pass a higher max_rounds to let "
                        "it go on.", kind="max_rounds")
                    break
                for call in calls:
                    await self._run_call(call)
                text = "".join(p.text for p in self._parts
                               if isinstance(p, TextPart) and p.kind == "text" and p.round == self.rounds)
                answered = [{"role": "assistant", "content": text or None, "tool_calls": [c.message() for c in calls]},
                            *(call.answer() for call in calls)]
                messages += answered
                self._exchange += answered
        finally:
            self._stage = "end"
        self._end("error" if error else "done", error)

    async def _round(self, messages: list[dict[str, Any]], client: Any,
                     params: dict[str, Any]) -> tuple[ReplyError | None, list[ToolCall]]:
        """One request: its pieces go into parts; return its error, if any, and the tool calls it asked for."""
        # A replay answers a request the log has a complete reply to; with tools, each round is asked anew.
        replayed = await record.replay(self) if self.rounds == 1 and not self._tools else None
        events = replayed or engine.stream_events(messages, self.settings, client=client, stream=self._stream,
                                                  **params)
        error, calls = None, []
        with self._end_lock:
            if not self.ended:
                self.finish_reason = None  # this round's, when it comes
        async with aclosing(events):
            async for event in events:
                if isinstance(event, (engine.ContentDelta, engine.ReasoningDelta)):
                    self._on_delta(event)
                elif isinstance(event, engine.ToolCallStarted):
                    call = ToolCall(self.rounds, event.index, event.id, event.name)
                    calls.append(call)
                    self._on_call(call, "")
                elif isinstance(event, engine.ToolCallDelta):
                    call = next((c for c in calls if c.index == event.index), None)
                    if call is not None:
                        self._on_call(call, event.arguments)
                elif isinstance(event, engine.Started):
                    with self._end_lock:  # stop() on another thread may have ended the reply already
                        opened = not self.ended and self.status != "streaming"
                        if not self.ended:
                            self.model = event.model
                            self.status = "streaming"
                    if opened:
                        for listener in self._listeners:
                            listener.on_status(self)
                elif isinstance(event, (engine.Finished, engine.Usage)):
                    with self._end_lock:  # a reply stopped meanwhile keeps what its copy and wait() saw
                        if not self.ended:
                            if isinstance(event, engine.Finished):
                                self.finish_reason = event.reason
                            else:  # over every round
                                self.usage = event if self.usage is None else engine.Usage(
                                    self.usage.prompt_tokens + event.prompt_tokens,
                                    self.usage.completion_tokens + event.completion_tokens,
                                    self.usage.total_tokens + event.total_tokens)
                elif isinstance(event, engine.Failed):
                    error = event.error
        for call in calls:
            self._set_call(call, "pending" if error is None else "skipped")
        return error, calls

    async def _run_call(self, call: ToolCall) -> None:
        """Run one call where its tool belongs and keep its result (or error: data for the model)."""
        tool = self._tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self._tools)) or "none"
            self._set_call(call, "error", error=f"There is no tool named {call.name!r}; the tools are: {known}.")
            return
        try:
            kwargs = tool.arguments(call.arguments_text)
        except ValueError as exc:
            self._set_call(call, "error", error=str(exc))
            return
        self._stage = f"tool {call.name}"
        if self._approve and not await self._approved(call):
            self._set_call(call, "skipped", result="The user declined to run this tool call.")
            return
        job = toolrun.Job(tool, kwargs, self._stopping, started=lambda: self._call_started(call))
        toolrun.submit(job)
        # Stop cancels this wait, and with it a job that has not started (it never runs); a running one is
        # told through `_stopping`, not killed, and what it returns is not sent (`_end` marks the call).
        result, failure, output = await asyncio.wrap_future(job.future)
        call.output = output
        self._set_call(call, "error" if failure else "done", result=result, error=failure)

    async def _approved(self, call: ToolCall) -> bool:
        decision = self._decisions.setdefault(call.id, asyncio.get_running_loop().create_future())
        self._set_call(call, "approval")
        try:
            return await decision
        finally:
            self._decisions.pop(call.id, None)

    def decide(self, call_id: str, run: bool) -> None:
        """Answer a call waiting for approval (any thread): run it, or tell the model the user declined."""
        self._runner.call_soon(self._decide, call_id, bool(run))

    def _decide(self, call_id: str, run: bool) -> None:
        call = next((c for c in self.tool_calls if c.id == call_id and c.state == "approval"), None)
        decision = self._decisions.get(call_id)
        if call is not None and decision is not None and not decision.done():
            call.state = "pending"  # so a second click (another view) finds nothing to decide
            decision.set_result(run)

    def _call_started(self, call: ToolCall) -> None:
        """On the thread that runs the tool, just before it runs: the views hear of it from the loop."""
        self._stage = f"running tool {call.name}"
        call.started_at = time.perf_counter()
        self._runner.call_soon(self._set_call, call, "running")

    def _set_call(self, call: ToolCall, state: str, *, result: str | None = None, error: str | None = None) -> None:
        """Move a call to `state` (a tool's error is also what the model is sent) and tell the views."""
        with self._end_lock:
            if call.ended:
                return
            if state in ("done", "error", "stopped") and call.started_at is not None:
                call.ended_at = time.perf_counter()
            call.error = error
            call.result = f"Error: {error}" if error is not None else result
            call.state = state
            self._tell_part(call)

    def _on_call(self, call: ToolCall, piece: str) -> None:
        with self._end_lock:
            if self.ended:
                return
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            if piece:
                self.chunks += 1
                call.add_arguments(piece)
            else:  # a new call: later text opens a part of its own after it
                self._close_text()
                self._parts.append(call)
            self._tell_part(call, piece)

    def _tell_part(self, part: Part, arguments: str = "") -> None:
        for listener in self._listeners:
            on_part = getattr(listener, "on_part", None)
            if on_part is not None:
                on_part(self, part, arguments)

    def _close_text(self) -> None:
        for part in self._open.values():
            part.end = len(part.buffer)
        self._open.clear()

    def _wait_for(self, what: str) -> None:
        """Say what the reply waits for (its views show it), unless it has ended meanwhile."""
        with self._end_lock:  # stop() on another thread may have ended the reply already
            changed = not self.ended and self.waiting_for != what
            if changed:
                self.waiting_for = what
        if changed:
            for listener in self._listeners:
                listener.on_status(self)

    def _on_delta(self, event: engine.ContentDelta | engine.ReasoningDelta) -> None:
        # Under the end lock: stop() on another thread ends the reply (and settles its copy and wait())
        # either before this piece, which is then dropped, or after it and after its listeners heard of
        # it, so no piece is added to an ended reply, nor told to a view after its end.
        with self._end_lock:
            if self.ended:  # stopped from another thread; the task is being cancelled
                return
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            self.chunks += 1
            kind = "text" if isinstance(event, engine.ContentDelta) else "reasoning"
            buffer = self._content if kind == "text" else self._reasoning
            piece = event.text
            if kind not in self._open:  # a new part: after a tool call, apart from the text before it
                if len(buffer):
                    piece = "\n\n" + piece
                self._open[kind] = TextPart(kind, self.rounds, buffer, len(buffer) + len(piece) - len(event.text))
                self._parts.append(self._open[kind])
            buffer.append(piece)
            content, reasoning = (piece, "") if kind == "text" else ("", piece)
            for listener in self._listeners:
                listener.on_delta(self, content, reasoning)

    def _on_task_done(self, task: Future[None]) -> None:
        if task.cancelled():
            self._end("stopped")
        elif (failure := task.exception()) is not None:  # a bug of ours or a view's: its traceback is the clue
            log.error("ling-notebook failed while streaming the reply from %s", self.model, exc_info=failure)
            self._end("error", ReplyError(f"ling-notebook failed unexpectedly: {failure!r}", kind="internal"))
        # The finished future keeps the loop's task (and its callbacks) alive; an ended reply needs neither,
        # and a batch holds a thousand of them.
        self._task = None

    def _end(self, status: str, error: ReplyError | None = None) -> None:
        with self._end_lock:
            if self.ended:
                return
            self.ended_at = time.perf_counter()
            self.error = error.message if error else None
            self.status = status
            for call in self.tool_calls:  # the calls the end came before: never run, or told to stop
                if not call.ended:
                    call.state = "stopped" if call.started_at is not None else "skipped"
                    call.ended_at = self.ended_at if call.started_at is not None else None
            listeners = list(self._listeners)
        record.ended(self)
        with _running_lock:
            self._finishing += 1
        # Views build their final copy in on_end, which can take seconds for a long reply: not on the
        # loop (other streams would stall), nor on the thread that called stop() (the kernel's), nor
        # behind other replies' copies (see runner.py). wait() returns only after this reply's own views
        # have published theirs, so a notebook executed headless saves the final copy. With no view (a
        # batch item) it settles here, behind nobody's copy.
        if listeners:
            self._finish(listeners, settle=True)
        else:
            self._notify_end([], settle=True)

    def _finish(self, listeners: list[Listener], settle: bool) -> None:
        try:
            self._runner.finish(self._notify_end, listeners, settle)
        except BaseException:  # no thread to be had (the interpreter is exiting): wait() must not hang
            self._notify_end([], settle)
            raise

    def _notify_end(self, listeners: list[Listener], settle: bool = True) -> None:
        try:
            # The pieces still pending joined into one block of the smaller form (TextBuffer): a reply that no
            # one reads whole (a batch item) would keep hundreds of small strings (measured: 28 kB a reply).
            self._content.kept()
            self._reasoning.kept()
            for listener in listeners:
                try:
                    listener.on_end(self)
                except Exception:  # one failing view must neither hide the others' end nor leave wait() hanging
                    log.exception("A view of the reply from %s failed to show its end", self.model)
        finally:  # whatever escaped (the runner logs it), wait() must not hang
            self._settle(settle)

    def _settle(self, ends: bool) -> None:
        """One end thread done (its views' copies published; the row was queued before). The reply stops
        counting as running when the last is, so whoever waits for the running replies (and then flushes
        the log) misses neither; `ends`: this was the end itself, which wait() waits for."""
        with _running_lock:
            self._finishing -= 1
            if not self._finishing:
                _running.discard(self)
        if ends:
            self._ended.set_result(None)
