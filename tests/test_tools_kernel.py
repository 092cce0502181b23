"""Tools in a real kernel: they run on the main thread between cells, see the user's variables, keep their
prints out of other cells, and a cell that blocks on the reply runs them itself instead of deadlocking."""

from __future__ import annotations

import pytest
from kernel_client import magics_kernel

KEY = "sk-tools-kernel-7f2e-secret"


@pytest.fixture(scope="module")
def kernel(model_server):
    k = magics_kernel(model_server.url, KEY)
    k.run("import threading\n"
          "def total(year: int) -> str:\n"
          "    '''Sales of a year.'''\n"
          "    print('summing', year)\n"
          "    return f'{sales[year]} on {threading.current_thread().name}'\n")
    yield k
    k.shutdown()


def printed(outputs) -> str:
    return "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")


def test_a_tool_runs_between_cells_on_the_main_thread_with_the_users_variables(kernel):
    kernel.run("sales = {2025: 120}\n"
               "r = ling_notebook.stream('call total {\"year\": 2025}', tools=[total], model='test/tools')")
    outputs = []
    for _ in range(200):  # each cell lets the kernel run what is due between cells; a bound, not a timing
        outputs += kernel.run("print(r.status)")
        if printed(outputs).split()[-1] == "done":
            break
    assert kernel.value("r.text") == "Tool results: total -> 120 on MainThread"
    assert kernel.value("r.tool_calls[0].output") == "summing 2025\n"
    assert "summing" not in printed(outputs)  # the tool's print went to its card, not to a cell


def test_a_cell_blocking_on_wait_runs_the_tools_itself(kernel):
    outputs = kernel.run("sales = {2024: 7}\n"
                         "r = ling_notebook.stream('call total {\"year\": 2024}', tools=[total], model='test/tools')\n"
                         "print(r.wait(20))", timeout=30)
    assert printed(outputs) == "Tool results: total -> 7 on MainThread\n"


def test_a_cell_awaiting_the_reply_runs_the_tools_itself(kernel):
    outputs = kernel.run("sales = {2023: 3}\n"
                         "r = ling_notebook.stream('call total {\"year\": 2023}', tools=[total], model='test/tools')\n"
                         "print(await r)", timeout=30)
    assert printed(outputs) == "Tool results: total -> 3 on MainThread\n"


def test_a_raising_tool_tells_the_model_and_keeps_its_error(kernel):
    outputs = kernel.run("sales = {}\n"
                         "r = ling_notebook.stream('call total {\"year\": 1999}', tools=[total], model='test/tools')\n"
                         "r.wait(20)\n"
                         "print(r.tool_calls[0].state, '|', r.tool_calls[0].error, '|', r.text)", timeout=30)
    assert printed(outputs) == "error | KeyError: 1999 | Tool results: total -> Error: KeyError: 1999\n"


def until_done(kernel, name: str = "r") -> None:
    for _ in range(200):  # each cell lets the kernel run what is due between cells; a bound, not a timing
        if kernel.value(f"{name}.status") not in ("waiting", "streaming"):
            return
    raise AssertionError("the reply did not end")


def calls_sent(kernel, comm: str) -> list[dict]:
    return [call for d in kernel.custom(comm, "delta") for call in d.get("calls") or ()]


@pytest.mark.parametrize("run", [True, False])
def test_approve_shows_the_call_and_runs_or_skips_it_as_the_user_says(kernel, run):
    kernel.messages.clear()
    kernel.run('sales = {2025: 5}')
    kernel.run('%%ling -m test/tools --tools total --approve -o r --no-history\ncall total {{"year": 2025}}')
    (comm,) = [c for c in kernel.widget_comms() if "_esm" in kernel.state(c)]
    kernel.read_until(lambda: any(c.get("state") == "approval" for c in calls_sent(kernel, comm)))
    assert kernel.value("r.tool_calls[0].state") == "approval"
    kernel.send_to_widget(comm, {"type": "tool", "call": "call_0_0", "run": run})
    until_done(kernel)
    expected = "5 on MainThread" if run else "The user declined to run this tool call."
    assert kernel.value("r.text") == f"Tool results: total -> {expected}"
    states = [c["state"] for c in calls_sent(kernel, comm)]
    assert states[0] == "arguments" and states[-1] == ("done" if run else "skipped")
    assert [c["name"] for c in calls_sent(kernel, comm) if "name" in c][0] == "total"


def test_the_magic_refuses_unknown_tools_before_sending(kernel, model_server):
    before = len(model_server.requests)
    outputs = kernel.run("%%ling -m test/tools --tools total,nowhere\ncall total {}")
    errors = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert errors == ("ling: --tools: no function named nowhere in your namespace (define it in a cell first). "
                      "Nothing was sent.\n")
    assert len(model_server.requests) == before


def test_stop_while_a_call_waits_sends_nothing_more_and_says_where_it_stopped(kernel, model_server):
    kernel.messages.clear()
    kernel.run('%%ling -m test/tools --tools total --approve -o r --no-history\ncall total {{"year": 1}}')
    (comm,) = [c for c in kernel.widget_comms() if "_esm" in kernel.state(c)]
    kernel.read_until(lambda: any(c.get("state") == "approval" for c in calls_sent(kernel, comm)))
    requests = len(model_server.requests)
    kernel.send_to_widget(comm, {"type": "stop"})
    until_done(kernel)
    assert kernel.value("[r.status, r.stopped_during, r.tool_calls[0].state]") == ["stopped", "tool total", "skipped"]
    assert len(model_server.requests) == requests
    kernel.read_until(lambda: bool(kernel.displays()))
    copy = kernel.displays()[-1]["data"]["text/html"]
    assert "stopped by user (tool total)" in copy and "Tool total · not run" in copy


def test_stop_while_arguments_stream_closes_the_connection(kernel, model_server):
    kernel.messages.clear()
    long = "x" * 400
    kernel.run("r = ling_notebook.stream('call total {\"year\": \"" + long + "\"}', tools=[total], "
               "model='test/tools?rate=50&pieces=1')")
    (comm,) = [c for c in kernel.widget_comms() if "_esm" in kernel.state(c)]
    kernel.read_until(lambda: len([c for c in calls_sent(kernel, comm) if c.get("arguments")]) >= 2)
    kernel.send_to_widget(comm, {"type": "stop"})
    until_done(kernel)
    assert kernel.value("[r.status, r.stopped_during, r.tool_calls[0].state]") == ["stopped", "stream", "skipped"]
    record = model_server.wait_for(lambda r: r.disconnected_at is not None and long in str(r.messages), timeout=10)
    assert not record.completed


def test_stop_while_a_tool_runs_tells_it_and_its_result_is_not_sent(kernel, model_server):
    kernel.run("gate, seen = threading.Event(), []\n"
               "def watch() -> str:\n"
               "    gate.wait(30)\n"
               "    seen.append(ling_notebook.stop_requested())\n"
               "    return 'late'\n"
               "r = ling_notebook.stream('call watch {}', tools=[ling_notebook.tool(watch, thread_safe=True)], "
               "model='test/tools')")
    kernel.messages.clear()
    for _ in range(200):
        if kernel.value("r.tool_calls[0].state if r.tool_calls else None") == "running":
            break
    requests = len(model_server.requests)
    kernel.run("r.stop(); gate.set()")
    until_done(kernel)
    kernel.run("import time\nfor _ in range(1000):\n    if seen: break\n    time.sleep(0.01)")  # a bound
    assert kernel.value("[r.status, r.stopped_during, r.tool_calls[0].state, r.tool_calls[0].result, seen]") == [
        "stopped", "running tool watch", "stopped", None, [True]]
    assert len(model_server.requests) == requests


def test_jupyters_interrupt_stops_a_tool_that_never_returns(kernel):
    kernel.run("import time\n"
               "def forever() -> str:\n"
               "    while True:\n"
               "        time.sleep(0.01)\n")
    kernel.messages.clear()
    kernel.run("r = ling_notebook.stream('call forever {}', tools=[forever], model='test/tools')")
    (comm,) = [c for c in kernel.widget_comms() if "_esm" in kernel.state(c)]
    kernel.read_until(lambda: any(c.get("state") == "running" for c in calls_sent(kernel, comm)))
    kernel.manager.interrupt_kernel()
    until_done(kernel)
    assert kernel.value("[r.status, r.tool_calls[0].state]") == ["stopped", "stopped"]


def test_what_a_tool_displays_goes_to_its_card_as_text(kernel):
    kernel.run("from IPython.display import display\n"
               "def show() -> str:\n"
               "    display({'shown': 1})\n"
               "    return 'ok'\n")
    kernel.messages.clear()
    kernel.run("r = ling_notebook.stream('call show {}', tools=[show], model='test/tools')")
    until_done(kernel)
    assert kernel.value("r.tool_calls[0].output") == "{'shown': 1}\n"
    assert not [m for m in kernel.messages if m["msg_type"] in ("display_data", "execute_result")
                and "shown" in str(m["content"].get("data", {}).get("text/plain", ""))]
