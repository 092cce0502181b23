"""Comparisons in a real ipykernel, against the built-in server, seen from the iopub channel and the
server's records: what each model was sent, what every column shows, Stop per column and Stop all."""

from __future__ import annotations

import pytest
from kernel_client import Kernel, magics_kernel
from test_magics import _execute_with_cell_id

KEY = "sk-compare-test-5c3e-secret"
ENDED = ("done", "stopped", "error")


@pytest.fixture(scope="module")
def kernel(model_server):
    k = magics_kernel(model_server.url, KEY)
    yield k
    k.shutdown()


@pytest.fixture
def server(model_server, kernel):
    kernel.messages.clear()
    model_server.clear()
    return model_server


def run_cell(kernel: Kernel, code: str, cell_id: str | None = None) -> str:
    """Run a cell (with a cellId, as JupyterLab sends one) that shows a comparison; return its comm id."""
    before = set(kernel.widget_comms())
    if cell_id is None:
        kernel.run(code)
    else:
        msg_id = _execute_with_cell_id(kernel, code, cell_id)
        kernel.read_until(lambda: any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                                      and m["parent_header"].get("msg_id") == msg_id for m in kernel.messages))
    (comm,) = [c for c in kernel.widget_comms() if c not in before and "columns" in kernel.state(c)]
    return comm


def statuses(kernel: Kernel, comm: str) -> list[str]:
    return [c["status"] for c in kernel.state(comm)["columns"]]


def wait_ended(kernel: Kernel, comm: str, timeout: float = 30) -> list[dict]:
    kernel.read_until(lambda: all(s in ENDED for s in statuses(kernel, comm)), timeout)
    return kernel.state(comm)["columns"]


def column_text(kernel: Kernel, comm: str, index: int) -> str:
    return "".join(c["content"] for d in kernel.custom(comm, "delta") for c in d["columns"] if c["index"] == index)


def words(n: int, start: int = 1) -> str:
    return "".join(f" w{i}" for i in range(start, n + 1))


def chat_requests(server) -> list:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_every_model_gets_the_same_messages_and_options_and_both_texts_complete(kernel, server):
    kernel.run("%%ling --new\nFirst question")  # history the comparison must send
    kernel.run("from ling_notebook.reply import _running\nfor _r in list(_running): _r.wait(20)")
    server.clear()
    comm = run_cell(kernel, '%%ling -m test/echo -m test/flood?tokens=300&rate=0 -s "Be brief." -t 0.3 '
                            '--max-tokens 500 --extra \'{"enable_thinking": false}\' -o cmp\nCompare this')
    columns = wait_ended(kernel, comm)
    assert [c["status"] for c in columns] == ["done", "done"]
    assert column_text(kernel, comm, 0) == "Compare this" and column_text(kernel, comm, 1) == words(300)
    assert kernel.value("cmp.wait(10)") == ["Compare this", words(300)]
    assert kernel.value("[type(cmp).__name__, cmp.status, cmp.models, len(cmp)]") == [
        "Comparison", "done", ["test/echo", "test/flood?tokens=300&rate=0"], 2]

    bodies = {r.body["model"]: r.body for r in chat_requests(server)}
    echo, flood = bodies["test/echo"], bodies["test/flood?tokens=300&rate=0"]
    assert {k: v for k, v in echo.items() if k != "model"} == {k: v for k, v in flood.items() if k != "model"}
    assert echo["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"}, {"role": "assistant", "content": "First question"},
        {"role": "user", "content": "Compare this"},
    ]
    assert (echo["temperature"], echo["max_tokens"], echo["enable_thinking"], echo["stream"]) == (0.3, 500, False, True)
    # one message per frame carries every column's deltas: never one per model or per token
    deltas = kernel.custom(comm, "delta")
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1)) and len(deltas) < 100


def test_the_comparison_adds_no_turn_to_the_conversation(kernel, server):
    kernel.run("%%ling --new\nOnly turn")
    kernel.run("from ling_notebook.reply import _running\nfor _r in list(_running): _r.wait(20)")
    chat = "get_ipython().magics_manager.registry['LingMagics'].conversations['default']"
    before = kernel.value(f"[(t.prompt, t.reply.text) for t in {chat}.turns]")
    comm = run_cell(kernel, "%%ling -m test/echo -m test/echo\nNot a turn")
    wait_ended(kernel, comm)
    assert kernel.value(f"[(t.prompt, t.reply.text) for t in {chat}.turns]") == before == [["Only turn", "Only turn"]]
    server.clear()
    kernel.run("%%ling\nNext")
    kernel.run("for _r in list(_running): _r.wait(20)")
    assert [m["content"] for m in chat_requests(server)[0].body["messages"]] == ["Only turn", "Only turn", "Next"]


def test_a_failing_model_shows_its_error_and_leaves_the_other_complete(kernel, server):
    comm = run_cell(kernel, "%%ling -m test/http-404 -m test/flood?tokens=2000&rate=0 --no-history -o cmp\ngo")
    first, second = wait_ended(kernel, comm)
    assert first["status"] == "error" and "was not found" in first["error"] and KEY not in first["error"]
    assert second["status"] == "done" and column_text(kernel, comm, 1) == words(2000)
    assert kernel.value("cmp.status") == "partial"


def test_an_error_mid_stream_keeps_the_partial_text_of_that_column(kernel, server):
    comm = run_cell(kernel, "%%ling -m test/error-mid?after=4&rate=0 -m test/trickle?tokens=20&rate=100 "
                            "--no-history\ngo")
    first, second = wait_ended(kernel, comm)
    assert first["status"] == "error" and column_text(kernel, comm, 0) == words(4)
    assert second["status"] == "done" and column_text(kernel, comm, 1) == words(20)


def test_stop_on_one_column_closes_only_its_connection(kernel, server):
    comm = run_cell(kernel, "%%ling -m test/stall?after=3&rate=0 -m test/trickle?tokens=40&rate=40 --no-history\ngo")
    kernel.read_until(lambda: column_text(kernel, comm, 0) == words(3))
    kernel.send_to_widget(comm, {"type": "stop", "column": 0})
    first, second = wait_ended(kernel, comm)
    assert first["status"] == "stopped" and column_text(kernel, comm, 0) == words(3)
    assert second["status"] == "done" and column_text(kernel, comm, 1) == words(40)
    stalled = server.wait_for(lambda r: r.model.startswith("test/stall") and r.disconnected_at is not None)
    trickle = next(r for r in chat_requests(server) if r.model.startswith("test/trickle"))
    assert stalled.chunks_sent >= 3 and trickle.completed and trickle.disconnected_at is None


def test_stop_all_closes_every_connection(kernel, server):
    comm = run_cell(kernel, "%%ling -m test/stall?after=2&rate=0 -m test/stall?after=3&rate=0 --no-history -o cmp\ngo")
    kernel.read_until(lambda: column_text(kernel, comm, 0) == words(2) and column_text(kernel, comm, 1) == words(3))
    kernel.send_to_widget(comm, {"type": "stop"})
    assert [c["status"] for c in wait_ended(kernel, comm)] == ["stopped", "stopped"]
    server.wait_for(lambda _: len([r for r in chat_requests(server) if r.disconnected_at is not None]) == 2)
    assert kernel.value("[cmp.status, [r.text for r in cmp]]") == ["partial", [words(2), words(3)]]


def test_a_view_that_says_hello_mid_stream_gets_every_column(kernel, server):
    comm = run_cell(kernel, "%%ling -m test/stall?after=2&rate=0 -m test/stall?after=3&rate=0 --no-history -o cmp\ngo")
    kernel.read_until(lambda: column_text(kernel, comm, 0) == words(2) and column_text(kernel, comm, 1) == words(3))
    kernel.send_to_widget(comm, {"type": "hello"})
    kernel.read_until(lambda: bool(kernel.custom(comm, "snapshot")))
    (snapshot,) = kernel.custom(comm, "snapshot")
    assert [c["text"] for c in snapshot["columns"]] == [words(2), words(3)]
    assert snapshot["seq"] == kernel.custom(comm, "delta")[-1]["seq"]
    kernel.run("cmp.stop()")
    wait_ended(kernel, comm)


def test_running_the_cell_again_stops_its_earlier_comparison(kernel, server):
    cell = "%%ling -m test/stall?after=1&rate=0 -m test/stall?after=1&rate=0\ngo"
    first = run_cell(kernel, cell, cell_id="compare-cell")
    kernel.read_until(lambda: column_text(kernel, first, 0) == words(1) and column_text(kernel, first, 1) == words(1))
    second = run_cell(kernel, cell, cell_id="compare-cell")
    assert [c["status"] for c in wait_ended(kernel, first)] == ["stopped", "stopped"]
    kernel.read_until(lambda: column_text(kernel, second, 1) == words(1))
    kernel.send_to_widget(second, {"type": "stop"})
    wait_ended(kernel, second)


def test_no_stream_fills_the_columns_at_once(kernel, server):
    comm = run_cell(kernel, "%%ling -m test/echo -m test/echo --no-stream --no-history\nsame")
    assert [c["status"] for c in wait_ended(kernel, comm)] == ["done", "done"]
    assert column_text(kernel, comm, 0) == column_text(kernel, comm, 1) == "same"
    assert [r.body["stream"] for r in chat_requests(server)] == [False, False]


def test_more_than_six_models_is_refused_before_sending(kernel, server):
    outputs = kernel.run("%%ling " + " ".join(f"-m m{i}" for i in range(7)) + "\nhi")
    err = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert "ling: A comparison takes 2 to 6 models, not 7." in err and chat_requests(server) == []


def test_the_static_copy_shows_every_column_side_by_side_and_the_summary(kernel, server):
    comm = run_cell(kernel, "%%ling -m test/echo -m test/http-404 -m test/length?tokens=5 --no-history\n"
                            "<img src=x onerror=alert(1)> hello")
    wait_ended(kernel, comm)
    kernel.read_until(lambda: bool(kernel.displays()))
    (update,) = kernel.displays()
    html = update["data"]["text/html"]
    assert "text/markdown" not in update["data"] and "<img" not in html
    columns = html.split('<div class="ling-column">')[1:]
    assert len(columns) == 3
    assert "&lt;img src=x onerror=alert(1)&gt; hello" in columns[0] and "was not found" in columns[1]
    assert words(5).strip() in columns[2] and "finish: length" in columns[2]
    table = html[html.index("<table"):]
    assert [row.split("</td>")[0] for row in table.split("<tr><td>")[1:]] == [
        "test/echo", "test/http-404", "test/length?tokens=5"]
    assert "<th>TTFT</th>" in table and "<td>length</td>" in table and "<td>error</td>" in table
    assert update["data"]["text/plain"].startswith("=== test/echo ===\n<img src=x onerror=alert(1)> hello")


def test_a_comparison_run_without_a_cell_id_is_not_kept_after_it_ends(kernel, server):
    run_cell(kernel, "%%ling -m test/echo -m test/echo -o kept\nremember nothing")
    kernel.run("import gc, time, weakref\nassert kept.wait(10) == ['remember nothing'] * 2\nkept = weakref.ref(kept)")
    # wait() returns as the last finishing thread settles it; that thread lets go of the replies right after
    kernel.run("for _ in range(50):\n    gc.collect()\n    if kept() is None:\n        break\n    time.sleep(0.01)")
    assert kernel.value("kept() is None")
