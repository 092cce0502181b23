"""Jupyter's own interrupt (■, Kernel › Interrupt: a SIGINT to the kernel) in a real kernel: while the kernel
is idle it stops every running reply, comparison and batch, as `%ling stop` does; during a cell that waits
on a reply it stops that reply; with nothing running it does nothing, and the kernel stays usable."""

from __future__ import annotations

import os

import pytest
from kernel_client import Kernel, magics_kernel

SLOW = "test/trickle?tokens=400&rate=20"


@pytest.fixture(scope="module")
def kernel(model_server):
    k = magics_kernel(model_server.url, "sk-interrupt-test")
    yield k
    k.shutdown()


@pytest.fixture
def server(model_server, kernel):
    model_server.clear()
    kernel.messages.clear()
    return model_server


def chats(server) -> list:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def streaming(server, count: int = 1) -> None:
    """Wait until `count` requests have sent some text (so they are mid-stream)."""
    server.wait_for(lambda r: sum(x.chunks_sent > 1 for x in chats(server)) >= count, timeout=10)


def all_disconnected(server, count: int) -> None:
    server.wait_for(lambda r: sum(x.disconnected_at is not None for x in chats(server)) >= count, timeout=10)


def test_interrupting_an_idle_kernel_stops_a_streaming_reply(kernel, server):
    kernel.run(f"%%ling -o r --no-history -m {SLOW}\nGo")
    streaming(server)
    kernel.manager.interrupt_kernel()
    all_disconnected(server, 1)
    kernel.run("r.wait(10)")
    assert kernel.value("r.status") == "stopped"
    assert not chats(server)[0].completed


def test_interrupting_an_idle_kernel_stops_a_comparison_and_a_batch(kernel, server):
    kernel.run(f"%%ling -o cmp --no-history -m {SLOW} -m {SLOW}\nGo")
    kernel.run(f"b = ling_notebook.batch([f'p{{i}}' for i in range(6)], model='{SLOW}', concurrency=2)")
    streaming(server, 4)
    kernel.manager.interrupt_kernel()
    all_disconnected(server, 4)
    kernel.run("cmp.wait(10); b.wait(10)")
    assert kernel.value("[cmp.status, [r.status for r in cmp]]") == ["partial", ["stopped", "stopped"]]
    assert kernel.value("[b.status, b.counts['stopped'], b.counts['queued']]") == ["stopped", 2, 4]
    assert len(chats(server)) == 4, "no queued batch item starts after the interrupt"


def test_interrupting_a_cell_that_waits_stops_that_reply(kernel, server):
    kernel.run(f"%%ling -o r --no-history -m {SLOW}\nGo")
    streaming(server)
    # The interrupt goes once the cell's print arrives: ipykernel sends it from its own thread a moment
    # after the print, when the cell is in wait() (a flush would keep the cell in print until it is sent).
    msg_id = kernel.client.execute("print('waiting'); r.wait()", stop_on_error=False)
    kernel.read_until(lambda: any(m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id
                                  for m in kernel.messages))
    kernel.manager.interrupt_kernel()
    kernel.read_until(lambda: any(m["msg_type"] == "error" and m["parent_header"].get("msg_id") == msg_id
                                  for m in kernel.messages))
    (error,) = [m["content"] for m in kernel.messages if m["msg_type"] == "error"]
    assert error["ename"] == "KeyboardInterrupt"
    all_disconnected(server, 1)
    assert kernel.value("r.status") == "stopped"


def test_an_interrupt_with_nothing_running_does_nothing_and_later_replies_run_to_the_end(kernel, server):
    kernel.manager.interrupt_kernel()
    kernel.manager.interrupt_kernel()
    assert kernel.value("1 + 1") == 2
    kernel.run("%%ling -o r --no-history -m test/trickle?tokens=30&rate=100\nGo")
    assert kernel.value("[r.wait(20), r.status]") == ["".join(f" w{i}" for i in range(1, 31)), "done"]


def test_without_the_magics_the_first_stream_hooks_the_interrupt(model_server):
    model_server.clear()
    env = {**os.environ, "LING_BASE_URL": model_server.url, "LING_MODEL": SLOW}
    k = Kernel(env=env)
    try:
        k.run("import ling_notebook\nr = ling_notebook.stream('Go')")
        streaming(model_server)
        k.manager.interrupt_kernel()
        all_disconnected(model_server, 1)
        k.run("r.wait(10)")
        assert k.value("r.status") == "stopped"
    finally:
        k.shutdown()
