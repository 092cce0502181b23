"""Figure 5: the browser's main thread while a 100,000-token Markdown reply streams, without JupyterLab.

A harness page (harness/) loads a renderer through anywidget's `render({model, el})` contract with a
fake model, and a Web Worker plays the kernel: it posts delta messages every 40 ms (the kernel's frame
interval) on its own clock, each holding the tokens that arrived in that interval, whatever the main
thread is doing. The reply is the demo model's Markdown (headings, paragraphs, lists, code, tables)
repeated. Renderers:

- ours: the renderer bundle (`ling_notebook/static/app.js`, which the per-reply stub loads once per
  page; or a fresh build of js/ when that one is older than the sources);
- naive: markdown-it (highlight.js for code, as ours) over the whole text, DOMPurify, `innerHTML`,
  on every message.

Files are served from the repository by a local http.server on 127.0.0.1; Chromium is Debian's.
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
import time
import urllib.request
from typing import Any

from _common import BUILD, ROOT, Bars, ServerProcess, Table, count, ms, pct, ratio, size

ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"
STATIC = ROOT / "ling_notebook" / "static"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)


def widget_bundle() -> tuple[str, str, str]:
    """(module URL, CSS URL, note) of the renderer: the shipped bundle when it is current, else a fresh
    build of js/."""
    sources = [*(ROOT / "js").glob("*.ts"), *(ROOT / "js").glob("*.css"), ROOT / "js" / "build.mjs"]
    shipped = STATIC / "app.js"
    newest = max((p.stat().st_mtime for p in sources), default=0)
    if shipped.exists() and shipped.stat().st_mtime >= newest:
        return ("/ling_notebook/static/app.js", "/ling_notebook/static/app.css", "ling_notebook/static/app.js")
    out = BUILD / "widget"
    subprocess.run(["node", "js/build.mjs", str(out)], cwd=ROOT, check=True, timeout=120)
    why = "older than js/" if shipped.exists() else "missing"
    return (
        "/benchmarks/build/widget/app.js",
        "/benchmarks/build/widget/app.css",
        f"a fresh build of js/ (ling_notebook/static/app.js is {why}; `node js/build.mjs`)",
    )


def naive_bundle() -> str:
    out = BUILD / "naive.js"
    subprocess.run(
        [
            str(ESBUILD),
            "benchmarks/harness/naive.js",
            "--bundle",
            "--minify",
            "--format=esm",
            "--target=es2020",
            f"--outfile={out}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    return "/benchmarks/build/naive.js"


def markdown_stream(server: ServerProcess, tokens: int, rate: float, interval: float) -> dict[str, Any]:
    """The demo model's replies to a few prompts, repeated to `tokens` pieces, cut into delta messages."""
    from ling_notebook.server.scenarios import PIECE  # how the server cuts its replies into tokens

    replies = []
    for topic in (
        "pandas group-by and pivot tables",
        "asyncio cancellation in Python",
        "choosing a database index",
        "writing a tokenizer",
        "testing a streaming API",
    ):
        body = json.dumps(
            {
                "model": "ling-offline-demo?rate=0",
                "stream": False,
                "messages": [{"role": "user", "content": f"Explain {topic} with an example"}],
            }
        ).encode()
        request = urllib.request.Request(
            f"{server.url}/chat/completions",
            body,
            {"Content-Type": "application/json", "Authorization": "Bearer x"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            replies.append(json.loads(response.read())["choices"][0]["message"]["content"] + "\n")
    pieces: list[str] = []
    i = 0
    while len(pieces) < tokens:
        pieces.extend(PIECE.findall(replies[i % len(replies)]))
        i += 1
    sentinel = f"bench-end-{tokens}"
    pieces = pieces[:tokens] + ["\n\n", f"{sentinel}", "\n"]
    per_message = max(1, round(rate * interval))
    messages = []
    for seq, start in enumerate(range(0, len(pieces), per_message), 1):
        messages.append(
            {
                "type": "delta",
                "seq": seq,
                "content": "".join(pieces[start : start + per_message]),
                "reasoning": "",
                "elapsed": seq * interval,
                "ttft": 0.05,
                "chunks": min(len(pieces), start + per_message),
            }
        )
    text = "".join(pieces)
    return {"messages": messages, "text": text, "sentinel": sentinel, "interval": interval * 1000}


class StaticServer:
    """The repository over HTTP on 127.0.0.1, quietly, in a thread."""

    def __init__(self) -> None:
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

        handler = functools.partial(Quiet, directory=str(ROOT))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


METRICS = ("ScriptDuration", "TaskDuration", "LayoutDuration", "RecalcStyleDuration")


def _run_page(browser: Any, url: str, cap: float) -> dict[str, Any]:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1000, "height": 800})
    try:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(url)
        page.wait_for_function("window.__ready === true", timeout=30_000)
        errors = page.evaluate("window.__bench.errors")
        if errors:
            raise RuntimeError(f"the harness failed: {errors}")
        before = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        page.evaluate("() => { window.__start().then(() => { window.__done = true; }); }")
        t0 = time.monotonic()
        finished = True
        try:
            page.wait_for_function("window.__done === true", timeout=cap * 1000, polling=250)
        except PlaywrightTimeout:  # report what was measured so far
            finished = False
        wall = time.monotonic() - t0
        after = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        bench = page.evaluate("window.__bench")
        bench["finished"] = finished
        bench["wall"] = wall
        bench["metrics"] = {k: after.get(k, 0) - before.get(k, 0) for k in METRICS}
        return bench
    finally:
        page.close()


def _summary(b: dict[str, Any], planned: float) -> dict[str, Any]:
    start = b.get("startedAt", 0)
    fed = b.get("fedAt") or float("inf")
    streaming = [d for s, d in b["longtasks"] if start <= s <= fed]
    js = b["handlers"] + b["frames"]
    return {
        "finished": b["finished"],
        "long_streaming": len(streaming),
        "max_streaming": max(streaming, default=0.0) / 1000,
        "long_all": len(b["longtasks"]),
        "max_all": max((d for _, d in b["longtasks"]), default=0.0) / 1000,
        "sum_long": sum(d for _, d in b["longtasks"]) / 1000,
        "max_js": max(js, default=0.0) / 1000,
        "p99_js": pct(js, 0.99) / 1000 if js else 0.0,
        "handlers": len(b["handlers"]),
        "frames": len(b["frames"]),
        "script": b["metrics"]["ScriptDuration"],
        "task": b["metrics"]["TaskDuration"],
        "layout": b["metrics"]["LayoutDuration"] + b["metrics"]["RecalcStyleDuration"],
        "feed": ((b.get("lastHandledAt") or 0) - start) / 1000 if b.get("lastHandledAt") else None,
        "planned": planned,
        "lag": ((b["shownAt"] - b["lastHandledAt"]) / 1000)
        if b.get("shownAt") and b.get("lastHandledAt")
        else None,
        "wall": b["wall"],
    }


def browser_figure(
    server: ServerProcess, tokens: int, rate: float, bars: Bars, cap: float = 240
) -> tuple[Table, dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    BUILD.mkdir(parents=True, exist_ok=True)
    widget_js, widget_css, widget_note = widget_bundle()
    naive_js = naive_bundle()
    interval = 0.04
    stream = markdown_stream(server, tokens, rate, interval)
    data_path = BUILD / f"markdown-stream-{tokens}.json"
    data_path.write_text(json.dumps(stream))
    data_url = f"/benchmarks/build/{data_path.name}"
    planned = len(stream["messages"]) * interval
    static = StaticServer()
    results: dict[str, Any] = {}
    try:
        with sync_playwright() as p:
            browser = launch(p)
            try:
                base = f"{static.url}/benchmarks/harness/index.html?data={data_url}"
                results["ours"] = _summary(
                    _run_page(browser, f"{base}&renderer=ours&module={widget_js}&css={widget_css}", cap),
                    planned,
                )
                results["naive"] = _summary(
                    _run_page(browser, f"{base}&renderer=naive&module={naive_js}", cap), planned
                )
            finally:
                browser.close()
    finally:
        static.stop()

    o, n = results["ours"], results["naive"]
    text = stream["text"]
    t = Table(
        f"5. Browser main thread while a {tokens:,}-token Markdown reply streams "
        f"({size(len(text.encode()))}, "
        f"{len(stream['messages'])} delta messages every {interval * 1000:.0f} ms)",
        ["measure", "ling-notebook", "naive: re-parse all per update", "naive / ours"],
    )

    def row(label: str, key: str, fmt: Any = ms) -> None:
        t.add(label, fmt(o[key]), fmt(n[key]), ratio(n[key], o[key]) if o[key] else "-")

    def longest(seconds: float) -> str:
        return ms(seconds) if seconds else "none > 50 ms"

    row("long tasks (> 50 ms) while streaming", "long_streaming", count)
    row("longest task while streaming", "max_streaming", longest)
    row("long tasks, whole run (incl. the final render)", "long_all", count)
    row("longest task, whole run", "max_all", longest)
    row("time in long tasks, whole run", "sum_long")
    row("longest JS callback (message handler or animation frame)", "max_js")
    row("p99 JS callback", "p99_js")
    row("scripting time (CDP ScriptDuration)", "script")
    row("style + layout time (CDP)", "layout")
    row("main-thread task time (CDP TaskDuration)", "task")
    row(f"last message handled, after the first (plan: {planned:.1f} s)", "feed")
    row("last message -> final text on screen", "lag")
    for key, r in results.items():
        if not r["finished"]:
            t.note(f"{key}: did not finish within {cap:.0f} s; the numbers cover what ran until then.")
    t.note(
        f"ours = {widget_note}. Tokens arrive at {rate:,.0f}/s "
        "(about what a 100,000-token flood reaches through "
        f"the kernel), {round(rate * interval)} per message. Long tasks come from a PerformanceObserver "
        "('longtask', which includes style and layout); JS callbacks are timed around each message handler "
        "and requestAnimationFrame callback."
    )
    bars.check(
        f"browser: {tokens:,}-token Markdown reply",
        "no main-thread task over 50 ms while streaming",
        o["finished"] and o["long_streaming"] == 0,
        f"{o['long_streaming']} long tasks while streaming, longest JS callback {ms(o['max_js'])}; "
        f"naive: {n['long_streaming']} long tasks, longest {ms(n['max_streaming'])}",
    )
    return t, {
        "results": results,
        "widget": widget_note,
        "messages": len(stream["messages"]),
        "text_bytes": len(text.encode()),
    }
