"""The chat box in a real kernel, driven through its widget's messages as a view sends them: it shares its
conversation with `%%ling --chat NAME` cells both ways, stops, regenerates in place, and keeps its output's
static transcript up to date."""

from __future__ import annotations

import nbformat
import pytest
from kernel_client import magics_kernel
from nbconvert import HTMLExporter

KEY = "sk-chat-kernel-51c3-secret"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CONVERSATION = "get_ipython().magics_manager.registry['LingMagics'].conversations[{!r}]"


@pytest.fixture(scope="module")
def kernel(model_server):
    k = magics_kernel(model_server.url, KEY)
    yield k
    k.shutdown()


def open_box(kernel, code: str) -> tuple[str, dict]:
    """Run `code` (a chat() call); the box's comm id and the output it displayed."""
    outputs = kernel.run(code)
    (shown,) = [m["content"] for m in outputs if m["msg_type"] == "display_data"]
    opened = [m["content"] for m in outputs if m["msg_type"] == "comm_open"]
    comm = next(c["comm_id"] for c in opened if "turns" in c["data"]["state"])
    assert shown["data"][WIDGET_VIEW]["model_id"] == comm
    return comm, shown


def ended_turns(kernel, comm: str, count: int) -> list[dict]:
    """The box's turns once `count` of them have ended (as its views see them)."""
    def done() -> bool:
        turns = kernel.state(comm).get("turns", [])
        return len(turns) == count and all(t["status"] in ("done", "stopped", "error") for t in turns)
    kernel.read_until(done)
    return kernel.state(comm)["turns"]


def streamed(kernel, comm: str, reply: int) -> str:
    return "".join(d["content"] for d in kernel.custom(comm, "delta") if d["reply"] == reply)


def user_and_assistant(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages]


def test_the_box_and_ling_chat_cells_share_one_conversation_both_ways(kernel, model_server):
    comm, shown = open_box(kernel, "ling_notebook.chat('shared')")
    assert "is empty" in shown["data"]["text/plain"]
    assert shown["metadata"]["ling_notebook"]["chat"] == "shared"

    model_server.clear()
    kernel.send_to_widget(comm, {"type": "send", "text": "First from the box"})
    (first,) = ended_turns(kernel, comm, 1)
    assert (first["prompt"], first["status"]) == ("First from the box", "done")
    assert streamed(kernel, comm, first["reply"]) == "First from the box"  # test/echo, as deltas

    kernel.run("%%ling --chat shared\nThen from a cell")  # sees the box's turn, and the box sees it
    model_server.wait_for(lambda r: r.completed and r.messages[-1]["content"] == "Then from a cell", 10)
    turns = ended_turns(kernel, comm, 2)
    assert turns[1]["prompt"] == "Then from a cell"
    assert user_and_assistant(model_server.requests[-1].messages) == [
        ("user", "First from the box"), ("assistant", "First from the box"), ("user", "Then from a cell")]

    kernel.send_to_widget(comm, {"type": "send", "text": "Back in the box"})
    ended_turns(kernel, comm, 3)
    assert user_and_assistant(model_server.requests[-1].messages)[-3:] == [
        ("user", "Then from a cell"), ("assistant", "Then from a cell"), ("user", "Back in the box")]
    assert kernel.value(f"len({CONVERSATION.format('shared')}.turns)") == 3

    kernel.run("%ling reset shared")  # the box empties with the conversation, and goes on with the new one
    kernel.read_until(lambda: kernel.state(comm)["turns"] == [])
    kernel.send_to_widget(comm, {"type": "send", "text": "Afresh"})
    ended_turns(kernel, comm, 1)
    assert user_and_assistant(model_server.requests[-1].messages) == [("user", "Afresh")]


def test_each_ended_answer_puts_the_transcript_in_the_output(kernel):
    comm, shown = open_box(kernel, "ling_notebook.chat('copied', system='Be brief.')")
    kernel.messages.clear()
    kernel.send_to_widget(comm, {"type": "send", "text": "Keep <b>this</b> as text"})
    ended_turns(kernel, comm, 1)
    kernel.read_until(lambda: kernel.displays(shown["transient"]["display_id"]))
    (update,) = kernel.displays(shown["transient"]["display_id"])
    data = update["data"]
    assert data[WIDGET_VIEW]["model_id"] == comm  # the box stays live
    assert "Keep <b>this</b> as text" in data["text/plain"]
    assert "Keep &lt;b&gt;this&lt;/b&gt; as text" in data["text/html"] and "<b>this" not in data["text/html"]
    assert "Be brief." in data["text/html"]
    assert update["metadata"]["ling_notebook"]["markdown"] == ["Keep <b>this</b> as text"]

    # Exported (no widget state is saved), the output is the transcript.
    output = nbformat.v4.new_output("display_data", data=data, metadata=update["metadata"])
    cell = nbformat.v4.new_code_cell("ling_notebook.chat('copied')", outputs=[output])
    html, _ = HTMLExporter().from_notebook_node(nbformat.v4.new_notebook(cells=[cell]))
    assert "Keep &lt;b&gt;this&lt;/b&gt; as text" in html and "Conversation 'copied'" in html
    assert WIDGET_VIEW not in html


def test_stop_ends_the_answer_and_keeps_what_arrived(kernel):
    comm, _ = open_box(kernel, "ling_notebook.chat('stopping', model='test/stall?after=3')")
    kernel.send_to_widget(comm, {"type": "send", "text": "Say a lot"})
    kernel.read_until(lambda: any(d["content"] for d in kernel.custom(comm, "delta")))
    kernel.send_to_widget(comm, {"type": "send", "text": "Not while it streams"})  # ignored: one at a time
    kernel.send_to_widget(comm, {"type": "stop"})
    (turn,) = ended_turns(kernel, comm, 1)
    assert turn["status"] == "stopped"
    assert kernel.value(f"len({CONVERSATION.format('stopping')}.turns)") == 1


def test_regenerate_replaces_the_last_answer_in_the_history(kernel, model_server):
    comm, _ = open_box(kernel, "ling_notebook.chat('again')")
    for text in ("One", "Two"):
        kernel.send_to_widget(comm, {"type": "send", "text": text})
        ended_turns(kernel, comm, 1 if text == "One" else 2)
    before = kernel.state(comm)["turns"]
    model_server.clear()
    kernel.send_to_widget(comm, {"type": "regenerate"})
    kernel.read_until(lambda: kernel.state(comm)["turns"][-1]["reply"] != before[-1]["reply"])
    after = ended_turns(kernel, comm, 2)
    assert [t["prompt"] for t in after] == ["One", "Two"] and after[0]["reply"] == before[0]["reply"]
    assert user_and_assistant(model_server.wait_for(lambda r: r.completed, 10).messages) == [
        ("user", "One"), ("assistant", "One"), ("user", "Two")]  # not the answer it replaces
    assert kernel.value(f"[t.prompt for t in {CONVERSATION.format('again')}.turns]") == ["One", "Two"]


def test_tools_passed_to_the_box_are_called(kernel):
    kernel.run("def total(year: int) -> str:\n    '''Sales of a year.'''\n    return str(year * 2)")
    comm, _ = open_box(kernel, "ling_notebook.chat('tooled', model='test/tools', tools=[total])")
    kernel.send_to_widget(comm, {"type": "send", "text": 'call total {"year": 21}'})
    for _ in range(200):  # tools run on the main thread between cells; a bound, not a timing
        turns = kernel.state(comm).get("turns", [])
        if turns and turns[0]["status"] == "done":
            break
        kernel.run("pass")
    (turn,) = ended_turns(kernel, comm, 1)
    assert streamed(kernel, comm, turn["reply"]).endswith("Tool results: total -> 42")
    calls = [c for d in kernel.custom(comm, "delta") for c in d["calls"]]
    assert [(c["state"], c["result"]) for c in calls if c.get("state") == "done"] == [("done", "42")]  # its card


def run_in_cell(kernel, code: str, cell_id: str) -> list[dict]:
    """Run `code` as JupyterLab runs a cell: with the cell's id in the request's metadata."""
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
    msg = kernel.client.session.msg("execute_request", content, metadata={"cellId": cell_id})
    kernel.client.shell_channel.send(msg)

    def mine() -> list[dict]:
        return [m for m in kernel.messages if m["parent_header"].get("msg_id") == msg["header"]["msg_id"]]

    kernel.read_until(lambda: any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                                  for m in mine()))
    return mine()


def test_running_the_cell_again_closes_the_box_it_showed_before(kernel):
    def box(outputs) -> str:
        return next(m["content"]["comm_id"] for m in outputs if m["msg_type"] == "comm_open"
                    and "turns" in m["content"]["data"]["state"])

    first = box(run_in_cell(kernel, "ling_notebook.chat('rerun')", "cell-rerun"))
    other = box(run_in_cell(kernel, "ling_notebook.chat('rerun')", "cell-other"))
    second = box(run_in_cell(kernel, "ling_notebook.chat('rerun')", "cell-rerun"))
    closed = {m["content"]["comm_id"] for m in kernel.messages if m["msg_type"] == "comm_close"}
    assert first in closed and not {other, second} & closed
    assert kernel.value(f"len({CONVERSATION.format('rerun')}.watchers)") == 2  # the two boxes still shown
