"""The cost of the static copy (ling_notebook.render) for long replies, in this process.

For demo-model-like Markdown (the offline demo's replies, one after another) of 20,000, 60,000 and
1,000,000 tokens, and the 1,000,000-token flood (`test/flood`, one paragraph): the Python time of
`reply_bundle`, the size of its HTML against the Markdown, and the peak memory it allocates
(tracemalloc) against the text, as UTF-8 and as the str in memory (2 bytes a character once a text
holds a character beyond Latin-1, as the demo's quotes are). Run: `python benchmarks/render_cost.py`.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from types import SimpleNamespace

from _common import Table, flood_text, ratio, secs, size

from ling_notebook import render
from ling_notebook.server.scenarios import demo_reply

CHARS_PER_TOKEN = 5.4  # the demo model: a 60,000-token reply is about 324 kB of Markdown


def demo_text(tokens: int) -> str:
    target, parts, length, i = int(tokens * CHARS_PER_TOKEN), [], 0, 0
    while length < target:
        part = demo_reply(f"Question {i} about spring gardens, soil and seeds") + "\n"
        parts.append(part)
        length += len(part)
        i += 1
    return "".join(parts)[:target]


def fake_reply(text: str) -> SimpleNamespace:
    return SimpleNamespace(text=text, reasoning="", error=None, status="done", model="ling-offline-demo",
                           ttft=0.2, tokens_per_s=40.0, usage=None, finish_reason="stop")


def main() -> None:
    table = Table("Static copy: Python time, HTML size and peak memory of render.reply_bundle",
                  ["reply", "Markdown", "time", "HTML", "HTML / Markdown", "peak / text (UTF-8)",
                   "peak / text (str)"])
    cases = [(f"demo-like, {n:,} tokens", demo_text(n)) for n in (20_000, 60_000, 1_000_000)]
    cases.append(("flood, 1,000,000 tokens", flood_text(1_000_000)))
    for name, text in cases:
        reply = fake_reply(text)
        start = time.perf_counter()
        out = render.reply_bundle(reply)
        elapsed = time.perf_counter() - start
        html_bytes = len(out["text/html"].encode())
        del out
        tracemalloc.start()
        render.reply_bundle(reply)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        text_bytes = len(text.encode())
        table.add(name, size(text_bytes), secs(elapsed), size(html_bytes), ratio(html_bytes, text_bytes),
                  ratio(peak, text_bytes), ratio(peak, sys.getsizeof(text)))
    print(table.markdown())


if __name__ == "__main__":
    main()
