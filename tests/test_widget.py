"""The widget without a kernel: what it sends to its views when threads interleave, replayed step by step."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ling_notebook import config, engine
from ling_notebook.reply import Reply
from ling_notebook.widget import ReplyWidget


class _Here:
    """A runner that runs listener calls at once, on the calling thread (the replay is the schedule)."""

    def call_soon(self, callback, *args):
        callback(*args)


@pytest.fixture
def widget():
    settings = config.resolve(base_url="http://127.0.0.1:9/v1", api_key="sk-widget-test")
    reply = Reply([{"role": "user", "content": "go"}], settings, runner=_Here())
    view = ReplyWidget(reply)
    view.sent = []  # every message to the views, in order
    view.comm.send = lambda data=None, buffers=None, **_: view.sent.append(data)
    return view


def custom(widget: ReplyWidget, kind: str) -> list[dict]:
    return [m["content"] for m in widget.sent if m["method"] == "custom" and m["content"]["type"] == kind]


def seen_by_a_view_that_joined(widget: ReplyWidget, snapshot: dict) -> str:
    """What a view that said hello shows: the snapshot, then the deltas after it, by seq."""
    later = [d for d in custom(widget, "delta") if d["seq"] > snapshot["seq"]]
    return snapshot["text"] + "".join(d["content"] for d in sorted(later, key=lambda d: d["seq"]))


class _HelloBetween:
    """A view says hello on another thread after the reply holds a piece and before the widget has it."""

    def __init__(self, widget: ReplyWidget, on_piece: str) -> None:
        self.widget, self.on_piece = widget, on_piece

    def on_status(self, reply):
        pass

    def on_delta(self, reply, content, reasoning):
        if content == self.on_piece:
            self.widget._on_front_end_message(self.widget, {"type": "hello"}, [])

    def on_end(self, reply):
        pass


def test_a_view_joining_mid_stream_never_shows_a_piece_twice(widget):
    reply = widget.reply
    reply._listeners.append(_HelloBetween(widget, " two"))  # heard before the widget, as a thread switch allows
    reply.add_listener(widget)

    async def stream() -> None:  # on a loop, as the stream thread runs it
        for piece in (" one", " two", " three"):
            reply._on_delta(engine.ContentDelta(piece))
        await asyncio.sleep(2 * widget.reply.settings.frame_interval)  # let the batched flush go out

    asyncio.run(stream())
    (snapshot,) = custom(widget, "snapshot")
    assert reply.text == " one two three"
    assert seen_by_a_view_that_joined(widget, snapshot) == " one two three"


def test_a_stop_on_another_thread_during_a_status_update_still_reaches_the_views(widget):
    reply = widget.reply
    reply.status = "streaming"
    ended = threading.Event()

    def stop_now(change) -> None:  # the user's Stop lands while the stream thread syncs the status
        if change["new"] == "streaming" and not ended.is_set():
            reply.status = "stopped"
            threading.Thread(target=lambda: (widget.on_end(reply), ended.set())).start()
            ended.wait(0.5)  # the stop's thread goes ahead unless it has to wait its turn

    widget.observe(stop_now, "status")
    stream_thread = threading.Thread(target=widget.on_status, args=(reply,))
    stream_thread.start()
    stream_thread.join()
    assert ended.wait(5)
    states = [m["state"] for m in widget.sent if m["method"] == "update"]
    assert states and states[-1].get("status") == "stopped"


def test_a_closed_view_lets_its_reply_go():
    import gc
    import weakref

    settings = config.resolve(base_url="http://127.0.0.1:9/v1", api_key="sk-widget-test")
    view = ReplyWidget(Reply([{"role": "user", "content": "go"}], settings, runner=_Here()))
    reply = weakref.ref(view.reply)
    view.close()
    del view
    gc.collect()
    assert reply() is None  # a reply holds all its text: nothing class-wide may keep its view


def say(widget: ReplyWidget, kind: str, view: str | None = None, **more) -> None:
    widget._on_front_end_message(widget, {"type": kind, **({"view": view} if view else {}), **more}, [])


def end(widget: ReplyWidget) -> None:
    reply = widget.reply
    reply._on_delta(engine.ContentDelta("the final words"))
    reply.status = "done"
    widget.on_end(reply)


def test_the_widget_closes_only_when_every_view_that_said_hello_has_said_bye(widget):
    # Closing removes every view; a view update_display missed, in a front end without the extension, would go blank.
    widget.reply.add_listener(widget)
    say(widget, "hello", "a")
    say(widget, "hello", "b")
    end(widget)
    assert custom(widget, "ended") == [{"type": "ended"}]
    say(widget, "bye", "a")
    assert widget.comm is not None
    say(widget, "bye", "b")
    assert widget.comm is None


def test_a_widget_nobody_looks_at_closes_at_the_end(widget):
    widget.reply.add_listener(widget)
    say(widget, "hello", "a")
    say(widget, "bye", "a")
    assert widget.comm is not None  # the reply has not ended: a view may still come
    end(widget)
    assert widget.comm is None and custom(widget, "ended") == []


def test_a_view_update_display_missed_gets_the_static_copy(widget):
    widget.reply.add_listener(widget)
    say(widget, "hello", "a")
    end(widget)
    say(widget, "copy")
    (final,) = custom(widget, "final")
    assert "ling-static" in final["bundle"]["text/html"] and "the final words" in final["bundle"]["text/html"]
    assert final["model_id"] == widget.model_id  # the extension replaces only the output showing this widget
    assert final["bundle"]["text/plain"] == "the final words"


def test_a_view_that_opens_after_the_end_gets_the_text_and_is_told_of_the_end(widget):
    widget.reply.add_listener(widget)
    say(widget, "hello", "a")
    end(widget)
    say(widget, "hello", "late")  # a page reloaded after the end, from a file saved while the reply streamed
    snapshot, ended = [m["content"] for m in widget.sent if m["method"] == "custom"][-2:]
    assert snapshot["type"] == "snapshot" and snapshot["text"] == "the final words"
    assert ended == {"type": "ended"}
    say(widget, "bye", "a")
    assert widget.comm is not None
    say(widget, "bye", "late")
    assert widget.comm is None


def test_no_copy_before_the_end_a_partial_reply_is_never_kept_as_the_reply(widget):
    widget.reply.add_listener(widget)
    say(widget, "hello", "a")
    widget.reply._on_delta(engine.ContentDelta("half of"))
    say(widget, "copy")
    assert custom(widget, "final") == []


def test_a_view_gone_with_its_page_is_waited_for_a_reloaded_page_comes_back(widget):
    later = []
    widget._views.later = lambda delay, close: later.append(close)
    widget.reply.add_listener(widget)
    say(widget, "hello", "a")
    say(widget, "bye", "a", away=True)  # the page unloads mid-stream: a reload, maybe
    end(widget)
    assert widget.comm is not None and len(later) == 1
    say(widget, "hello", "reloaded")
    assert custom(widget, "ended") == [{"type": "ended"}]
    later.pop()()  # the wait is over, but a view is there: it stays
    assert widget.comm is not None
    say(widget, "bye", "reloaded")
    assert widget.comm is None


def test_a_page_that_never_comes_back_lets_the_widget_close_after_the_wait(widget):
    later = []
    widget._views.later = lambda delay, close: later.append(close)
    widget.reply.add_listener(widget)
    say(widget, "hello", "a")
    say(widget, "bye", "a", away=True)
    end(widget)
    later.pop()()
    assert widget.comm is None


def test_a_bye_without_a_view_id_of_text_is_ignored(widget):
    say(widget, "hello", "a")
    widget._on_front_end_message(widget, {"type": "bye", "view": ["a"]}, [])
    end(widget)
    assert widget.comm is not None


def test_the_views_still_hear_of_the_end_when_the_copy_fails(widget, monkeypatch):
    import ling_notebook.widget as module

    def broken(*_args, **_kwargs):
        raise RuntimeError("the front end is gone")

    monkeypatch.setattr(module.packed, "update_display", broken)
    widget.reply.add_listener(widget)
    say(widget, "hello", "a")
    with pytest.raises(RuntimeError):
        end(widget)
    assert custom(widget, "ended") == [{"type": "ended"}]
    say(widget, "bye", "a")
    assert widget.comm is None


def test_a_page_gone_away_is_still_waited_for_when_another_view_closes_after_it(widget):
    later = []
    widget._views.later = lambda delay, close: later.append(close)
    widget.reply.add_listener(widget)
    say(widget, "hello", "a")
    say(widget, "hello", "b")
    say(widget, "bye", "a", away=True)  # a's page reloads
    end(widget)
    say(widget, "bye", "b")  # b was replaced by the copy
    assert widget.comm is not None and len(later) == 1  # a's page may still come back
    say(widget, "hello", "a-reloaded")
    say(widget, "bye", "a-reloaded")
    assert widget.comm is None


def test_the_end_of_a_long_reply_gives_the_memory_of_its_copy_back(widget, monkeypatch):
    # Measured with a 1,000,000-token reply: glibc held the joined text's pieces beside the copy being made,
    # and 2.1x the text freed but resident after the end.
    import ling_notebook.widget as module

    steps = []
    monkeypatch.setattr(module, "give_back_freed_memory", lambda: steps.append("trim"))
    monkeypatch.setattr(module.packed, "update_display", lambda *_args, **_kwargs: steps.append("copy"))
    monkeypatch.setattr(module, "TRIM_AFTER", len("the final words"))
    widget.reply.add_listener(widget)
    end(widget)
    assert steps == ["trim", "copy", "trim"]


def test_a_short_reply_ends_without_trimming(widget, monkeypatch):
    import ling_notebook.widget as module

    steps = []
    monkeypatch.setattr(module, "give_back_freed_memory", lambda: steps.append("trim"))
    monkeypatch.setattr(module.packed, "update_display", lambda *_args, **_kwargs: steps.append("copy"))
    widget.reply.add_listener(widget)
    end(widget)
    assert steps == ["copy"]


def test_giving_freed_memory_back_runs_where_the_allocator_has_no_such_call(monkeypatch):
    import ling_notebook.widget as module

    module.give_back_freed_memory()  # glibc here; must not raise
    monkeypatch.setattr(module, "_malloc_trim", lambda: None)
    module.give_back_freed_memory()
