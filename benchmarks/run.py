"""Measure ling-notebook against its baselines, in one run, on this machine, and print tables of ratios.

    .venv/bin/python benchmarks/run.py            # the full run (about 10 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick    # smaller sizes, fewer repetitions (about 4 minutes)
    .venv/bin/python benchmarks/run.py --only 1,5 # some figures only (1-12)

Every stream comes from the built-in server, started here on 127.0.0.1; nothing leaves the machine.
The tables go to stdout and, with the machine and the raw numbers, to benchmarks/build/ (git-ignored).
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import _jupyter_ai
import fig_batch
import fig_browser
import fig_compare
import fig_kernel
import fig_lab
import fig_memory
import fig_pages
import fig_stop
import fig_tools
from _approaches import setup
from _common import BUILD, Bars, ServerProcess, Table, machine, secs
from _kernel import Kernel, kernel_env

FULL = {
    "latency_runs": 30,
    "sizes": [1000, 10000, 100000],
    "naive_max": 10000,
    "stop_runs": 20,
    "lab_runs": 10,
    "browser_tokens": 100000,
    "memory_tokens": 1000000,
    "concurrent_chars": 8000,
    "page_replies": 50,
    "paint_replies": 20,
    "paint_rounds": 3,
    "end_tokens": [20000, 60000],
    "end_rounds": 3,
    "compare_repeats": 5,
    "batch_runs": 7,  # interleaved pairs; one pair alone varies 0.97-1.27x on this machine (issue 22)
    "tool_runs": 20,
}
QUICK = {
    "latency_runs": 8,
    "sizes": [1000, 10000],
    "naive_max": 10000,
    "stop_runs": 5,
    "lab_runs": 3,
    "browser_tokens": 20000,
    "memory_tokens": 100000,
    "concurrent_chars": 4000,
    "page_replies": 20,
    "paint_replies": 20,
    "paint_rounds": 1,
    "end_tokens": [20000],
    "end_rounds": 1,
    "compare_repeats": 2,
    "batch_runs": 1,
    "tool_runs": 5,
}
BROWSER_RATE = 10000.0  # tokens/s fed to the browser harness: about what a flood reaches through the kernel
CONCURRENT = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions")
    parser.add_argument("--only", default="1,2,3,4,5,6,7,8,9,10,11,12,13",
                        help="figures to run, e.g. 1,4 (default: all)")
    parser.add_argument(
        "--jupyter-ai-venv",
        type=Path,
        default=_jupyter_ai.DEFAULT_VENV,
        help="throwaway venv with jupyter-ai's %%%%ai magic (default: %(default)s)",
    )
    parser.add_argument("--no-jupyter-ai", action="store_true", help="leave the jupyter-ai baseline out")
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="do not try to pip-install jupyter-ai into its venv when it is missing",
    )
    parser.add_argument("--no-lab", action="store_true", help="skip the figures in JupyterLab (4's click, 9, 10)")
    args = parser.parse_args()
    figures = {int(f) for f in args.only.split(",") if f.strip()}
    p = QUICK if args.quick else FULL
    started = time.monotonic()
    BUILD.mkdir(parents=True, exist_ok=True)

    info = machine()
    print("ling-notebook benchmarks" + (" (quick)" if args.quick else ""), flush=True)
    for key, value in info.items():
        print(f"  {key}: {value}")
    tables: list[Table] = []
    data: dict[str, Any] = {"machine": info, "params": p, "quick": args.quick}
    bars = Bars()

    def show(*new: Table) -> None:
        for table in new:
            tables.append(table)
            print("\n" + table.markdown(), flush=True)

    def step(name: str) -> None:
        print(f"\n[{secs(time.monotonic() - started)}] {name} ...", flush=True)

    jai_versions = None
    if {1, 2, 3} & figures and not args.no_jupyter_ai:
        step("jupyter-ai baseline")
        jai_versions, jai_note = _jupyter_ai.ensure(args.jupyter_ai_venv, install=not args.no_install)
        print(f"  jupyter-ai: {jai_versions or 'not used'} ({jai_note})")
        data["jupyter_ai"] = {"versions": jai_versions, "note": jai_note}

    server = ServerProcess()
    failures: list[str] = []

    def attempt(name: str, run: Any) -> Any:
        """Run one figure; a broken figure is reported and must not hide the others."""
        step(name)
        try:
            return run()
        except Exception:  # noqa: BLE001 (one broken figure must not hide the others)
            failures.append(f"{name}: {traceback.format_exc().strip().splitlines()[-1]}")
            traceback.print_exc()
            return None

    try:
        if 11 in figures:
            kernel = Kernel(kernel_env(server.url), log=str(BUILD / "kernel-compare.log"))
            try:
                setup(kernel, server.url, naive=False)
                result = attempt(
                    "figure 11: a comparison of 4 models against 4 plain replies",
                    lambda: fig_compare.comparison(kernel, 10000, 4, p["compare_repeats"], bars),
                )
                if result:
                    show(result[0])
                    data["compare"] = result[1]
            finally:
                kernel.shutdown()
        if {1, 2, 3, 4} & figures:
            kernel = Kernel(kernel_env(server.url), log=str(BUILD / "kernel.log"))
            jai = None
            stop: dict[str, Any] = {}
            try:
                setup(kernel, server.url)
                if jai_versions:
                    spec_dirs = [_jupyter_ai.kernel_spec_dir(args.jupyter_ai_venv, BUILD)]
                    jai = Kernel(
                        kernel_env(server.url, _jupyter_ai.kernel_extra_env()),
                        kernel_name="bench-jupyter-ai",
                        spec_dirs=spec_dirs,
                        log=str(BUILD / "kernel-jupyter-ai.log"),
                    )
                    setup(jai, server.url, ours=False, naive=False, extra=_jupyter_ai.SETUP)
                if 1 in figures:
                    result = attempt(
                        "figure 1: time to first token",
                        lambda: fig_kernel.latency(kernel, server.url, p["latency_runs"], jai, bars),
                    )
                    if result:
                        show(result[0])
                        data["latency"] = result[1]
                if {2, 3} & figures:
                    result = attempt(
                        "figures 2 and 3: traffic and CPU",
                        lambda: fig_kernel.traffic(kernel, server.url, p["sizes"], p["naive_max"], jai, bars),
                    )
                    if result:
                        show(*result[:3])
                        data["traffic"] = result[3]
                if 4 in figures:
                    stop = (
                        attempt(
                            "figure 4: Stop -> EOF",
                            lambda: dict(
                                zip(
                                    ("reply_stop", "floor"),
                                    fig_stop.in_process(server, p["stop_runs"]),
                                    strict=True,
                                ),
                                kernel_message=fig_stop.in_kernel(kernel, server, p["stop_runs"]),
                            ),
                        )
                        or {}
                    )
            finally:
                kernel.shutdown()
                if jai is not None:
                    jai.shutdown()
            if stop:
                lab = {"skipped": "--no-lab"}
                if not args.no_lab:
                    lab = attempt(
                        "figure 4: Stop clicked in JupyterLab",
                        lambda: fig_lab.browser_stop(server, p["lab_runs"]),
                    ) or {"skipped": "failed"}
                data["stop"] = {**stop, "lab": lab}
                show(fig_stop.table(stop["reply_stop"], stop["floor"], stop["kernel_message"], lab, bars))
        for number, name, run in (
            (
                5,
                "figure 5: browser main thread",
                lambda: fig_browser.browser_figure(server, p["browser_tokens"], BROWSER_RATE, bars),
            ),
            (6, "figure 6: kernel memory", lambda: fig_memory.memory(server, p["memory_tokens"], bars)),
            (
                6.5,
                "figure 6b: kernel memory, a long Markdown answer",
                lambda: fig_memory.memory(server, p["memory_tokens"], bars, "markdown", "6b"),
            ),
            (
                7,
                "figure 7: concurrent replies, streams as fast as the kernel takes them",
                lambda: fig_memory.concurrency(server, CONCURRENT, p["concurrent_chars"], 1000, bars),
            ),
            (
                7.5,
                "figure 7b: concurrent replies at a model's pace",
                lambda: fig_memory.concurrency(server, CONCURRENT, 2000, 100, bars, number="7b"),
            ),
            (
                8,
                "figure 8: bytes per reply in one page",
                lambda: fig_pages.reply_bytes(server, p["page_replies"], bars),
            ),
            (
                9,
                "figure 9: comm_open -> first text on screen in JupyterLab",
                lambda: fig_pages.first_paint(server, p["paint_replies"], p["paint_rounds"]),
            ),
            (10, "figure 10: long tasks in JupyterLab and Notebook 7",
             lambda: fig_pages.end_tasks(server, p["end_tokens"], p["end_rounds"])),
            (12, "figure 12: a batch of 1,000 prompts", lambda: fig_batch.batch(server, 1000, p["batch_runs"], bars)),
            (13, "figure 13: a tool round in the kernel", lambda: fig_tools.tool_round(server, p["tool_runs"], bars)),
        ):
            if int(number) not in figures or (number == 7.5 and args.quick) or (number in (9, 10) and args.no_lab):
                continue
            result = attempt(name, run)
            if result:
                show(result[0])
                data[f"figure{number:g}"] = result[1]
                if number == 10:
                    fig_pages.end_bars(result[1], bars)
    finally:
        server.stop()

    elapsed = time.monotonic() - started
    summary = bars.table()
    print("\n" + summary.markdown())
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"run time: {secs(elapsed)}")
    header = [
        f"## Results: {'quick' if args.quick else 'full'} run, {info['date']}",
        "",
        *(f"- {k}: {v}" for k, v in info.items() if k != "date"),
        f"- run time: {secs(elapsed)} (`benchmarks/run.py{' --quick' if args.quick else ''}`)",
        "",
    ]
    if jai_versions:
        header.insert(-1, f"- jupyter-ai baseline: {jai_versions}")
    report = "\n".join(header) + "\n" + "\n".join(t.markdown() for t in [summary, *tables])
    name = "latest-quick" if args.quick else "latest"
    (BUILD / f"{name}.md").write_text(report)
    data["elapsed"] = elapsed
    data["bars"] = bars.items
    (BUILD / f"{name}.json").write_text(json.dumps(data, indent=1, default=str))
    print(f"tables: {BUILD / (name + '.md')}; numbers: {BUILD / (name + '.json')}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
