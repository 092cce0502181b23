"""The long tasks (> 50 ms) at the end of a long Markdown reply, untraced, each with its start relative to the
moment the final copy is whole on screen: which of them are the front end's table of contents (it reads every
`text/html` output again 200 ms after the notebook changes) is seen by running with its output headings off.

    .venv/bin/python benchmarks/end_tasks.py 20000,60000                  # JupyterLab and Notebook 7, 2 pages
    .venv/bin/python benchmarks/end_tasks.py 20000,60000 --toc-outputs off --pages 3

A diagnostic, not a figure: it prints what it saw (figure 10's run, `fig_pages._end_run`) and checks no bar.
"""

from __future__ import annotations

import argparse
from typing import Any

import fig_pages
from _common import ServerProcess
from fig_browser import launch
from fig_lab import Lab

RATE = 2000.0  # tokens per second, as figure 10
TOC_OUTPUTS = "toc:display-outputs-numbering"  # JupyterLab's "Show output headings", a toggle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", help="reply sizes in tokens, comma-separated")
    parser.add_argument("--front-ends", default=",".join(fig_pages.FRONT_ENDS))
    parser.add_argument("--pages", type=int, default=2, help="fresh pages per front end and size")
    parser.add_argument("--toc-outputs", choices=["on", "off"], default="on",
                        help="whether the table of contents reads outputs (JupyterLab's default: on)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    fronts = args.front_ends.split(",")
    if args.toc_outputs == "off":
        fig_pages.configured_page = _without_output_headings(fig_pages.configured_page)
    server = ServerProcess()
    try:
        lab, streams = fig_pages.long_replies_lab(server, sizes, RATE)
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = launch(p)
                for _ in range(args.pages):
                    for front in fronts:
                        for index, tokens in enumerate(sizes, 1):
                            r = fig_pages._end_run(browser, lab, fig_pages.FRONT_ENDS[front], index,
                                                   streams[tokens]["sentinel"], tokens / RATE)
                            print(_line(front, tokens, r), flush=True)
                browser.close()
        finally:
            lab.stop()
    finally:
        server.stop()


def _line(front: str, tokens: int, r: dict[str, Any]) -> str:
    end = r["lastTextAt"] if r["lastTextAt"] is not None else r["shownAt"]
    tasks = " ".join(f"[{start - r['shownAt']:+.0f} ms: {duration:.0f} ms]"
                     for start, duration in r["tasks"] if start + duration >= end)
    return (f"{front}, {tokens:,} tokens: copy whole {r['shownAt'] - end:.0f} ms after the last text; "
            f"tasks at the end [start from then: duration]: {tasks or 'none'}")


def _without_output_headings(configured_page: Any) -> Any:
    def page_of(browser: Any, lab: Lab, path: str) -> Any:
        page = configured_page(browser, lab, path)
        page.evaluate(f"() => window.jupyterapp.commands.isToggled('{TOC_OUTPUTS}')"
                      f" && window.jupyterapp.commands.execute('{TOC_OUTPUTS}')")
        assert not page.evaluate(f"() => window.jupyterapp.commands.isToggled('{TOC_OUTPUTS}')")
        return page

    return page_of


if __name__ == "__main__":
    main()
