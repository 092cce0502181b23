"""What importing a bundle costs a fresh Chromium page: each file given is imported from a Blob URL (as the
stub imports the renderer and formulas.ts imports Temml) in new pages; the import's time and the longest task
(PerformanceObserver `longtask`, over 50 ms) are printed, medians.

    .venv/bin/python benchmarks/import_cost.py ling_notebook/static/app.js ling_notebook/static/math.js

A diagnostic, not a figure: it checks no bar.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from fig_browser import launch

IMPORT = """async (source) => {
  const tasks = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) tasks.push(e.duration); })
    .observe({ type: 'longtask' });
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const started = performance.now();
  await import(url);
  const took = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 300));
  return { took, longest: Math.max(0, ...tasks) };
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", nargs="+", type=Path)
    parser.add_argument("--pages", type=int, default=11)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        for bundle in args.bundles:
            source = bundle.read_text(encoding="utf-8")
            runs = []
            for _ in range(args.pages):
                page = browser.new_page()
                page.set_content("<html><body></body></html>")
                runs.append(page.evaluate(IMPORT, source))
                page.close()
            longest = statistics.median(r["longest"] for r in runs)
            print(f"{bundle}: {len(source) / 1000:.0f} kB, import {statistics.median(r['took'] for r in runs):.0f} ms, "
                  f"longest task {f'{longest:.0f} ms' if longest else 'none'} (medians of {args.pages} pages)")
        browser.close()


if __name__ == "__main__":
    main()
