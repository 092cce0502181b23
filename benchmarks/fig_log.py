"""The reply log's cost: a batch of 1,000 short prompts at concurrency 16 in a real kernel, log on and off.

Bar (issue 20): with the log on, the batch runs within 5% of its time with the log off. Runs alternate
on and off in one kernel, so both see the same machine; the log is a file of this run's (never the
user's). Also shown: how long the writer takes after the batch's end to have every row in the file.

    .venv/bin/python benchmarks/fig_log.py [--items 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

from _common import ServerProcess, median, ms, ratio, secs
from _kernel import Kernel, kernel_env

CONCURRENCY = 16
MODEL = "test/echo?rate=0"  # as fast as the server sends: the log's share of the time is the largest


def _batch(kernel: Kernel, log: str) -> tuple[float, float]:
    """Seconds the batch took, then seconds until the writer had written every row of it."""
    kernel.run(
        f"ling_notebook.configure(log={log!r})\n"
        "_t0 = time.perf_counter()\n"
        f"_bench_b = ling_notebook.batch(_bench_prompts, model={MODEL!r}, concurrency={CONCURRENCY})\n"
        "_bench_res = _bench_b.wait(600)\n"
        "_bench_t = time.perf_counter() - _t0\n"
        "ling_notebook.record.flush(600)\n"
        "_bench_flush = time.perf_counter() - _t0 - _bench_t",
        timeout=660,
    )
    assert kernel.value("_bench_res == _bench_prompts"), "wrong results"
    return float(kernel.value("_bench_t")), float(kernel.value("_bench_flush"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    server = ServerProcess()
    kernel = Kernel(kernel_env(server.url))
    with tempfile.TemporaryDirectory(prefix="ling-bench-log-") as folder:
        log = str(Path(folder) / "replies.sqlite")
        try:
            kernel.run("import time, ling_notebook, ling_notebook.record\n"
                       f"_bench_prompts = [f'Question {{i}}: what is {{i}} plus {{i}}?' for i in range({args.items})]")
            _batch(kernel, "off")  # warm-up: connections, imports, the log's schema
            _batch(kernel, log)
            on, off, flushes = [], [], []
            for _ in range(args.runs):
                seconds, flushed = _batch(kernel, log)
                on.append(seconds)
                flushes.append(flushed)
                off.append(_batch(kernel, "off")[0])
        finally:
            kernel.shutdown()
            server.stop()
        with sqlite3.connect(log) as connection:
            rows = connection.execute("SELECT count(*) FROM replies").fetchone()[0]
    expected = args.items * (args.runs + 1)
    change = median(on) / median(off) - 1
    print(f"A batch of {args.items:,} prompts at concurrency {CONCURRENCY}, {MODEL}, median of {args.runs} runs each:")
    print(f"  log off: {secs(median(off))}   log on: {secs(median(on))}   ({ratio(median(on), median(off))}, "
          f"{change:+.1%}; bar: within +5%: {'met' if change <= 0.05 else 'missed'})")
    print(f"  rows written: {rows:,} of {expected:,}; the writer's lag after the batch ended: median "
          f"{ms(median(flushes))}")
    print(f"  runs on:  {', '.join(secs(x) for x in on)}\n  runs off: {', '.join(secs(x) for x in off)}")
    return 0 if rows == expected else 1


if __name__ == "__main__":
    sys.exit(main())
