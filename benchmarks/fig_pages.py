"""Figures 8-10: what a reply costs in a page, measured against shipping the front end with every reply.

8. Bytes kernel -> browser of the 1st, 2nd and 50th reply in one kernel (one page). Ours: each reply's
   comm_open carries the 3 kB stub, and the first reply also carries the renderer, answering the page's
   one `renderer` request (sent here on the shell channel, as the stub does). Baseline, in the same
   kernel: bundle-per-reply, the renderer and its CSS as every reply's anywidget ESM (how main shipped
   the front end: `_BundlePerReply` below swaps it in).
9. JupyterLab in headless Chromium: time from a reply's comm_open reaching the page (the kernel
   connection's `anyMessage` signal, at websocket receipt) to its first text on screen (the first
   `.ling-body` text, then the next frame), for the 1st and the 20th reply in one page, ours against
   bundle-per-reply, each in fresh pages, interleaved.
10. JupyterLab and Notebook 7: long tasks (PerformanceObserver `longtask`) while a 20,000 / 60,000-token
   Markdown reply streams at 2,000 tokens/s, and at its end, when the live view is replaced by the final copy
   (whatever the kernel sends then), in fresh pages, the front ends interleaved. The text is the demo model's Markdown
   (figure 5's), sent back by `test/echo`.
"""

from __future__ import annotations

import time
from typing import Any

from _approaches import setup
from _common import BUILD, Bars, ServerProcess, Table, median, ms, size
from _kernel import BOOKKEEPING, Kernel, Message, kernel_env
from fig_browser import launch, markdown_stream
from fig_lab import KERNEL_READY, NOTEBOOK, PANEL, RUN_CELL, Lab, configure_cell, configured_page, notebook

# Defines the baseline in a kernel, and how a cell picks the widget class `stream()` uses.
PER_REPLY_SETUP = '''
import ling_notebook.widget as _lw
class _BundlePerReply(_lw.ReplyWidget):
    """How main shipped the front end: the whole renderer and its CSS in every reply's comm_open."""
    _esm = _lw.STATIC / "app.js"
    _css = _lw.STATIC / "app.css"
_Stub = _lw.ReplyWidget
'''
MODES = {"stub": "ling-notebook: stub + renderer once per page", "per_reply": "bundle per reply (main)"}
DEMO = "ling-offline-demo?rate=0"


def use(mode: str) -> str:
    return f"_lw.ReplyWidget = {'_BundlePerReply' if mode == 'per_reply' else '_Stub'}"


def _prompt(i: int) -> str:
    return f"Explain topic number {i} with an example"


def _one_reply(kernel: Kernel, i: int, ask_renderer: bool) -> dict[str, Any]:
    """Run reply `i` to its end (final copy and comm_close); count its output messages and bytes."""
    state: dict[str, Any] = {"bytes": 0, "messages": 0, "comm": None, "ended": False, "idle": False,
                             "renderer": 0, "comm_open": 0}
    msg_id = kernel.execute(f"r = ling_notebook.stream({_prompt(i)!r}, model={DEMO!r})")

    def on_message(m: Message) -> bool:
        if m.type == "status":
            state["idle"] |= m.parent_id == msg_id and m.content["execution_state"] == "idle"
        elif m.type not in BOOKKEEPING:
            state["bytes"] += m.size
            state["messages"] += 1
            content = m.content
            if m.type == "comm_open" and content["data"]["state"].get("_model_name") == "AnyModel":
                state["comm"] = content["comm_id"]
                state["comm_open"] = m.size
                if ask_renderer:
                    kernel.client.shell_channel.send(kernel.client.session.msg("comm_msg", {
                        "comm_id": state["comm"], "data": {"method": "custom", "content": {"type": "renderer"}}}))
            elif m.type == "comm_msg" and b'"type": "renderer"' in m.raw_content[:300]:
                state["renderer"] += m.size
            elif m.type == "comm_close" and content["comm_id"] == state["comm"]:
                state["ended"] = True
        return state["ended"] and state["idle"]

    kernel.pump(on_message, 60)
    kernel.shell_reply(msg_id)
    state["text"] = len(kernel.value("r.text").encode())
    return state


def reply_bytes(server: ServerProcess, replies: int, bars: Bars) -> tuple[Table, dict[str, Any]]:
    kernel = Kernel(kernel_env(server.url), log=str(BUILD / "kernel-pages.log"))
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        setup(kernel, server.url, naive=False)
        kernel.run(PER_REPLY_SETUP)
        for mode in MODES:
            kernel.run(use(mode))
            runs[mode] = [_one_reply(kernel, i, ask_renderer=mode == "stub" and i == 1) for i in range(1, replies + 1)]
            kernel.run("gc.collect()")
    finally:
        kernel.shutdown()
    table = Table(
        f"8. Kernel -> browser bytes per reply, {replies} replies in one kernel and page "
        f"(`{DEMO}`, a new prompt each)",
        ["reply", "text", "ours: bytes", "vs text", "of which comm_open", "bundle per reply: bytes", "vs text",
         "bundle / ours"],
    )
    picks = sorted({1, 2, replies})
    for n in picks:
        ours, old = runs["stub"][n - 1], runs["per_reply"][n - 1]
        table.add(f"{n}{' (asks for the renderer)' if n == 1 else ''}", size(ours["text"]), size(ours["bytes"]),
                  f"{ours['bytes'] / ours['text']:.2f}x", size(ours["comm_open"]), size(old["bytes"]),
                  f"{old['bytes'] / old['text']:.2f}x", f"{old['bytes'] / ours['bytes']:.1f}x")
    total = {mode: sum(r["bytes"] for r in rows) for mode, rows in runs.items()}
    texts = sum(r["text"] for r in runs["stub"])
    table.add(f"all {replies}", size(texts), size(total["stub"]), f"{total['stub'] / texts:.2f}x", "",
              size(total["per_reply"]), f"{total['per_reply'] / texts:.2f}x",
              f"{total['per_reply'] / total['stub']:.1f}x")
    first = runs["stub"][0]
    table.note(f"the 1st reply in a page also carries the renderer: {size(first['renderer'])} in one custom message "
               f"(the page's one request); the rest of that reply is {size(first['bytes'] - first['renderer'])}.")
    table.note("bytes: every output iopub message of the reply (comm_open, deltas, state updates, the final copy, "
               "comm_close), frames as relayed to the browser; status messages excluded.")
    worst = max(runs["stub"][1:], key=lambda r: r["bytes"] - (2.6 * r["text"] + 10_000))
    margin = 2.6 * worst["text"] + 10_000 - worst["bytes"]
    later = ", ".join(f"#{n}: {size(runs['stub'][n - 1]['bytes'])} for {size(runs['stub'][n - 1]['text'])}"
                      for n in picks if n > 1)
    bars.check("bytes of a reply after the first in a page", "<= 2.6 x its text + 10 kB", margin >= 0,
               f"{later}; worst of replies 2-{replies} {size(abs(margin))} {'under' if margin >= 0 else 'over'} "
               f"the bar; 1st {size(first['bytes'])} (renderer included)")
    return table, {"runs": runs}


# -- JupyterLab ------------------------------------------------------------------------------------
# Installed before each reply: notes when the reply's comm_open arrives and when its text is first on
# screen (text in `.ling-body`, then the frame after: the rAF callback runs before that frame paints).
# The reply streams for about a second (`rate=400`), so its first text normally shows in the live view.
PAINT_PROBE = """(sel) => {
  const probe = window.__probe = { openAt: null, textAt: null, paintAt: null };
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  if (!window.__probeHooked) {
    window.__probeHooked = true;
    kernel.anyMessage.connect((_, { msg, direction }) => {
      const p = window.__probe;
      if (direction === 'recv' && msg.header.msg_type === 'comm_open' && p.openAt === null
          && msg.content.data?.state?._model_name === 'AnyModel') p.openAt = performance.now();
    });
  }
  const output = document.querySelector(sel);
  window.__probeObserver?.disconnect();
  const look = () => {
    // The reply's text in the live view, or in the final copy when the reply ended before the view rendered.
    const body = output.querySelector('.ling-body');
    const shown = body ? body.textContent.trim() !== ''
      : !output.querySelector('.ling-widget') && output.textContent.includes('first paint');
    if (probe.textAt !== null || !shown) return;
    probe.textAt = performance.now();
    requestAnimationFrame(() => setTimeout(() => { probe.paintAt = performance.now(); }, 0));
  };
  window.__probeObserver = new MutationObserver(look);
  window.__probeObserver.observe(output, { subtree: true, childList: true, characterData: true });
}"""
ENDED = """([sel, sentinel]) => { const o = document.querySelector(sel);
  return Boolean(o && !o.querySelector('.ling-widget') && o.innerText.includes(sentinel)); }"""


def _lab_notebook(server: ServerProcess, reply_cell: str) -> dict[str, Any]:
    return notebook(configure_cell(server) + "\n" + PER_REPLY_SETUP, use("stub"), use("per_reply"), reply_cell)


def first_paint(server: ServerProcess, replies: int, rounds: int) -> tuple[Table, dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    reply_cell = "r = ling_notebook.stream('Explain first paint with an example', model='ling-offline-demo?rate=400')"
    lab = Lab(server, _lab_notebook(server, reply_cell))
    output = f"{PANEL} .jp-Cell:nth-child(4) .jp-OutputArea"
    times: dict[str, dict[int, list[float]]] = {mode: {} for mode in MODES}
    try:
        with sync_playwright() as p:
            browser = launch(p)
            try:
                for _ in range(rounds):
                    for mode in MODES:
                        page = browser.new_page(viewport={"width": 1200, "height": 900})
                        try:
                            page.goto(f"{lab.url}/lab/workspaces/bench/tree/{NOTEBOOK}?token={lab.token}")
                            page.wait_for_function(KERNEL_READY, timeout=60_000, polling=100)
                            page.evaluate(RUN_CELL, 0)
                            page.evaluate(RUN_CELL, 1 if mode == "stub" else 2)
                            page.wait_for_function(KERNEL_READY, timeout=30_000, polling=50)
                            for i in range(1, replies + 1):
                                page.evaluate(PAINT_PROBE, output)
                                page.evaluate(RUN_CELL, 3)
                                page.wait_for_function("() => window.__probe.paintAt !== null", timeout=30_000,
                                                       polling=20)
                                probe = page.evaluate("window.__probe")
                                times[mode].setdefault(i, []).append((probe["paintAt"] - probe["openAt"]) / 1000)
                                page.wait_for_function(ENDED, arg=[output, "first paint"], timeout=30_000, polling=50)
                                page.wait_for_function(KERNEL_READY, timeout=30_000, polling=50)
                        finally:
                            page.close()
            finally:
                browser.close()
    finally:
        lab.stop()
    table = Table(
        f"9. JupyterLab: a reply's comm_open reaching the page -> its first text on screen "
        f"(median of {rounds} fresh pages each, interleaved)",
        ["reply in the page", *MODES.values(), "bundle / ours"],
    )
    for n in sorted({1, 2, replies}):
        ours, old = median(times["stub"][n]), median(times["per_reply"][n])
        table.add(f"{n}", ms(ours), ms(old), f"{old / ours:.2f}x")
    later = {mode: median([t for n in range(2, replies + 1) for t in times[mode][n]]) for mode in MODES}
    table.add(f"2-{replies}, all together", ms(later["stub"]), ms(later["per_reply"]),
              f"{later['per_reply'] / later['stub']:.2f}x")
    table.note("ours, 1st reply: includes asking the kernel for the renderer and importing it; later replies "
               "reuse it. bundle per reply: anywidget imports the 200 kB renderer for every reply.")
    return table, {"times": times}


FRONT_ENDS = {"JupyterLab": "/lab/workspaces/bench/tree/{nb}", "Notebook 7": "/notebooks/{nb}"}


def end_tasks(server: ServerProcess, sizes: list[int], rounds: int = 1,
              rate: float = 2000.0) -> tuple[Table, dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    lab, streams = long_replies_lab(server, sizes, rate)
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {front: {t: [] for t in sizes} for front in FRONT_ENDS}
    try:
        with sync_playwright() as p:
            browser = launch(p)
            try:
                for _ in range(rounds):
                    for front, path in FRONT_ENDS.items():  # interleaved, so both see the same machine
                        for index, tokens in enumerate(sizes, 1):
                            runs[front][tokens].append(
                                _end_run(browser, lab, path, index, streams[tokens]["sentinel"], tokens / rate))
            finally:
                browser.close()
    finally:
        lab.stop()
    table = Table(
        f"10. Long tasks (> 50 ms) of a Markdown reply streamed at {rate:,.0f} tokens/s, and at its end "
        f"({rounds} fresh page(s) each, interleaved)",
        ["front end", "tokens", "text", "while streaming: count / longest",
         "end (last text -> final copy + 1 s): count / longest", "longest at the end, each page",
         "last text -> final copy shown"],
    )
    results: dict[str, dict[int, dict[str, Any]]] = {front: {} for front in FRONT_ENDS}
    for front, by_size in runs.items():
        for tokens, pages in by_size.items():
            for r in pages:
                end_from = r["lastTextAt"] if r["lastTextAt"] is not None else r["shownAt"]
                r["streaming"] = [d for s, d in r["tasks"] if s + d < end_from]
                r["ending"] = [d for s, d in r["tasks"] if s + d >= end_from]
                r["max_streaming"] = max(r["streaming"], default=0.0)
                r["max_end"] = max(r["ending"], default=0.0)
                r["shown_after"] = r["shownAt"] - end_from
            mid = sorted(pages, key=lambda r: r["max_end"])[len(pages) // 2]  # the page with the median end
            results[front][tokens] = {"pages": pages, "max_end": mid["max_end"],
                                      "max_streaming": median([r["max_streaming"] for r in pages])}
            table.add(front, f"{tokens:,}", size(len(streams[tokens]["text"].encode())),
                      f"{len(mid['streaming'])} / {ms(mid['max_streaming'] / 1000) if mid['streaming'] else '-'}",
                      f"{len(mid['ending'])} / {ms(mid['max_end'] / 1000) if mid['ending'] else '-'}",
                      ", ".join(ms(r["max_end"] / 1000) if r["ending"] else "-" for r in pages),
                      ms(median([r["shown_after"] for r in pages]) / 1000))
    table.note("A task that overlaps the moment the last text is on screen counts as the end's. Each row is the "
               "page whose longest task at the end is the median of its pages (all of them in the 6th column). "
               "The final copy is whatever the kernel displays when the reply ends.")
    return table, {"results": results, "rounds": rounds,
                   "text_bytes": {t: len(s["text"].encode()) for t, s in streams.items()}}


def long_replies_lab(server: ServerProcess, sizes: list[int], rate: float) -> tuple[Lab, dict[int, dict[str, Any]]]:
    """A Jupyter server whose notebook's cell i (from 1) streams a Markdown reply of `sizes[i - 1]` tokens at
    `rate` tokens/s, and those replies' streams (their text and sentinel)."""
    streams = {tokens: markdown_stream(server, tokens, rate, 0.04) for tokens in sizes}
    cells = [f"r = ling_notebook.stream(open('long-{t}.md').read(), model='test/echo?rate="
             f"{rate * len(streams[t]['text']) / 4 / t:.0f}')" for t in sizes]  # echo: 4-character pieces
    files = {f"long-{t}.md": stream["text"] for t, stream in streams.items()}
    return Lab(server, notebook(configure_cell(server), *cells), files), streams


def _end_run(browser: Any, lab: Lab, path: str, index: int, sentinel: str, seconds: float) -> dict[str, Any]:
    """Long tasks in a fresh page (a long final copy left on a page slows what follows) while cell `index`
    streams its reply and until 1 s after the final copy shows."""
    page = configured_page(browser, lab, path)
    try:
        output = f"{PANEL} .jp-Cell:nth-child({index + 1}) .jp-OutputArea"
        page.evaluate(
            """([sel, sentinel]) => {
              const r = window.__tasks = { tasks: [], lastTextAt: null, shownAt: null };
              new PerformanceObserver((list) => { for (const e of list.getEntries())
                r.tasks.push([e.startTime, e.duration]); }).observe({ type: 'longtask' });
              const output = document.querySelector(sel);
              new MutationObserver(() => {
                const body = output.querySelector('.ling-body');
                if (r.lastTextAt === null && body && body.textContent.includes(sentinel))
                  r.lastTextAt = performance.now();
                // textContent, not innerText: the copy's off-screen chunks are not
                // rendered (content-visibility), so innerText never holds the last words.
                if (r.shownAt === null && !output.querySelector('.ling-widget')
                    && output.textContent.includes(sentinel)) r.shownAt = performance.now();
              }).observe(output, { subtree: true, childList: true, characterData: true });
            }""",
            [output, sentinel],
        )
        started = time.monotonic()
        page.evaluate(RUN_CELL, index)
        page.wait_for_function("() => window.__tasks.shownAt !== null", timeout=(60 + 3 * seconds) * 1000,
                               polling=200)
        page.wait_for_timeout(1000)  # the observer's window: until 1 s after the final copy shows
        r = page.evaluate("window.__tasks")
        r["wall"] = time.monotonic() - started
        return r
    finally:
        page.close()


def end_bars(data: dict[str, Any], bars: Bars) -> None:
    for front, by_size in data["results"].items():
        for tokens, limit in ((20_000, 50), (60_000, 100)):
            r = by_size.get(tokens)
            if r is None:
                continue
            longest = max(r["max_streaming"], r["max_end"])
            pages = ", ".join(f"{p['max_end']:.0f}" for p in r["pages"])
            bars.check(f"{front}: {tokens:,}-token Markdown reply, its end included", f"no task over {limit} ms",
                       longest <= limit, f"longest {longest:.0f} ms (streaming {r['max_streaming']:.0f} ms, "
                       f"end {r['max_end']:.0f} ms; median of {len(r['pages'])} pages, ends: {pages} ms)")
