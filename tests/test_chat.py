"""The chat box's model without a kernel: what it refuses, and that it follows the registry's conversation."""

from __future__ import annotations

import pytest

from ling_notebook import config
from ling_notebook.chat import Chat
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
