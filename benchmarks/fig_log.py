"""The reply log's cost: a batch of 1,000 short prompts at concurrency 16 in a real kernel, log on and off.

Bar (issue 20): with the log on, the batch runs within 5% of its time with the log off. The runs come in
pairs, on and off back to back, the order swapped every other pair (on-off, off-on, ...), so a machine
whose load drifts weighs on both sides alike; the figure is the median of the pairs' ratios, for the
wall time (the bar) and for the kernel's CPU time (all its threads). On a loaded machine both move by
more than the log costs, so the writer thread's own CPU time is read too (its thread clock, Linux): the
time it can take the GIL from the streams, as a share of the kernel's CPU time with the log off, which
other processes' load hardly moves. The log is a file of this run's (never the user's). Also shown: how
long the writer takes after the batch's end to have every row in the file.

    .venv/bin/python benchmarks/fig_log.py [--items 1000] [--runs 7]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

from _common import ServerProcess, median, ms, secs
from _kernel import Kernel, kernel_env

CONCURRENCY = 16
MODEL = "test/echo?rate=0"  # as fast as the server sends: the log's share of the time is the largest


def _batch(kernel: Kernel, log: str) -> tuple[float, float, float, float]:
    """Seconds the batch took, the kernel's CPU seconds meanwhile, seconds until the writer had written
    every row of it, and the writer thread's CPU seconds for it (0 before it has started)."""
    kernel.run(
        f"ling_notebook.configure(log={log!r})\n"
        "_w = ling_notebook.record._writer._thread\n"
        "_wclock = time.pthread_getcpuclockid(_w.ident) if _w is not None else None\n"
        "_w0 = time.clock_gettime(_wclock) if _wclock is not None else 0.0\n"
        "_t0, _c0 = time.perf_counter(), time.process_time()\n"
        f"_bench_b = ling_notebook.batch(_bench_prompts, model={MODEL!r}, concurrency={CONCURRENCY})\n"
        "_bench_res = _bench_b.wait(600)\n"
        "_bench_t, _bench_cpu = time.perf_counter() - _t0, time.process_time() - _c0\n"
        "ling_notebook.record.flush(600)\n"
        "_bench_flush = time.perf_counter() - _t0 - _bench_t\n"
        "_bench_writer = time.clock_gettime(_wclock) - _w0 if _wclock is not None else 0.0",
        timeout=660,
    )
    assert kernel.value("_bench_res == _bench_prompts"), "wrong results"
    names = ("_bench_t", "_bench_cpu", "_bench_flush", "_bench_writer")
    return tuple(float(kernel.value(name)) for name in names)  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7, help="pairs of runs, log on and off")
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
            pairs = []
            for n in range(args.runs):
                order = (log, "off") if n % 2 == 0 else ("off", log)
                ran = {which: _batch(kernel, which) for which in order}
                pairs.append((ran[log], ran["off"]))
        finally:
            kernel.shutdown()
            server.stop()
        with sqlite3.connect(log) as connection:
            rows = connection.execute("SELECT count(*) FROM replies").fetchone()[0]
    expected = args.items * (args.runs + 1)
    wall = sorted(on[0] / off[0] - 1 for on, off in pairs)
    cpu = sorted(on[1] / off[1] - 1 for on, off in pairs)
    print(f"A batch of {args.items:,} prompts at concurrency {CONCURRENCY}, {MODEL}, {args.runs} pairs of runs "
          "(log on and off back to back, the order swapped every other pair):")
    print(f"  wall time, log on vs off: median of the pairs {median(wall):+.1%} (pairs from {wall[0]:+.1%} to "
          f"{wall[-1]:+.1%}); bar: within +5%: {'met' if median(wall) <= 0.05 else 'missed'}")
    print(f"  kernel CPU time, log on vs off: median {median(cpu):+.1%} (from {cpu[0]:+.1%} to {cpu[-1]:+.1%})")
    writer, off_cpu = median([on[3] for on, _ in pairs]), median([off[1] for _, off in pairs])
    print(f"  the writer thread's CPU time: median {ms(writer)} per batch, {writer / off_cpu:.1%} of the kernel's "
          "CPU time with the log off")
    print(f"  medians: log off {secs(median([off[0] for _, off in pairs]))}, log on "
          f"{secs(median([on[0] for on, _ in pairs]))}")
    print(f"  rows written: {rows:,} of {expected:,}; the writer's lag after the batch ended: median "
          f"{ms(median([on[2] for on, _ in pairs]))}")
    print("  pairs (on / off): " + ", ".join(f"{secs(on[0])} / {secs(off[0])}" for on, off in pairs))
    return 0 if rows == expected else 1


if __name__ == "__main__":
    sys.exit(main())
