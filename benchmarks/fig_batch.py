"""Figure 12: a batch of 1,000 short prompts at concurrency 16, in a real kernel.

Against the floor, a hand-written `asyncio.gather` over `AsyncOpenAI` under an `asyncio.Semaphore(16)`
in a cell (what people write today; it shows nothing). Measured: wall time (bar: within 1.2x),
kernel->browser messages against elapsed / 100 ms, how quickly `1+1` runs in another cell while a
batch runs (bar: median under 100 ms), and the kernel's memory against the texts (bar: within 2x).
"""

from __future__ import annotations

import time
from typing import Any

from _approaches import setup
from _common import Bars, ServerProcess, Table, median, ms, pct, ratio, secs, size
from _kernel import Kernel, Message, kernel_env

CONCURRENCY = 16
INTERVAL = 0.1  # ling_notebook.batch.PROGRESS_INTERVAL

FLOOR = '''
import asyncio, gc, time

async def _bench_floor(prompts, model, limit):
    """The hand-written way: gather + semaphore over AsyncOpenAI, streaming, texts in input order."""
    gate = asyncio.Semaphore(limit)

    async def one(prompt):
        async with gate:
            stream = await _bench_client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}], stream=True,
                stream_options={"include_usage": True})
            parts = []
            async with stream:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        parts.append(chunk.choices[0].delta.content)
            return "".join(parts)

    return await asyncio.gather(*(one(p) for p in prompts))
'''


def _prompts(n: int) -> list[str]:
    return [f"Question {i}: what is {i} plus {i}?" for i in range(n)]


def _ours(kernel: Kernel, model: str, handle: Any = None) -> float:
    kernel.run(
        "_t0 = time.perf_counter()\n"
        f"_bench_b = ling_notebook.batch(_bench_prompts, model={model!r}, concurrency={CONCURRENCY})\n"
        "_bench_res = _bench_b.wait(600)\n"
        "_bench_t = time.perf_counter() - _t0",
        timeout=660,
        handle=handle,
    )
    return float(kernel.value("_bench_t"))


def _floor(kernel: Kernel, model: str) -> float:
    kernel.run(
        "_t0 = time.perf_counter()\n"
        f"_bench_res = await _bench_floor(_bench_prompts, {model!r}, {CONCURRENCY})\n"
        "_bench_t = time.perf_counter() - _t0",
        timeout=660,
    )
    return float(kernel.value("_bench_t"))


def batch(server: ServerProcess, items: int, runs: int, bars: Bars) -> tuple[Table, dict[str, Any]]:
    prompts = _prompts(items)
    kernel = Kernel(kernel_env(server.url))
    data: dict[str, Any] = {"items": items, "concurrency": CONCURRENCY}
    t = Table(
        f"12. A batch of {items:,} short prompts at concurrency {CONCURRENCY} (one kernel)",
        ["what", "ling_notebook.batch", "floor: gather + semaphore", "ratio"],
    )
    try:
        setup(kernel, server.url, naive=False)
        kernel.run(FLOOR)
        kernel.run(f"_bench_prompts = {prompts!r}")
        for model, label in (("test/echo?rate=0", "as fast as the server sends"),
                             ("test/echo?rate=100", "at 100 pieces/s per reply")):
            _ours(kernel, model)  # warm-up: connections, the front end's first message
            _floor(kernel, model)
            ours, floor = [], []
            for _ in range(runs):  # interleaved, so both see the same machine
                ours.append(_ours(kernel, model))
                assert kernel.value("_bench_res == _bench_prompts"), "ling_notebook.batch: wrong results"
                floor.append(_floor(kernel, model))
                assert kernel.value("_bench_res == _bench_prompts"), "floor: wrong results"
            key = "fast" if "rate=0" in model else "paced"
            data[key] = {"ours": ours, "floor": floor}
            t.add(f"wall time, {label} (median of {runs})", secs(median(ours)), secs(median(floor)),
                  ratio(median(ours), median(floor)))
            bars.check(f"batch of {items:,} prompts at concurrency {CONCURRENCY}, {label}",
                       "within 1.2 x a hand-written gather + semaphore", median(ours) <= 1.2 * median(floor),
                       f"{secs(median(ours))} vs {secs(median(floor))} ({ratio(median(ours), median(floor))})")

        # Kernel -> browser messages during one paced batch, by kind.
        counted: dict[str, int] = {}

        def count(m: Message) -> None:
            if m.type not in ("status", "execute_input", "execute_result", "stream"):
                counted[m.type] = counted.get(m.type, 0) + 1

        elapsed = _ours(kernel, "test/echo?rate=100", handle=count)
        kernel.drain()
        messages = sum(counted.values())
        bound = elapsed / INTERVAL
        data["messages"] = {"elapsed": elapsed, "by_kind": counted}
        t.add("kernel->browser messages, one paced batch", f"{messages} in {secs(elapsed)}", "0 (shows nothing)",
              f"{messages / bound:.2f} x elapsed/100 ms")
        bars.check(f"batch progress messages, {items:,} items", "<= elapsed / 100 ms + 10",
                   messages <= bound + 10, f"{messages} messages in {secs(elapsed)} (bound {bound + 10:.0f}); "
                   + ", ".join(f"{k} {v}" for k, v in sorted(counted.items())))

        # `1+1` in another cell while a paced batch runs.
        idle = [_time_cell(kernel, "1+1") for _ in range(20)]
        kernel.run(f"_bench_b = ling_notebook.batch(_bench_prompts, model='test/echo?rate=100', "
                   f"concurrency={CONCURRENCY})")
        busy = []
        for _ in range(40):
            busy.append(_time_cell(kernel, "1+1"))
            time.sleep(0.05)
        still_running = kernel.value("_bench_b.status") == "running"
        kernel.run("_bench_b.wait(600)", timeout=660)
        data["ping"] = {"idle": idle, "busy": busy, "still_running": still_running}
        t.add("`1+1` in another cell while it runs, median (p90)", f"{ms(median(busy))} ({ms(pct(busy, 90))})",
              f"idle kernel: {ms(median(idle))}", "")
        bars.check("`1+1` while a batch runs", "median < 100 ms", median(busy) < 0.1 and still_running,
                   f"median {ms(median(busy))}, p90 {ms(pct(busy, 90))} (idle {ms(median(idle))})"
                   + ("" if still_running else "; the batch ended before the last ping"))
    finally:
        kernel.shutdown()

    mem = {name: _memory(server, items, name) for name in ("ours", "floor")}
    data["memory"] = mem
    texts = mem["ours"]["texts"]
    t.add(f"kernel RSS growth, batch kept (texts: {size(texts)})", size(mem["ours"]["growth"]),
          size(mem["floor"]["growth"]), f"{mem['ours']['growth'] / texts:.2f} x texts")
    bars.check(f"kernel memory for a batch of {items:,}", "within 2 x the texts (prompts + replies)",
               mem["ours"]["growth"] <= 2 * texts,
               f"{size(mem['ours']['growth'])} for {size(texts)} of text "
               f"({mem['ours']['growth'] / texts:.2f}x; floor {mem['floor']['growth'] / texts:.2f}x)")
    t.note("Server: the built-in one in its own process; `test/echo` answers each prompt with itself in "
           "4-character pieces. Wall time: from the cell's first line until every text is in (ours: "
           "`batch(...)` then `wait()`, the progress widget included). Messages: every iopub message of the "
           "run but the cell's own status/input/result (comm_open, display, progress updates, the summary).")
    t.note(f"Memory: a fresh kernel per side, RSS after `gc.collect()` minus before, with the batch (or the "
           f"list of texts) kept; replies of `test/flood?tokens=500` (about 2.9 kB each). {items:,} `Reply` "
           "objects, with their timings, usage and messages, are the overhead over the texts.")
    return t, data


def _memory(server: ServerProcess, items: int, side: str) -> dict[str, int]:
    kernel = Kernel(kernel_env(server.url))
    model = "test/flood?tokens=500&rate=0"
    try:
        setup(kernel, server.url, naive=False)
        kernel.run(FLOOR)
        kernel.run(f"_bench_prompts = {_prompts(items)!r}")
        # Warm up on a few items, so imports, the client and the front end are not counted.
        if side == "ours":
            kernel.run(f"ling_notebook.batch(_bench_prompts[:20], model={model!r}).wait(60)")
        else:
            kernel.run(f"await _bench_floor(_bench_prompts[:20], {model!r}, {CONCURRENCY})")
        kernel.run("gc.collect()")
        kernel.drain()
        time.sleep(0.3)
        before = kernel.rss()
        if side == "ours":
            kernel.run(f"_bench_b = ling_notebook.batch(_bench_prompts, model={model!r}, "
                       f"concurrency={CONCURRENCY})\n_bench_res = _bench_b.wait(600)", timeout=660)
        else:
            kernel.run(f"_bench_res = await _bench_floor(_bench_prompts, {model!r}, {CONCURRENCY})", timeout=660)
        kernel.run("gc.collect()")
        kernel.drain()
        time.sleep(0.3)
        growth = kernel.rss() - before
        texts = kernel.value("sum(len(t.encode()) for t in _bench_res) + sum(len(p) for p in _bench_prompts)")
    finally:
        kernel.shutdown()
    return {"growth": growth, "texts": texts}


def _time_cell(kernel: Kernel, code: str) -> float:
    t0 = time.perf_counter()
    kernel.run(code)
    return time.perf_counter() - t0
