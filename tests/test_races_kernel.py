"""Replies that run at the same time in a real kernel: Run All then Stop, views joining a flood, re-runs,
and cells without ids under nbclient. Each test is a way one reply could break or outlive another."""

from __future__ import annotations

import nbformat
import pytest
from kernel_client import Kernel, magics_kernel
from nbclient import NotebookClient

KEY = "sk-races-test-91ab-secret"


@pytest.fixture(scope="module")
def kernel(model_server):
    k = magics_kernel(model_server.url, KEY)
    yield k
    k.shutdown()


@pytest.fixture
def server(model_server):
    model_server.clear()
    return model_server


def words(n: int) -> str:
    return "".join(f" w{i}" for i in range(1, n + 1))


def execute(kernel: Kernel, code: str, cell_id: str) -> str:
    """Send a cell as JupyterLab does (with its cell id) without waiting; return the request's id."""
    msg = kernel.client.session.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                                        "user_expressions": {}, "allow_stdin": False,
                                                        "stop_on_error": True})
    msg["metadata"]["cellId"] = cell_id
    kernel.client.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def idle(kernel: Kernel, msg_id: str) -> None:
    kernel.read_until(lambda: any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                                  and m["parent_header"].get("msg_id") == msg_id for m in kernel.messages))


def comm_of(kernel: Kernel, msg_id: str) -> str:
    """The reply widget a cell opened."""
    (comm,) = [m["content"]["comm_id"] for m in kernel.messages if m["msg_type"] == "comm_open"
               and m["parent_header"].get("msg_id") == msg_id and "_esm" in m["content"]["data"]["state"]]
    return comm


def joined(kernel: Kernel, comm: str) -> str:
    return "".join(d["content"] for d in kernel.custom(comm, "delta"))


def static_copy_arrived(kernel: Kernel):
    """A condition for `read_until` that looks at each message once (a flood sends many)."""
    seen = 0

    def arrived() -> bool:
        nonlocal seen
        new, seen = kernel.messages[seen:], len(kernel.messages)
        return any(m["msg_type"] == "update_display_data" for m in new)

    return arrived


def chat_bodies(server) -> list[dict]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


def test_stopping_a_queued_cell_leaves_the_cell_it_waits_for_streaming(kernel, server):
    kernel.messages.clear()
    first = execute(kernel, "%%ling -o first --new -m test/trickle?tokens=40&rate=40\nFirst", "q1")
    second = execute(kernel, "%%ling -o second\nSecond", "q2")  # Run All: both cells return at once
    idle(kernel, second)
    first_comm, second_comm = comm_of(kernel, first), comm_of(kernel, second)
    kernel.read_until(lambda: len(joined(kernel, first_comm).split()) >= 3)
    kernel.send_to_widget(second_comm, {"type": "stop"})  # the Stop button of the waiting cell
    kernel.read_until(lambda: kernel.state(second_comm).get("status") == "stopped")
    assert kernel.value("first.status") == "streaming"
    assert kernel.value("first.wait(20)") == words(40)
    assert kernel.value("first.status") == "done"

    rerun = execute(kernel, "%%ling -o second\nSecond", "q2")
    idle(kernel, rerun)
    assert kernel.value("second.wait(20)") == "Second" and kernel.value("second.status") == "done"
    assert chat_bodies(server)[-1]["messages"][1] == {"role": "assistant", "content": words(40)}


def test_every_view_of_a_flood_shows_the_text_once(kernel):
    joined_mid_stream = 0
    for _ in range(3):
        kernel.messages.clear()
        cell = execute(kernel, "r = ling_notebook.stream('go', model='test/flood?tokens=10000&rate=0')", "f1")
        idle(kernel, cell)
        comm = comm_of(kernel, cell)
        for _ in range(20):  # views open while the flood streams
            kernel.send_to_widget(comm, {"type": "hello"})
        kernel.read_until(static_copy_arrived(kernel))
        deltas = sorted(kernel.custom(comm, "delta"), key=lambda d: d["seq"])
        text = kernel.value("r.text")
        assert "".join(d["content"] for d in deltas) == text
        for snapshot in kernel.custom(comm, "snapshot"):
            later = "".join(d["content"] for d in deltas if d["seq"] > snapshot["seq"])
            assert snapshot["text"] + later == text
            joined_mid_stream += bool(later)
    assert joined_mid_stream >= 10


def test_rerunning_a_streaming_cell_stops_its_old_reply(kernel, server):
    kernel.messages.clear()
    old = execute(kernel, "%%ling -o old --new -m test/stall?after=3&rate=0\nFirst", "r1")
    idle(kernel, old)
    kernel.read_until(lambda: joined(kernel, comm_of(kernel, old)) == words(3))
    later = execute(kernel, "%%ling -o later\nSecond", "r2")  # queued behind the streaming cell
    rerun = execute(kernel, "%%ling -o new -m test/echo?rate=10\nFirst, again", "r1")  # a slow answer this time
    idle(kernel, rerun)
    stalled = server.wait_for(lambda r: r.disconnected_at is not None)
    assert stalled.model == "test/stall?after=3&rate=0"
    idle(kernel, later)
    assert kernel.value("later.wait(20)") == "Second" and kernel.value("old.status") == "stopped"
    # the queued cell waited for the new answer, complete, instead of taking a partial one
    assert chat_bodies(server)[-1]["messages"] == [
        {"role": "user", "content": "First, again"},
        {"role": "assistant", "content": "First, again"},
        {"role": "user", "content": "Second"},
    ]


def test_identical_cells_without_ids_are_separate_turns(model_server, monkeypatch, tmp_path):
    monkeypatch.setenv("LING_BASE_URL", model_server.url)
    monkeypatch.setenv("LING_MODEL", "test/echo")
    monkeypatch.setenv("LING_API_KEY", KEY)
    model_server.clear()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        "%load_ext ling_notebook",
        "%%ling --new\nContinue.",
        "%%ling -o last\nContinue.",  # the same text: nbclient sends no cell id
        "last.wait(20)",
    )])
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    bodies = chat_bodies(model_server)
    assert len(bodies) == 2
    assert bodies[1]["messages"] == [
        {"role": "user", "content": "Continue."},
        {"role": "assistant", "content": "Continue."},
        {"role": "user", "content": "Continue."},
    ]
