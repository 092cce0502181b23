"""The peak memory of packing a long reply's copy (packed.py), in a process of its own: the RSS high-water mark
beyond the text while `packed.content_bytes` packs the copy of figure 6b's Markdown answer.

    .venv/bin/python benchmarks/pack_peak.py                 # packed.SLICE as shipped
    .venv/bin/python benchmarks/pack_peak.py --slice 1048576 # another slice size

A diagnostic, not a figure: it prints its numbers and checks no bar. Linux only (/proc/self).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import sys

from ling_notebook import packed, render
from ling_notebook.server.scenarios import markdown_pieces


def status(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))


def pack(text: str) -> bytes:
    return packed.content_bytes(render._wrapped(render._windows(text)), "plain",
                                {render.COPY_METADATA: {"markdown": [text]}}, "d")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--slice", type=int, default=packed.SLICE)
    args = parser.parse_args()
    packed.SLICE = args.slice
    pack("".join(p for _, p in markdown_pieces(20_000)))  # warm-up: what the first copy loads once
    text = "".join(p for _, p in markdown_pieces(args.tokens))
    utf8 = len(text.encode())
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM
    content = pack(text)
    peak = status("VmHWM") - before
    print(f"text {utf8 / 1e6:.2f} MB UTF-8, {sys.getsizeof(text) / 1e6:.2f} MB as a str; message "
          f"{len(content) / utf8:.2f}x the text; peak beyond the text {peak / utf8:.2f}x (slice {args.slice:,})")


if __name__ == "__main__":
    main()
