"""Figures 6 and 7, each in a fresh kernel.

6. Kernel memory for a 1,000,000-token reply against the size of its text.
7. 20 concurrent replies in one kernel: all complete, none lost, time and memory, and how quickly the
   kernel runs `1+1` while they stream (against the same 20 streams in a raw `asyncio.gather` cell).
"""

from __future__ import annotations

import html
import re
import sys
import threading
import time
from typing import Any

import psutil
from _approaches import OURS, run_one, setup
from _common import Bars, ServerProcess, Table, flood_text, median, ms, pct, ratio, secs, size
from _kernel import Kernel, KernelError, Message, kernel_env


class PeakSampler:
    """Samples a kernel's RSS every few ms in a thread, to catch a peak between two reads."""

    def __init__(self, kernel: Kernel, every: float = 0.01) -> None:
        self.kernel, self.every, self.peak = kernel, every, 0
        self.samples: list[tuple[float, int]] = []  # (perf_counter, rss)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                rss = self.kernel.rss()
            except psutil.Error:  # the process may be gone at the end
                return
            self.samples.append((time.perf_counter(), rss))
            self.peak = max(self.peak, rss)

    def peak_before(self, when: float) -> int:
        return max((rss for t, rss in self.samples if t < when), default=0)

    def __enter__(self) -> PeakSampler:  # noqa: PYI034
        self.peak = self.kernel.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


SCENARIOS = {
    "flood": "one paragraph of generic words: a single block, which the copy renders whole",
    "markdown": "a long Markdown answer: headings, lists, code and tables",
}


def memory(server: ServerProcess, tokens: int, bars: Bars, scenario: str = "flood",
           number: str = "6") -> tuple[Table, dict[str, Any]]:
    from ling_notebook.server.scenarios import markdown_pieces

    kernel = Kernel(kernel_env(server.url))
    try:
        setup(kernel, server.url, naive=False)
        # Warm-up with the same kind of text, so what its first copy loads once per kernel (Pygments' lexers for
        # the code blocks, say) is not counted as the reply's.
        run_one(kernel, OURS, f"test/{scenario}?tokens=20000&rate=0", server.url, timeout=60)
        kernel.run("_bench_reply = None; gc.collect()")
        kernel.drain()
        time.sleep(0.3)
        before = kernel.rss()
        hwm_reset = kernel.reset_peak_rss()
        expected = flood_text(tokens) if scenario == "flood" else "".join(p for _, p in markdown_pieces(tokens))
        # Markdown is not its HTML: the copy must hold the heading of the last answer that came whole.
        copy_has = None if scenario == "flood" else re.findall(r"## About “(part \d+ of a long answer)”", expected)[-1]
        with PeakSampler(kernel) as sampler:
            run = run_one(
                kernel,
                OURS,
                f"test/{scenario}?tokens={tokens}&rate=0",
                server.url,
                timeout=120 + tokens / 2000,
                expected=expected,
                copy_has=copy_has,
            )
        hwm = kernel.peak_rss() if hwm_reset else None
        peak = max(sampler.peak, hwm or 0)
        streaming_peak = sampler.peak_before(run.kernel["end"])  # the reply's ended_at: its last token was in
        kernel.run("gc.collect()")
        time.sleep(0.3)
        after = kernel.rss()
        # What of that the C allocator only holds on to (freed, not given back to the system).
        trimmed = None
        try:
            kernel.run("import ctypes as _bench_ct; _bench_ct.CDLL('libc.so.6').malloc_trim(0)")
            time.sleep(0.2)
            trimmed = kernel.rss()
        except KernelError:  # not glibc
            trimmed = None
        text_bytes = len(expected.encode())
        str_bytes = sys.getsizeof(expected)  # as the kernel holds it: 1, 2 or 4 bytes a character
    finally:
        kernel.shutdown()
    t = Table(
        f"{number}. Kernel memory for a {tokens:,}-token reply (`test/{scenario}?tokens={tokens}&rate=0`: "
        f"{SCENARIOS[scenario]})",
        ["what", "bytes", "vs text"],
    )
    t.add("text of the reply (UTF-8)", size(text_bytes), "1.00x")
    if str_bytes > 1.1 * text_bytes:
        t.add("the same text as a Python str (not ASCII: two bytes a character or more)", size(str_bytes),
              ratio(str_bytes, text_bytes))
    t.add(
        "kernel RSS growth, peak while streaming (sampled, up to the last token)",
        size(streaming_peak - before),
        ratio(streaming_peak - before, text_bytes),
    )
    t.add(
        "kernel RSS growth, peak of the whole reply (incl. the final sync and copy)",
        size(peak - before),
        ratio(peak - before, text_bytes),
    )
    t.add(
        "kernel RSS growth, kept after the reply ended (reply + widget alive)",
        size(after - before),
        ratio(after - before, text_bytes),
    )
    if trimmed is not None:
        t.add(
            "the same after `malloc_trim(0)` (live memory; the rest was freed but held by the allocator)",
            size(trimmed - before),
            ratio(trimmed - before, text_bytes),
        )
    t.note(
        f"RSS before: {size(before)}; streamed in {secs(run.total)}; text check: "
        f"{'ok' if run.text_ok else 'FAILED ' + '; '.join(run.notes)}. Peak: the kernel's VmHWM "
        f"(reset before the run{'' if hwm_reset else ': not allowed here, so sampled only'}) and RSS sampled "
        "every 10 ms."
    )
    bars.check(
        f"kernel memory for a {tokens:,}-token reply ({scenario}: {SCENARIOS[scenario].split(':')[0]})",
        "< 4 x the text's size",
        (peak - before) < 4 * text_bytes,
        f"peak growth {ratio(peak - before, text_bytes)} ({size(peak - before)} for {size(text_bytes)}; "
        f"{ratio(streaming_peak - before, text_bytes)} up to the last token), "
        f"kept {ratio(after - before, text_bytes)}"
        + (f"; {ratio(peak - before, str_bytes)} of the text's str" if str_bytes > 1.1 * text_bytes else ""),
    )
    return t, {
        "text_bytes": text_bytes,
        "before": before,
        "peak": peak,
        "streaming_peak": streaming_peak,
        "after": after,
        "trimmed": trimmed,
        "total": run.total,
        "text_ok": run.text_ok,
    }


def _prompts(n: int, chars: int) -> list[str]:
    prompts = []
    for i in range(n):
        words, length = [f"reply-{i:02d}:"], 10
        j = 0
        while length < chars:
            word = f"r{i}w{j}"
            words.append(word)
            length += len(word) + 1
            j += 1
        prompts.append(" ".join(words))
    return prompts


def concurrency(
    server: ServerProcess, replies: int, chars: int, rate: float, bars: Bars, number: str = "7"
) -> tuple[Table, dict[str, Any]]:
    prompts = _prompts(replies, chars)
    model = f"test/echo?rate={rate:g}"
    kernel = Kernel(kernel_env(server.url))
    try:
        setup(kernel, server.url, naive=False)
        kernel.run(f"_bench_prompts = {prompts!r}")
        run_one(kernel, OURS, "test/flood?tokens=2000&rate=0", server.url, timeout=60)  # warm-up
        idle = [_time_cell(kernel, "1+1") for _ in range(10)]
        kernel.run("_bench_reply = None; gc.collect()")
        kernel.drain()
        rss0 = kernel.rss()

        streams: dict[str, dict[str, Any]] = {}
        by_display: dict[str, str] = {}
        ended: list[float] = []

        def watch(m: Message) -> None:
            if m.type == "comm_open":
                c = m.content
                if c.get("target_name") == "jupyter.widget" and "_esm" in c["data"]["state"]:
                    streams[c["comm_id"]] = {"deltas": [], "seqs": [], "static": None}
            elif m.type == "comm_msg":
                c = m.content
                s = streams.get(c["comm_id"])
                if s is None:
                    return
                data = c["data"]
                if data.get("method") == "custom" and data["content"].get("type") == "delta":
                    s["deltas"].append(data["content"]["content"])
                    s["seqs"].append(data["content"]["seq"])
            elif m.type == "display_data":  # a widget's view: its display id leads to its final copy
                view = m.content["data"].get("application/vnd.jupyter.widget-view+json", {})
                if view.get("model_id") in streams:
                    by_display[m.content["transient"]["display_id"]] = view["model_id"]
            elif m.type == "update_display_data":
                ended.append(m.at)
                comm = by_display.get(m.content["transient"]["display_id"])
                if comm is not None:
                    streams[comm]["static"] = m.content["data"].get("text/html")

        with PeakSampler(kernel) as sampler:
            started = time.perf_counter()
            kernel.run(
                f"_bench_rs = [ling_notebook.stream(p, model={model!r}) for p in _bench_prompts]",
                handle=watch,
            )
            busy: list[float] = []
            deadline = time.monotonic() + 120
            while len(ended) < replies and time.monotonic() < deadline:
                took = _time_cell(kernel, "1+1", handle=watch)
                if len(ended) < replies:
                    busy.append(took)
                time.sleep(0.05)
            while len(ended) < replies and time.monotonic() < deadline:
                m = kernel.next_message(0.1)
                if m is not None:
                    watch(m)
        elapsed = (max(ended) if ended else time.perf_counter()) - started
        statuses = kernel.value("[r.status for r in _bench_rs]")
        kernel_ok = kernel.value("[r.text == p for r, p in zip(_bench_rs, _bench_prompts)]")
        kernel.run("gc.collect()")
        rss1 = kernel.rss()

        matched = 0
        for s in streams.values():
            joined = "".join(s["deltas"])
            gapless = s["seqs"] == list(range(1, len(s["seqs"]) + 1))
            if joined in prompts and html.escape(joined.strip(), quote=False) in (s["static"] or "") and gapless:
                matched += 1
        distinct = len({"".join(s["deltas"]) for s in streams.values()} & set(prompts))

        # The floor: the same 20 streams consumed by raw AsyncOpenAI loops gathered in one cell.
        kernel.run("_bench_texts = [[] for _ in _bench_prompts]")
        floor_cell = (
            f"_bench_g = await asyncio.gather(*[_bench_loop({model!r}, t.append, p) "
            "for t, p in zip(_bench_texts, _bench_prompts)])"
        )
        kernel.run("import asyncio")
        t0 = time.perf_counter()
        msg_id = kernel.execute(floor_cell)
        floor_end: list[float] = []

        def floor_idle(m: Message) -> bool:
            if m.parent_id == msg_id and m.type == "status" and m.content["execution_state"] == "idle":
                floor_end.append(m.at)
            return bool(floor_end)

        time.sleep(0.2)
        blocked = _time_cell(kernel, "1+1", handle=floor_idle)  # queued behind the cell awaiting the streams
        if not floor_end:
            kernel.pump(floor_idle, timeout=120)
        kernel.shell_reply(msg_id)
        floor_elapsed = floor_end[0] - t0
        floor_ok = kernel.value("[''.join(t) == p for t, p in zip(_bench_texts, _bench_prompts)]")
    finally:
        kernel.shutdown()

    all_done = statuses == ["done"] * replies and all(kernel_ok)
    none_lost = matched == replies and distinct == replies
    total_chars = sum(len(p) for p in prompts)
    t = Table(
        f"{number}. {replies} concurrent replies in one kernel (`{model}`, {chars:,} characters each)",
        ["what", "ling-notebook", "floor: asyncio.gather of raw loops in a cell", "ratio"],
    )
    t.add(
        "replies done with the full text (kernel side)",
        f"{sum(kernel_ok)}/{replies}",
        f"{sum(floor_ok)}/{replies}",
        "",
    )
    t.add("replies whose deltas and final copy match their prompt (iopub)", f"{matched}/{replies}", "-", "")
    t.add(
        "time until the last reply ended", secs(elapsed), secs(floor_elapsed), ratio(elapsed, floor_elapsed)
    )
    t.add(
        "`1+1` while streaming: median (p90, max)",
        f"{ms(median(busy))} ({ms(pct(busy, 0.9))}, {ms(max(busy) if busy else None)})",
        f"{ms(blocked)} (waits for the cell)",
        "",
    )
    t.add("`1+1` with the kernel idle, median", ms(median(idle)), "", "")
    t.add(
        "kernel RSS growth, peak / kept after",
        f"{size(sampler.peak - rss0)} / {size(rss1 - rss0)}",
        "",
        f"text {size(total_chars)}",
    )
    t.note(
        f"{len(busy)} `1+1` cells ran while the replies streamed; "
        "each is timed from the execute request to the "
        "shell reply with its idle status."
    )
    responsive = bool(busy) and median(busy) < 0.1
    bars.check(
        f"{replies} concurrent streams in one kernel (`{model}`)",
        "all complete, none lost, kernel responsive (`1+1` median < 100 ms)",
        all_done and none_lost and responsive,
        f"{sum(kernel_ok)}/{replies} complete, {matched}/{replies} intact on iopub, `1+1` median "
        f"{ms(median(busy))} (max {ms(max(busy) if busy else None)}) while streaming",
    )
    return t, {
        "elapsed": elapsed,
        "floor_elapsed": floor_elapsed,
        "busy": busy,
        "idle": idle,
        "matched": matched,
        "statuses": statuses,
        "peak": sampler.peak - rss0,
        "kept": rss1 - rss0,
    }


def _time_cell(kernel: Kernel, code: str, handle: Any = None) -> float:
    t0 = time.perf_counter()
    kernel.run(code, handle=handle)
    return time.perf_counter() - t0
