"""Where the time goes at the end of a long reply in the browser: a Chrome trace and a JavaScript profile of
the last seconds of a Markdown reply (figure 10's), then its longest tasks, each broken down by trace event
and by the JavaScript functions sampled in it.

    .venv/bin/python benchmarks/end_trace.py 60000                 # JupyterLab and Notebook 7
    .venv/bin/python benchmarks/end_trace.py 20000 "Notebook 7"
    .venv/bin/python benchmarks/end_trace.py 20000 --start 0       # from the moment the cell runs

A diagnostic, not a figure: it prints what it saw and checks no bar. Traces go to benchmarks/build/.
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from typing import Any

from _common import BUILD, ServerProcess
from fig_browser import launch, markdown_stream
from fig_lab import PANEL, RUN_CELL, Lab, configure_cell, configured_page, notebook
from fig_pages import FRONT_ENDS

RATE = 2000.0  # tokens per second, as figure 10
WATCH = """([sel, sentinel]) => {
  const r = window.__end = { shown: false };
  const output = document.querySelector(sel);
  new MutationObserver(() => {
    if (!output.querySelector('.ling-widget') && output.textContent.includes(sentinel)) r.shown = true;
  }).observe(output, { subtree: true, childList: true, characterData: true });
}"""


def trace_end(page: Any, output: str, sentinel: str, seconds: float,
              start: float = 0.85) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run cell 1 and record from `start` (a share of its streaming time) until 1 s after its final copy shows."""
    page.evaluate(WATCH, [output, sentinel])
    cdp = page.context.new_cdp_session(page)
    events: list[dict[str, Any]] = []
    done: list[bool] = []
    cdp.on("Tracing.dataCollected", lambda e: events.extend(e["value"]))
    cdp.on("Tracing.tracingComplete", lambda _e: done.append(True))

    def record() -> None:
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})
        cdp.send("Profiler.start")
        cdp.send("Tracing.start", {"categories": "devtools.timeline,disabled-by-default-devtools.timeline,blink,v8",
                                   "transferMode": "ReportEvents"})

    if start <= 0:
        record()
    page.evaluate(RUN_CELL, 1)
    if start > 0:
        time.sleep(seconds * start)
        record()
    page.wait_for_function("() => window.__end.shown", timeout=(60 + 3 * seconds) * 1000, polling=100)
    page.wait_for_timeout(1000)
    profile = cdp.send("Profiler.stop")["profile"]
    cdp.send("Tracing.end")
    while not done:
        page.wait_for_timeout(100)
    return events, profile


def report(events: list[dict[str, Any]], profile: dict[str, Any], tasks: int = 3) -> None:
    runs = [e for e in events if e.get("name") == "RunTask" and e.get("ph") == "X"]
    busy: collections.Counter[tuple[int, int]] = collections.Counter()
    for e in runs:
        busy[(e["pid"], e["tid"])] += e.get("dur", 0)
    main = busy.most_common(1)[0][0]  # the renderer's main thread is the busiest
    mine = [e for e in events if (e.get("pid"), e.get("tid")) == main and e.get("ph") == "X"]
    nodes = {n["id"]: n for n in profile["nodes"]}
    stamps, at = [], profile["startTime"]
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        at += delta
        stamps.append((at, sample))
    for task in sorted((e for e in mine if e["name"] == "RunTask"), key=lambda e: -e.get("dur", 0))[:tasks]:
        start, end = task["ts"], task["ts"] + task["dur"]
        inside: collections.Counter[str] = collections.Counter()
        for e in mine:
            if e is not task and start <= e["ts"] and e["ts"] + e.get("dur", 0) <= end:
                inside[e["name"]] += e.get("dur", 0)
        print(f"  task {task['dur'] / 1000:.1f} ms; trace events (ms, nested ones counted in each):")
        print("   ", ", ".join(f"{name} {us / 1000:.1f}" for name, us in inside.most_common(10)))
        functions: collections.Counter[str] = collections.Counter()
        for stamp, sample in stamps:
            if start <= stamp <= end:
                frame = nodes[sample]["callFrame"]
                where = frame["url"].rsplit("/", 1)[-1].split("?")[0]
                place = f"{where}:{frame['lineNumber'] + 1}:{frame['columnNumber'] + 1}"  # 1-based, as an editor's
                functions[f"{frame['functionName'] or '(anonymous)'} {place}"] += 1
        total = sum(functions.values()) or 1
        print(f"    JavaScript, share of {total} samples (self time):")
        print("   ", "; ".join(f"{name} {count / total:.0%}" for name, count in functions.most_common(10)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tokens", type=int)
    parser.add_argument("--start", type=float, default=0.85,
                        help="when to start recording, as a share of the streaming time (0: before the cell runs)")
    parser.add_argument("front_ends", nargs="*", help=f"any of {list(FRONT_ENDS)}; both when none is named")
    args = parser.parse_args()
    args.front_ends = args.front_ends or list(FRONT_ENDS)
    if unknown := set(args.front_ends) - set(FRONT_ENDS):
        parser.error(f"unknown front end: {', '.join(sorted(unknown))}")
    server = ServerProcess()
    try:
        stream = markdown_stream(server, args.tokens, RATE, 0.04)
        rate = RATE * len(stream["text"]) / 4 / args.tokens  # test/echo sends 4-character pieces
        cell = f"r = ling_notebook.stream(open('long.md').read(), model='test/echo?rate={rate:.0f}')"
        lab = Lab(server, notebook(configure_cell(server), cell), {"long.md": stream["text"]})
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = launch(p)
                for front in args.front_ends:
                    page = configured_page(browser, lab, FRONT_ENDS[front])
                    output = f"{PANEL} .jp-Cell:nth-child(2) .jp-OutputArea"
                    events, profile = trace_end(page, output, stream["sentinel"], args.tokens / RATE, args.start)
                    name = BUILD / f"end-trace-{front.replace(' ', '')}-{args.tokens}.json"
                    name.write_text(json.dumps({"traceEvents": events}))
                    print(f"{front}, {args.tokens:,} tokens (trace: {name}):")
                    report(events, profile)
                    page.close()
                browser.close()
        finally:
            lab.stop()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
