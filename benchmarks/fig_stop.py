"""Figure 4: from Stop to the server seeing EOF, over `test/stall?after=2&rate=0`.

- `reply.stop()` in this process (no kernel), against the floor: `await stream.close()` on a raw
  AsyncOpenAI stream;
- the widget's `stop` message sent to an idle kernel (what a click makes the browser send), no browser;
- the Stop button clicked in JupyterLab in headless Chromium (see browser_stop in fig_lab.py).

Times are `time.time()` here against the server's `disconnected_at` (another process, same clock).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from _approaches import API_KEY
from _common import Bars, ServerProcess, Table, median, ms, pct
from _kernel import Kernel

MODEL = "test/stall?after=2&rate=0"


def _disconnect(server: ServerProcess, stopped_at: float) -> float:
    record = server.wait_for(
        lambda r: r["path"].endswith("/chat/completions") and r["disconnected_at"], timeout=10
    )
    return float(record["disconnected_at"]) - stopped_at


def in_process(server: ServerProcess, runs: int) -> tuple[list[float], list[float]]:
    from ling_notebook import config
    from ling_notebook.reply import Reply

    settings = config.resolve(base_url=server.url, api_key=API_KEY, model=MODEL)
    ours: list[float] = []
    for i in range(runs + 1):
        server.clear()
        reply = Reply([{"role": "user", "content": "go"}], settings).start()
        deadline = time.monotonic() + 10
        while reply.chunks < 2 and time.monotonic() < deadline:
            time.sleep(0.0005)
        if reply.chunks < 2:
            raise RuntimeError(f"the stall stream did not deliver 2 deltas: {reply!r} {reply.error}")
        stopped_at = time.time()
        reply.stop()
        took = _disconnect(server, stopped_at)
        reply.wait(10)
        if i:  # the first run opens the connection pool and warms up
            ours.append(took)

    floor: list[float] = []

    async def floor_once(client: Any) -> float:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "go"}], stream=True
        )
        seen = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                seen += 1
                if seen == 2:
                    break
        stopped_at = time.time()
        await stream.close()
        return stopped_at

    async def floor_all() -> None:
        import openai

        client = openai.AsyncOpenAI(base_url=server.url, api_key=API_KEY, max_retries=0)
        for i in range(runs + 1):
            server.clear()
            stopped_at = await floor_once(client)
            took = await asyncio.to_thread(_disconnect, server, stopped_at)
            if i:
                floor.append(took)
        await client.close()

    asyncio.run(floor_all())
    return ours, floor


def in_kernel(kernel: Kernel, server: ServerProcess, runs: int) -> list[float]:
    """The widget's `stop` message on the shell channel of an idle kernel -> server EOF."""
    results: list[float] = []
    for i in range(runs + 1):
        server.clear()
        comm: list[str] = []
        seen: list[bool] = []

        def watch(m: Any, comm: list[str] = comm, seen: list[bool] = seen) -> None:
            if m.type == "comm_open":
                c = m.content
                if c.get("target_name") == "jupyter.widget" and "_esm" in c["data"]["state"]:
                    comm.append(c["comm_id"])
            elif m.type == "comm_msg" and b'"delta"' in m.raw_content and b" w2" in m.raw_content:
                seen.append(True)  # both pieces have reached the kernel and been sent on

        kernel.run(f"_bench_stop = ling_notebook.stream('go', model={MODEL!r})", handle=watch)
        deadline = time.monotonic() + 10
        while not (comm and seen):
            if time.monotonic() > deadline:
                raise TimeoutError("the stall stream's two pieces did not arrive")
            m = kernel.next_message(0.05)
            if m is not None:
                watch(m)
        stopped_at = time.time()
        msg = kernel.client.session.msg(
            "comm_msg", {"comm_id": comm[-1], "data": {"method": "custom", "content": {"type": "stop"}}}
        )
        kernel.client.shell_channel.send(msg)
        took = _disconnect(server, stopped_at)
        kernel.pump(lambda m: m.type == "update_display_data", timeout=10)  # the reply ended
        status = kernel.value("_bench_stop.status")
        if status != "stopped":
            raise RuntimeError(f"the reply did not stop: {status}")
        if i:
            results.append(took)
    return results


def table(
    ours: list[float], floor: list[float], kernel: list[float], browser: dict[str, Any] | None, bars: Bars
) -> Table:
    t = Table(
        "4. Stop -> the server sees EOF (`test/stall?after=2&rate=0`)",
        ["path", "runs", "median", "p90", "max", "vs floor"],
    )
    f = median(floor)

    def row(path: str, times: list[float], versus: bool = True) -> None:
        ratio = f"{median(times) / f:.2f}x" if versus else ""
        t.add(path, len(times), ms(median(times)), ms(pct(times, 0.9)), ms(max(times)), ratio)

    row("floor: `await stream.close()` on a raw AsyncOpenAI stream", floor, versus=False)
    row("ling-notebook: `reply.stop()` (in-process, thread-safe cancel)", ours)
    row("ling-notebook: widget `stop` message -> idle kernel (no browser)", kernel)
    bars.check(
        "`reply.stop()` -> server EOF",
        "< 20 ms",
        median(ours) < 0.020,
        f"{ms(median(ours))} median, {ms(max(ours))} max",
    )
    if browser and browser.get("times"):
        b = browser["times"]
        row("ling-notebook: Stop clicked in JupyterLab (headless Chromium), kernel idle", b)
        bars.check(
            "Stop click in a real browser -> server EOF (kernel idle)",
            "< 100 ms",
            median(b) < 0.100,
            f"{ms(median(b))} median, {ms(max(b))} max",
        )
    else:
        reason = (browser or {}).get("skipped", "not run")
        t.note(f"Stop clicked in JupyterLab: {reason}")
        bars.check("Stop click in a real browser -> server EOF (kernel idle)", "< 100 ms", None, reason)
    t.note(
        "From a `time.time()` taken right before the stop (for the click: in the page, at the click event) "
        "to the server's `disconnected_at` for that request."
    )
    return t


def dumps(values: list[float]) -> str:
    return json.dumps([round(v * 1000, 3) for v in values])
