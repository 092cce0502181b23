"""The chat box without a kernel: what it refuses, that it follows the registry's conversation, and what it
does when two threads meet in it, replayed step by step (one thread stops at a chosen step; the other runs
until it has finished or has to wait for a lock the first one holds; then the first goes on)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from ling_notebook import chat_widget, config
from ling_notebook.chat import Chat
from ling_notebook.chat_widget import ChatWidget
from ling_notebook.conversation import Conversation
from ling_notebook.reply import Reply


@pytest.fixture
def registry():
    return {"notes": Conversation("notes")}


@pytest.fixture
def chat(registry):
    settings = config.resolve(base_url="http://127.0.0.1:9/v1", api_key="sk-chat-unit-test")
    return Chat("notes", lambda: registry["notes"], settings, max_rounds=1)


class Heard:
    def __init__(self) -> None:
        self.count = 0

    def on_turns(self, chat: Chat) -> None:
        self.count += 1


def test_an_empty_message_is_refused(chat):
    with pytest.raises(config.ConfigurationError, match="empty"):
        chat.send("  \n ")


def test_regenerate_needs_a_last_answer_that_has_ended(chat, registry):
    assert chat.regenerate() is None  # nothing to ask again
    running = Reply([{"role": "user", "content": "Q"}], chat.settings)
    registry["notes"].record("chat:1", "Q", running)
    assert chat.busy
    assert chat.regenerate() is None  # not while it runs: Stop first
    assert registry["notes"].turns[0].reply is running


def test_the_box_hears_of_turns_recorded_by_cells_and_follows_a_conversation_put_in_its_place(chat, registry):
    heard = Heard()
    chat.views.append(heard)
    chat.conversation()
    registry["notes"].record("cell:a", "From a cell", Reply([], chat.settings))
    assert heard.count == 1
    old, registry["notes"] = registry["notes"], Conversation("notes")  # %ling reset puts a new one in
    assert chat.conversation() is registry["notes"] and chat._tell not in old.watchers
    registry["notes"].record("cell:b", "Again", Reply([], chat.settings))
    assert heard.count == 2


def test_a_message_is_a_new_turn_also_after_turns_resumed_from_the_log(chat, registry):
    resumed = Reply([], chat.settings)
    resumed.status = "done"
    registry["notes"].record("chat:1", "Asked before a restart", resumed)  # as `record.read_turns` brings it back
    reply = chat.send("Asked now")
    reply.stop()
    assert [turn.prompt for turn in registry["notes"].turns] == ["Asked before a restart", "Asked now"]


def test_a_box_shows_turns_resumed_from_the_log_after_a_restart(chat, registry):
    # After a restart the conversation's earlier turns are the log's (`record.Recorded`), not replies.
    from ling_notebook.chat_widget import ChatWidget
    from ling_notebook.conversation import Turn
    from ling_notebook.record import Recorded

    registry["notes"].turns.append(Turn("cell:a", "Asked before", Recorded("Said before", "done", None, "m")))
    box = ChatWidget(chat)
    sent = []
    box.send = sent.append
    assert [(t["prompt"], t["status"], t["model_name"]) for t in box.turns] == [("Asked before", "done", "m")]
    box._on_front_end_message(box, {"type": "hello"}, [])
    assert sent[-1]["answers"] == [{"reply": 1, "seq": 1, "text": "Said before", "reasoning": ""}]
    box.close()


def test_a_failing_view_of_a_conversation_breaks_no_cell(registry):
    def broken():
        raise AttributeError("a view that cannot follow")

    registry["notes"].watchers.append(broken)
    heard = []
    registry["notes"].watchers.append(lambda: heard.append(1))
    registry["notes"].record("cell:a", "Q", Reply([], config.resolve(base_url="http://127.0.0.1:9/v1", api_key="k")))
    assert heard == [1] and registry["notes"].turns[0].prompt == "Q"


class _Here:
    """A runner that runs listener calls at once, on the calling thread: no thread but the test's two."""

    def call_soon(self, callback, *args):
        callback(*args)


class _Other:
    """The other thread: `meanwhile` runs it while this one stands still, until it finishes or waits for a lock
    that `lock()` made (such a lock says when a thread finds it taken)."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.thread: threading.Thread | None = None

    def lock(self) -> _TellingLock:
        return _TellingLock(self.arrived)

    def meanwhile(self, action: Callable[[], object]) -> None:
        def run() -> None:
            action()
            self.arrived.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert self.arrived.wait(5), "the other thread neither finished nor waited for a lock"

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(5)
        assert not self.thread.is_alive()


class _TellingLock:
    """A lock that sets `waiting` when a thread finds it taken, before it waits for it."""

    def __init__(self, waiting: threading.Event) -> None:
        self._lock = threading.Lock()
        self._waiting = waiting

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self._waiting.set()
            self._lock.acquire()

    def __exit__(self, *_exc: object) -> None:
        self._lock.release()


class _AppendThen(list):
    """A list of watchers that runs `step` the first time one is put in, before putting it in."""

    def __init__(self, step: Callable[[], None]) -> None:
        super().__init__()
        self._step: Callable[[], None] | None = step

    def append(self, item) -> None:
        step, self._step = self._step, None
        if step is not None:
            step()
        super().append(item)


def reply(chat: Chat, status: str) -> Reply:
    answer = Reply([{"role": "user", "content": "Q"}], chat.settings, runner=_Here())
    answer.status = status
    return answer


def test_two_threads_that_find_a_new_conversation_watch_it_once(chat, registry):
    chat.conversation()
    other = _Other()
    chat._watch_lock = other.lock()
    # `%ling reset notes` put a new conversation in; this thread stops just before it watches it, and another
    # (a reply's end, a front end's message) asks for the conversation meanwhile.
    new = registry["notes"] = Conversation("notes")
    new.watchers = _AppendThen(lambda: other.meanwhile(chat.conversation))
    assert chat.conversation() is new
    other.join()
    assert new.watchers.count(chat._tell) == 1
    chat.unwatch()  # the box is closed: it hears nothing more
    assert chat._tell not in new.watchers


def test_when_two_answers_end_at_once_the_copy_sent_last_has_both_ends(chat, registry, monkeypatch):
    first, second = reply(chat, "streaming"), reply(chat, "streaming")
    registry["notes"].record("chat:1", "First", first)
    registry["notes"].record("chat:2", "Second", second)
    box = ChatWidget(chat)
    other = _Other()
    box._copy_lock = other.lock()
    feeds = {feed.reply: feed for feed in box._feeds.values()}

    def second_ends() -> None:
        second.status = "done"
        feeds[second].on_end(second)  # on its own finishing thread

    copies, steps = [], [second_ends]

    def update_display(bundle, **_kwargs) -> None:
        if steps:  # the first answer's copy, built and about to be sent
            other.meanwhile(steps.pop())
        copies.append(bundle["text/plain"])

    monkeypatch.setattr(chat_widget, "update_display", update_display)
    first.status = "done"
    feeds[first].on_end(first)
    other.join()
    assert ["assistant · streaming…" in copy for copy in copies] == [True, False]  # built last, sent last
    box.close()


def test_turns_read_before_a_reset_never_replace_what_a_later_sync_shows(chat, registry):
    box = ChatWidget(chat)
    other = _Other()
    box._lock = other.lock()  # before any answer's feed is made: they share it
    after_reset = Conversation("notes")
    after_reset.record("chat:1", "Asked after the reset", reply(chat, "streaming"))
    conversation = chat.conversation

    def read_then_reset() -> Conversation:  # this thread has the turns; then `%ling reset`, a turn, a sync
        chat.conversation = conversation
        read = conversation()
        registry["notes"] = after_reset
        other.meanwhile(box._sync)
        return read

    chat.conversation = read_then_reset
    box._sync()
    other.join()
    assert [turn["prompt"] for turn in box.turns] == ["Asked after the reset"]
    box.close()
