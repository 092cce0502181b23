"""Figure 13: what a tool round adds in the kernel, beyond the tool's own run time.

One reply over `test/tools?rate=0` calls a tool that sleeps 20 ms, then answers. In the kernel, a listener
notes (wall clock) when the call's arguments are complete ("pending"); the server notes when the next
request arrives. The round's cost is that gap minus the tool's own run time (`call.seconds`): handing the
call to the main thread, running it, building the next request and sending it. Two ways the main thread
gets the call: a cell blocking on `reply.wait()` runs it itself; an idle kernel runs it between cells.
"""

from __future__ import annotations

import time
from typing import Any

from _common import Bars, ServerProcess, Table, median, ms, pct
from _kernel import Kernel, kernel_env

SETUP = """
import time, ling_notebook
class _BenchMark:
    def __init__(self): self.at = None
    def on_status(self, reply): pass
    def on_delta(self, reply, content, reasoning): pass
    def on_end(self, reply): pass
    def on_part(self, reply, part, arguments):
        if part.state == "pending" and self.at is None:
            self.at = time.time()
def bench_tool() -> str:
    time.sleep(0.02)
    return "ok"
"""
ASK = ("_bench_mark = _BenchMark()\n"
       "_bench_r = ling_notebook.stream('call bench_tool {}', tools=[bench_tool], model='test/tools?rate=0')\n"
       "_bench_r.add_listener(_bench_mark)\n")
BAR = 0.010  # seconds: the bar, beyond the tool's own run time


def _one(kernel: Kernel, server: ServerProcess, wait: bool) -> float:
    server.clear()
    kernel.run(ASK + ("_bench_r.wait(30)\n" if wait else ""))
    deadline = time.monotonic() + 30
    while kernel.value("_bench_r.status") not in ("done", "error", "stopped"):
        if time.monotonic() > deadline:
            raise RuntimeError("the reply with a tool did not end")
    status, pending_at, seconds = kernel.value("[_bench_r.status, _bench_mark.at, _bench_r.tool_calls[0].seconds]")
    if status != "done" or pending_at is None:
        raise RuntimeError(f"the reply with a tool ended {status}")
    second = max((r for r in server.records() if r["path"].endswith("/chat/completions")), key=lambda r: r["id"])
    return float(second["started_at"]) - float(pending_at) - float(seconds)


def tool_round(server: ServerProcess, runs: int, bars: Bars) -> tuple[Table, dict[str, Any]]:
    kernel = Kernel(kernel_env(server.url))
    t = Table("13. A tool round in the kernel, beyond the tool's own run time (20 ms sleep)",
              ["the main thread gets the call", "median", "p90"])
    data: dict[str, Any] = {}
    try:
        kernel.run(SETUP)
        for wait, label in ((True, "a cell blocking on reply.wait()"), (False, "between cells (kernel idle)")):
            _one(kernel, server, wait)  # warm-up: connections, the widget's first message
            added = [_one(kernel, server, wait) for _ in range(runs)]
            data["wait" if wait else "idle"] = added
            t.add(label, ms(median(added)), ms(pct(added, 90)))
            bars.check(f"tool round, {label}", "adds <= tool run time + 10 ms", median(added) <= BAR,
                       f"{ms(median(added))} median, {ms(pct(added, 90))} p90")
        t.note("From the call's arguments being complete to the next request reaching the server, minus the "
               "tool's own run time; wall clocks of the kernel and the server process (one machine).")
    finally:
        kernel.shutdown()
    return t, data


if __name__ == "__main__":
    server = ServerProcess()
    try:
        bars = Bars()
        table, _ = tool_round(server, 15, bars)
        print(table.markdown())
        print(bars.table().markdown())
    finally:
        server.stop()
