"""The Reply object on the real background loop against the built-in server: waiting, stopping, queueing."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from concurrent.futures import Future

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ling_notebook import config, engine
from ling_notebook.batch import Batch
from ling_notebook.reply import Reply, TextBuffer, stop_all
from ling_notebook.runner import get_runner

KEY = "sk-reply-test-5c3d-secret"
STALL = "test/stall?after=2&rate=0"  # two words, then silence until the client leaves


def settings(server, model: str) -> config.Settings:
    return config.resolve(base_url=server.url, model=model, api_key=KEY, max_retries=0)


def ask(server, model: str, prompt: str = "go", **kwargs) -> Reply:
    return Reply([{"role": "user", "content": prompt}], settings(server, model), **kwargs)


def until(condition, what: str) -> None:
    """Wait for something the stream thread does (a bound, not a timed assertion)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.005)


def settle() -> None:
    """Let the background loop run what other threads handed it so far."""
    for _ in range(3):
        get_runner().submit(asyncio.sleep(0)).result(5)


def test_a_timed_out_wait_for_leaves_the_reply_streaming(model_server):
    reply = ask(model_server, STALL).start()
    until(lambda: reply.text == " w1 w2", "two words arrived")

    async def impatient() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reply, 0.01)

    asyncio.run(impatient())
    assert reply.status == "streaming"
    reply.stop()
    assert reply.wait(5) == " w1 w2" and reply.status == "stopped"


def test_a_timed_out_wait_leaves_the_reply_streaming(model_server):
    reply = ask(model_server, STALL).start()
    until(lambda: reply.text == " w1 w2", "two words arrived")
    with pytest.raises(TimeoutError, match="still streaming"):
        reply.wait(0.01)
    assert reply.status == "streaming"
    reply.stop()
    assert reply.wait(5) == " w1 w2" and reply.status == "stopped"


def test_stopping_a_queued_reply_leaves_the_one_it_waits_for_alone(model_server):
    first = ask(model_server, STALL).start()
    second = ask(model_server, "test/echo", "second", after=lambda: first).start()
    until(lambda: first.text == " w1 w2", "the first reply streams")
    second.stop()
    assert second.wait(5) == "" and second.status == "stopped"
    settle()  # the cancel has reached the stream's loop
    assert first.status == "streaming"
    third = ask(model_server, "test/echo", "third", after=lambda: first).start()  # the second cell, run again
    first.stop()
    assert first.wait(5) == " w1 w2" and first.status == "stopped"
    assert third.wait(5) == "third" and third.status == "done"


def test_awaiting_a_reply_from_another_loop_returns_its_text(model_server):
    reply = ask(model_server, "test/trickle?tokens=5&rate=0").start()

    async def main() -> str:
        return await reply

    assert asyncio.run(main()) == " w1 w2 w3 w4 w5"


class _Parked:
    """A runner that never runs anything: the reply stays started until its future is cancelled."""

    def submit(self, coro):
        coro.close()
        return Future()

    def call_soon(self, callback, *args):
        callback(*args)


def test_stop_all_survives_replies_ending_on_another_thread(model_server, monkeypatch):
    monkeypatch.setattr(Reply, "stop", lambda self: None)  # so that every call walks all 2000 replies
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a busy kernel does
    parked = _Parked()
    running = [ask(model_server, "test/echo", runner=parked).start() for _ in range(2000)]
    churning = True

    def start_and_end_replies() -> None:
        while churning:
            reply = ask(model_server, "test/echo", runner=parked).start()
            reply._task.cancel()  # what stop() does, from this thread: the reply ends here

    thread = threading.Thread(target=start_and_end_replies)
    thread.start()
    try:
        for _ in range(100):
            assert stop_all() >= 2000
    finally:
        churning = False
        thread.join()
        sys.setswitchinterval(interval)
    for reply in running:
        reply._task.cancel()
    assert {reply.status for reply in running} == {"stopped"}


class SlowToEnd:
    """A view whose final copy takes as long as the test wants."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.ending = threading.Event()

    def on_status(self, reply: Reply) -> None:
        pass

    def on_delta(self, reply: Reply, content: str, reasoning: str) -> None:
        pass

    def on_end(self, reply: Reply) -> None:
        self.ending.set()
        self.release.wait(10)


def test_a_slow_final_copy_holds_up_neither_other_streams_nor_wait_order(model_server):
    view = SlowToEnd()
    first = ask(model_server, "test/echo", "first")
    first.add_listener(view)
    first.start()
    assert view.ending.wait(5), "the first reply never ended"
    try:
        second = ask(model_server, "test/echo", "second").start()
        assert second.wait(5) == "second"  # streamed while the first's copy was still being built
        with pytest.raises(TimeoutError):
            first.wait(0.05)  # wait() returns only once the views have their final copy
    finally:
        view.release.set()
    assert first.wait(5) == "first"


class Recorder(SlowToEnd):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.release.set()

    def on_end(self, reply: Reply) -> None:
        super().on_end(reply)
        if self.fail:
            raise RuntimeError("this view is broken")


def test_a_view_failing_at_the_end_is_logged_and_hides_neither_the_others_nor_wait(model_server, caplog):
    broken, fine = Recorder(fail=True), Recorder()
    reply = ask(model_server, "test/echo", "hello")
    reply.add_listener(broken)
    reply.add_listener(fine)
    assert reply.start().wait(5) == "hello"
    assert fine.ending.is_set()
    assert "failed to show its end" in caplog.text and "this view is broken" in caplog.text


def test_half_a_surrogate_pair_is_sent_and_shown_as_a_replacement_character(model_server):
    from ling_notebook.render import reply_bundle

    # JSON can carry "\ud83d" alone; no UTF-8 encoder (httpx, the kernel, nh3) accepts the str it decodes to.
    reply = ask(model_server, "test/echo", "a\ud83db").start()
    assert reply.wait(5) == "a\ufffdb"
    assert "a\ufffdb" in reply_bundle(reply)["text/html"]


def test_a_reply_stopped_before_its_stream_opened_stays_stopped(model_server, monkeypatch):
    # Stop from another thread ends the reply at once; the stream thread may still be about to
    # report that the stream opened. That late news must not turn "stopped" back into "streaming".
    gate, blocked = threading.Event(), threading.Event()

    async def opens_late(*_args, **_kwargs):
        blocked.set()
        gate.wait(5)  # holds the loop thread, so the cancel cannot land before Started is handled
        yield engine.Started("late-model")

    monkeypatch.setattr(engine, "stream_events", opens_late)
    reply = ask(model_server, "test/echo").start()
    assert blocked.wait(5)
    reply.stop()
    assert reply.status == "stopped"
    gate.set()
    settle()
    assert reply.status == "stopped" and reply.wait(5) == ""


def test_start_after_the_end_sends_nothing_again(model_server):
    model_server.clear()
    reply = ask(model_server, "test/echo", "once").start()
    assert reply.wait(10) == "once"
    reply.start()
    settle()
    assert reply.status == "done" and len(model_server.requests) == 1


def test_a_reply_stopped_before_it_starts_is_never_sent(model_server):
    model_server.clear()
    reply = ask(model_server, "test/echo", "never")
    reply.stop()
    assert reply.start().wait(5) == "" and reply.status == "stopped"
    settle()
    assert not [r for r in model_server.requests if r.path.endswith("/chat/completions")]


class FailsWhenTheStreamOpens(Recorder):
    def on_status(self, reply: Reply) -> None:
        if reply.status == "streaming":  # not while it waits for the server: the request is open by now
            raise RuntimeError("this view is broken")


def test_a_view_failing_when_the_stream_opens_leaves_no_connection_open(model_server, caplog):
    model_server.clear()
    reply = ask(model_server, STALL)
    reply.add_listener(FailsWhenTheStreamOpens())
    assert reply.start().wait(5) == "" and reply.status == "error"
    assert "this view is broken" in reply.error and "Traceback" in caplog.text
    record = model_server.wait_for(lambda r: r.disconnected_at is not None)
    assert record.model == STALL


class _WatchedLock:
    """A reply's end lock that tells when a thread had to wait for it."""

    def __init__(self, lock) -> None:
        self._lock = lock
        self.waited = threading.Event()

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.waited.set()
            self._lock.acquire()

    def __exit__(self, *_exc) -> None:
        self._lock.release()


def test_a_piece_arriving_as_stop_ends_the_reply_is_in_both_wait_and_text_or_in_neither(model_server, monkeypatch):
    async def two_pieces(*_args, **_kwargs):
        for event in (engine.Started("m"), engine.ContentDelta(" one"), engine.ContentDelta(" two"),
                      engine.Finished("stop")):
            yield event

    appending, go = threading.Event(), threading.Event()

    class Gated(TextBuffer):
        """The stream thread, between checking that the reply is still open and adding the piece."""

        def append(self, piece: str) -> None:
            if piece == " two":
                appending.set()
                go.wait(5)
            super().append(piece)

    monkeypatch.setattr(engine, "stream_events", two_pieces)
    reply = ask(model_server, "test/echo")
    reply._content = Gated()
    reply._end_lock = lock = _WatchedLock(reply._end_lock)
    reply.start()
    assert appending.wait(5)
    threading.Thread(target=reply.stop).start()  # the user's Stop, on the kernel's thread
    until(lambda: reply._ended.done() or lock.waited.is_set(), "the Stop ended the reply or waits for the piece")
    go.set()
    assert reply.wait(5) == " one two"
    settle()
    assert reply.text == " one two"


def test_a_stop_while_start_hands_the_request_over_is_not_lost(model_server, monkeypatch):
    model_server.clear()
    runner = get_runner()
    reply = ask(model_server, "test/echo?rate=20", "a few words, slowly", runner=runner)
    submit = runner.submit

    def stop_first(coro):  # started, and no task to cancel yet
        reply.stop()
        return submit(coro)

    monkeypatch.setattr(runner, "submit", stop_first)
    reply.start()
    monkeypatch.undo()
    assert reply.wait(5) == "" and reply.status == "stopped"
    settle()
    assert all(r.disconnected_at is not None for r in model_server.requests if r.path.endswith("/chat/completions"))


def test_slow_final_copies_of_other_replies_hold_up_no_end(model_server):
    views = [SlowToEnd() for _ in range(5)]
    try:
        for view in views:
            reply = ask(model_server, "test/echo", "slow")
            reply.add_listener(view)
            reply.start()
        for view in views[:4]:
            assert view.ending.wait(5), "a reply never ended"
        assert ask(model_server, "test/echo", "no view").start().wait(5) == "no view"
        items = Batch([[{"role": "user", "content": "item"}]] * 3, settings(model_server, "test/echo"))
        assert items.start().wait(5) == ["item"] * 3
        quick = Recorder()
        reply = ask(model_server, "test/echo", "a quick view")
        reply.add_listener(quick)
        assert reply.start().wait(5) == "a quick view" and quick.ending.is_set()
    finally:
        for view in views:
            view.release.set()


class Fatal(BaseException):
    """Not an Exception: what no `except Exception` around a view catches."""


class DiesAtTheEnd(Recorder):
    def on_end(self, reply: Reply) -> None:
        raise Fatal("this view took its thread down")


def test_anything_escaping_the_end_of_a_reply_is_logged_and_wait_still_returns(model_server, caplog):
    reply = ask(model_server, "test/echo", "hello")
    reply.add_listener(DiesAtTheEnd())
    assert reply.start().wait(5) == "hello"
    until(lambda: "this view took its thread down" in caplog.text, "the error was logged")
    assert "failed while ending a reply" in caplog.text


class StopsAtTheFirstPiece(Recorder):
    def on_delta(self, reply: Reply, content: str, reasoning: str) -> None:
        reply.stop()


def test_a_view_may_stop_the_reply_as_a_piece_arrives(model_server):
    reply = ask(model_server, STALL)
    reply.add_listener(StopsAtTheFirstPiece())
    assert reply.start().wait(5) == " w1" and reply.status == "stopped"
    assert ask(model_server, "test/echo", "the stream thread goes on").start().wait(5) == "the stream thread goes on"


def test_a_waiting_reply_tells_its_views_what_it_waits_for(model_server):
    seen: list[tuple[str, str | None]] = []

    class View:
        def on_status(self, reply: Reply) -> None:
            seen.append((reply.status, reply.waiting_for))

        def on_delta(self, reply: Reply, content: str, reasoning: str) -> None:
            pass

        def on_end(self, reply: Reply) -> None:
            pass

    first = ask(model_server, STALL).start()
    second = ask(model_server, "test/echo", "second", after=lambda: first)
    second.add_listener(View())
    second.start()
    until(lambda: ("waiting", "reply") in seen, "the second says it waits for the first")
    first.stop()
    assert second.wait(5) == "second"
    assert seen[:3] == [("waiting", "reply"), ("waiting", "server"), ("streaming", "server")]


def test_a_finish_reason_or_usage_arriving_as_stop_ends_the_reply_does_not_change_it(model_server, monkeypatch):
    blocked, go = threading.Event(), threading.Event()

    async def ends_after_the_stop(*_args, **_kwargs):
        yield engine.Started("m")
        yield engine.ContentDelta(" one")
        blocked.set()
        go.wait(5)  # the stream thread holds these events while the user's Stop ends the reply
        yield engine.Finished("length")
        yield engine.Usage(1, 2, 3)

    monkeypatch.setattr(engine, "stream_events", ends_after_the_stop)
    reply = ask(model_server, "test/echo").start()
    assert blocked.wait(5)
    reply.stop()  # ends the reply at once, on this thread; the task's cancel lands at the next await
    seen = (reply.status, reply.finish_reason, reply.usage)
    go.set()
    settle()
    assert seen == ("stopped", None, None) and (reply.status, reply.finish_reason, reply.usage) == seen


# -- the text as kept ---------------------------------------------------------------------------------

pieces = st.lists(st.sampled_from(["a", "word ", "\n\n", "“", "”", "😀", "中文", "é", "\ud83d", "\udc00"])
                  | st.text(max_size=5), max_size=3000)


@hypothesis.settings(max_examples=200, deadline=None)
@given(pieces)
def test_a_text_buffer_gives_back_what_was_appended_whatever_form_it_keeps(given_pieces):
    buffer = TextBuffer()
    for piece in given_pieces:
        buffer.append(piece)
    text = "".join(given_pieces)
    assert len(buffer) == len(text)
    assert str(buffer) == text  # lone surrogates and halves of a pair in separate pieces included
    kept = buffer.kept()
    assert (kept if isinstance(kept, str) else kept.decode("utf-8", "surrogatepass")) == text
    assert str(buffer) == text  # read again, once the blocks are one


@pytest.mark.parametrize(("piece", "form"), [
    ("plain words ", str),  # ASCII: a str is one byte a character
    ("“curly” words ", bytes),  # two bytes a character as a str, about one in UTF-8
    ("中文回答，", str),  # two bytes a character as a str, three in UTF-8
    ("emoji 😀 ", bytes),  # four bytes a character as a str
])
def test_a_long_text_is_kept_in_the_smaller_of_a_str_and_utf8(piece, form):
    buffer = TextBuffer()
    for _ in range(TextBuffer._BATCH * 4):
        buffer.append(piece)
    kept = buffer.kept()
    assert isinstance(kept, form) and buffer.kept() is kept  # joined once
    text = piece * TextBuffer._BATCH * 4
    assert sys.getsizeof(kept) <= min(sys.getsizeof(text), sys.getsizeof(text.encode())) + 64  # + a header


def test_a_text_read_whole_as_a_str_is_kept_as_that_str_for_every_later_reader():
    # A conversation's next turns and wait() read `text`: one str for all of them, never a copy each.
    buffer = TextBuffer()
    for _ in range(TextBuffer._BATCH * 2):
        buffer.append("“curly” words ")
    assert isinstance(buffer.kept(), bytes)
    text = str(buffer)
    assert str(buffer) is text and buffer.kept() is text
    buffer.append(" and more")
    assert str(buffer) == text + " and more"


def test_a_reply_that_no_one_reads_keeps_its_text_as_one_block_after_its_end(model_server):
    # A batch item: hundreds of small pieces, no view, no one reading `text`.
    reply = ask(model_server, "test/echo", "word " * 300)
    reply.start()
    reply._ended.result(10)
    assert reply._content._pending == [] and len(reply._content._blocks) == 1
    assert reply.text == "word " * 300
