"""Foreground mode in a real kernel: `%%ling --wait`, `background=False` (`configure`, or a keyword of
`stream()`, `compare()`, `batch()`), and the default in Google Colab (a stand-in `google.colab` module). The cell
stays busy until what it started has ended, while the view's updates (sent from the streams' thread) go out;
interrupting the kernel stops it, keeping the text that arrived, and ends the cell as interrupted."""

from __future__ import annotations

import pytest
from kernel_client import Kernel, magics_kernel

TRICKLE = "test/trickle?tokens=12&rate=40"
WORDS = "".join(f" w{i}" for i in range(1, 13))
SLOW = "test/trickle?tokens=400&rate=20"
LONGER = "test/trickle?tokens=40&rate=40"  # a second at least: longer than the first catch-up (0.5 s)


@pytest.fixture(scope="module")
def kernel(model_server):
    k = magics_kernel(model_server.url, "sk-wait-test-5d0c-secret")
    yield k
    k.shutdown()


@pytest.fixture
def server(model_server, kernel):
    model_server.clear()
    kernel.messages.clear()
    return model_server


def chats(server) -> list:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def run_cell(kernel: Kernel, code: str) -> tuple[dict, list[dict]]:
    """Run `code`; return its execute reply's content and every iopub message the kernel sent until the cell
    was idle, in order (whichever thread sent them)."""
    msg_id = kernel.client.execute(code, stop_on_error=False)

    def idle() -> int | None:
        return next((i for i, m in enumerate(kernel.messages) if m["msg_type"] == "status"
                     and m["content"]["execution_state"] == "idle" and m["parent_header"].get("msg_id") == msg_id),
                    None)

    kernel.read_until(lambda: idle() is not None, timeout=60)
    reply = kernel.client.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.client.get_shell_msg(timeout=30)
    return reply["content"], kernel.messages[: idle()]


def view_comm(messages: list[dict]) -> str:
    """The one reply or comparison widget opened in `messages` (not the shared Layout)."""
    (comm,) = [m["content"]["comm_id"] for m in messages if m["msg_type"] == "comm_open"
               and "_esm" in m["content"]["data"]["state"]]
    return comm


def deltas(messages: list[dict]) -> str:
    return "".join(m["content"]["data"]["content"]["content"] for m in messages if m["msg_type"] == "comm_msg"
                   and m["content"]["data"].get("method") == "custom"
                   and m["content"]["data"]["content"].get("type") == "delta")


def final_copies(messages: list[dict]) -> list[str]:
    return [m["content"]["data"]["text/html"] for m in messages if m["msg_type"] == "update_display_data"]


def test_a_wait_cell_stays_busy_until_the_reply_ends_and_its_view_updates_meanwhile(kernel, server):
    content, before_idle = run_cell(kernel, f"%%ling --wait --no-history -o r -m {TRICKLE}\nGo")
    assert content["status"] == "ok"
    # Everything the view needs arrived while the cell was busy: the text as deltas, then the final copy.
    assert deltas(before_idle) == WORDS
    (copy,) = final_copies(before_idle)
    assert "w12" in copy
    assert kernel.value("[r.status, r.text]") == ["done", WORDS]
    # The kernel answers no view while the cell runs: the widget carries the renderer the stub would ask for.
    state = kernel.state(view_comm(before_idle))
    assert state["_renderer"] == kernel.value("ling_notebook.widget.renderer_bundle()")
    assert len(state["_esm"]) < 10_000
    assert state["foreground"] is True  # so the view offers no Stop: its click could not come in


def snapshots_match_the_deltas(kernel: Kernel, messages: list[dict]) -> list[dict]:
    """The catch-up snapshots of the one widget in `messages`, each checked to hold exactly the deltas before it."""
    comm = view_comm(messages)
    found = kernel.custom(comm, "snapshot")
    deltas = kernel.custom(comm, "delta")
    for snapshot in found:
        before = [d for d in deltas if d["seq"] <= snapshot["seq"]]
        if "columns" in snapshot:
            for i, column in enumerate(snapshot["columns"]):
                assert column["text"] == "".join(c["content"] for d in before for c in d["columns"] if c["index"] == i)
        else:
            assert snapshot["text"] == "".join(d["content"] for d in before)
    return found


@pytest.mark.parametrize("line", [f"-o r -m {LONGER}", f"-o r -m {LONGER} -m {LONGER}"], ids=["reply", "comparison"])
def test_a_view_built_late_catches_up_from_snapshots_sent_without_a_hello(kernel, server, line):
    _, before_idle = run_cell(kernel, f"%%ling --wait --no-history {line}\nGo")
    assert snapshots_match_the_deltas(kernel, before_idle)


def test_a_background_view_gets_the_stub_and_no_unasked_snapshot(kernel, server):
    _, before_idle = run_cell(kernel, f"%%ling --no-history -o r -m {LONGER}\nGo")
    kernel.run("r.wait(20)")
    comm = view_comm(before_idle)
    assert "_renderer" not in kernel.state(comm)
    assert kernel.state(comm)["foreground"] is False
    assert kernel.custom(comm, "snapshot") == []


def test_without_wait_the_cell_ends_while_the_reply_streams(kernel, server):
    content, before_idle = run_cell(kernel, f"%%ling --no-history -o r -m {SLOW}\nGo")
    assert content["status"] == "ok" and final_copies(before_idle) == []
    assert kernel.value("r.status") in ("waiting", "streaming")
    kernel.run("%ling stop\nr.wait(10)")


COLAB = "import sys, types; sys.modules['google.colab'] = types.ModuleType('google.colab')"
NOT_COLAB = "del sys.modules['google.colab']"


@pytest.mark.parametrize(("cells", "status"), [
    ([f"x = ling_notebook.stream('Go', model='{TRICKLE}', background=False)"], ["done"]),
    ([f"x = ling_notebook.compare('Go', ['{TRICKLE}', 'test/echo'], background=False)"], ["done"]),
    ([f"x = ling_notebook.batch(['a', 'b', 'c'], model='{TRICKLE}', background=False)"], ["done"]),
    (["ling_notebook.configure(background=False)", f"x = ling_notebook.stream('Go', model='{TRICKLE}')",
      "ling_notebook.configure(background=None)"], ["done"]),
    ([f"%%ling --wait --no-history -o x -m {TRICKLE} -m test/echo\nGo"], ["done"]),
    ([f"%%ling --wait --batch ['a','b','c'] -o x -m {TRICKLE}\n{{item}}"], ["done"]),
    (["%ling config background false", f"%%ling --no-history -o x -m {TRICKLE}\nGo",
      "%ling config background default"], ["done"]),
    ([COLAB, f"%%ling --no-history -o x -m {TRICKLE}\nGo", NOT_COLAB], ["done"]),
    ([COLAB, f"x = ling_notebook.stream('Go', model='{TRICKLE}')", NOT_COLAB], ["done"]),
    ([COLAB, f"x = ling_notebook.stream('Go', model='{TRICKLE}', background=True)", NOT_COLAB],
     ["waiting", "streaming"]),
    (["def total(year: int) -> int:\n    return year",
      "x = ling_notebook.stream('call total {\"year\": 2025}', tools=[total], model='test/tools', background=False)"],
     ["done"]),
], ids=["stream", "compare", "batch", "configure", "magic-compare", "magic-batch", "ling-config", "colab-magic",
        "colab-stream", "colab-background-true", "tools"])
def test_every_way_to_wait_ends_the_cell_after_what_it_started(kernel, server, cells, status):
    for code in cells:
        content, _ = run_cell(kernel, code)
        assert content["status"] == "ok"
    assert kernel.value("x.status") in status
    kernel.run("x.wait(20)")


def test_interrupting_a_wait_cell_stops_the_reply_keeps_its_text_and_ends_the_cell(kernel, server):
    # Says when the cell is about to wait: the interrupt goes once that print arrives (see test_interrupt_kernel).
    kernel.run("import ling_notebook.display as _d\n_hold = _d.hold\n"
               "def _told(*args):\n    print('holding', flush=True)\n    _hold(*args)\n_d.hold = _told")
    msg_id = kernel.client.execute(f"%%ling --wait --no-history -o r -m {SLOW}\nGo", stop_on_error=False)
    kernel.read_until(lambda: any(m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id
                                  for m in kernel.messages))
    kernel.read_until(lambda: deltas(kernel.messages) != "")  # the view has some text
    kernel.manager.interrupt_kernel()
    kernel.read_until(lambda: any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                                  and m["parent_header"].get("msg_id") == msg_id for m in kernel.messages))
    before_idle = list(kernel.messages)
    (error,) = [m["content"] for m in kernel.messages if m["msg_type"] == "error"]
    assert error["ename"] == "Interrupted"
    assert error["traceback"] == ["ling: interrupted: the reply stopped; it keeps the text that had arrived."]
    server.wait_for(lambda r: chats(server)[0].disconnected_at is not None, timeout=10)
    assert not chats(server)[0].completed
    kernel.run("_d.hold = _hold")
    status, text = kernel.value("[r.status, r.text]")
    assert status == "stopped" and text.startswith(deltas(before_idle)) and text.startswith(" w1")
    # The final copy, with that text, went out before the cell ended.
    (copy,) = final_copies(before_idle)
    assert text.split()[-1] in copy


def test_approval_buttons_are_refused_in_a_cell_that_waits(kernel, server):
    kernel.run("def total(year: int) -> int:\n    return year")
    content, before_idle = run_cell(kernel, "%%ling --wait --no-history --tools total --approve -m test/tools\nGo")
    errors = "".join(m["content"]["text"] for m in before_idle if m["msg_type"] == "stream")
    assert content["status"] == "ok" and errors.startswith("ling: approve=True waits for a Run or Skip click")
    assert chats(server) == []


def test_a_waiting_batch_shows_its_progress_without_stop_all(kernel, server):
    _, before_idle = run_cell(kernel, f"%%ling --wait --batch ['a','b'] -m {TRICKLE}\n{{item}}")
    state = kernel.state(view_comm(before_idle))
    assert state["foreground"] is True and state["progress"]["counts"]["done"] == 2
