"""What every figure shares: the built-in server in its own process, statistics, tables, the machine."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# A benchmark never writes to the user's reply log: replies made here, and the processes started from here,
# record nothing unless a figure passes a log of its own.
os.environ["LING_LOG"] = "off"
BENCH = ROOT / "benchmarks"
BUILD = BENCH / "build"  # git-ignored: bundles, harness output, results


class ServerProcess:
    """`ling-notebook serve` on 127.0.0.1, a free port, in a child process of ours.

    A process of its own, so that generating the streams competes neither with the kernel nor with
    this driver for a GIL. Its request records are read over loopback (`GET /_ling/requests`).
    """

    def __init__(self, rate: float = 1000.0) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ling_notebook.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--rate",
                str(rate),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the banner, printed once the port is open
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"the built-in server did not start: {line.strip()!r}")
        self.url = match.group(1)
        self.root = self.url.removesuffix("/v1")

    def records(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.root}/_ling/requests", timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def clear(self) -> None:
        request = urllib.request.Request(f"{self.root}/_ling/requests", method="DELETE")
        urllib.request.urlopen(request, timeout=10).close()

    def wait_for(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in reversed(self.records()):
                if predicate(record):
                    return record
            time.sleep(0.005)
        raise TimeoutError("no request record matched in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # our own child, by its handle
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# -- numbers -------------------------------------------------------------------------------------
def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float | None) -> str:
    if seconds is None or _missing(seconds):
        return "-"
    value = seconds * 1000
    return (
        f"{value:.2f} ms"
        if abs(value) < 10
        else f"{value:.1f} ms"
        if abs(value) < 100
        else f"{value:,.0f} ms"
    )


def secs(seconds: float | None) -> str:
    if seconds is None or _missing(seconds):
        return "-"
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def size(n: float | None) -> str:
    if n is None or _missing(n):
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or _missing(a) or _missing(b) or b == 0:
        return "-"
    r = a / b
    return f"{r:.2f}x" if r < 10 else f"{r:,.0f}x"


def count(n: float | None) -> str:
    return "-" if n is None or _missing(n) else f"{n:,.0f}"


# -- tables ---------------------------------------------------------------------------------------
class Table:
    """A Markdown table that prints readably in a terminal too."""

    def __init__(self, title: str, headers: Sequence[str]) -> None:
        self.title = title
        self.headers = list(headers)
        self.rows: list[list[str]] = []
        self.notes: list[str] = []

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def note(self, text: str) -> None:
        self.notes.append(text)

    def markdown(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
            for i, h in enumerate(self.headers)
        ]

        def line(cells: Sequence[str]) -> str:
            return (
                "| "
                + " | ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(cells, widths, strict=True))
                )
                + " |"
            )

        out = [
            f"### {self.title}",
            "",
            line(self.headers),
            "| "
            + " | ".join("-" * w if i == 0 else "-" * (w - 1) + ":" for i, w in enumerate(widths))
            + " |",
        ]
        out += [line(r) for r in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"


class Bars:
    """The bars of DESIGN.md section 5: each figure reports met / missed with its numbers."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, bool | None, str]] = []  # (what, bar, met, measured)

    def check(self, what: str, bar: str, met: bool | None, measured: str) -> None:
        self.items.append((what, bar, met, measured))

    def table(self) -> Table:
        table = Table("Bars (DESIGN.md section 5)", ["what", "bar", "measured", "verdict"])
        for what, bar, met, measured in self.items:
            table.add(what, bar, measured, "not measured" if met is None else "met" if met else "**MISSED**")
        return table


# -- the machine ---------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    info: dict[str, str] = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "nproc": str(os.cpu_count())}
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        info["cpu"] = found.group(1).strip() if found else platform.processor()
        mem = re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE)
        info["ram"] = f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "?"
    except OSError:
        info["cpu"], info["ram"] = platform.processor(), "?"
    info["os"] = f"{platform.system()} {platform.release()}"
    info["python"] = platform.python_version()
    versions = []
    from importlib.metadata import PackageNotFoundError, version

    for name in (
        "ling-notebook",
        "ipykernel",
        "jupyter_client",
        "anywidget",
        "openai",
        "tornado",
        "playwright",
        "jupyterlab",
    ):
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            if name == "ling-notebook":
                import ling_notebook

                versions.append(f"ling-notebook {ling_notebook.__version__} (source)")
    info["packages"] = ", ".join(versions)
    try:
        out = subprocess.run(
            ["/usr/bin/chromium", "--version"], check=False, capture_output=True, text=True, timeout=20
        )
        info["chromium"] = (out.stdout.strip().splitlines() or ["?"])[-1]
    except (OSError, subprocess.TimeoutExpired):
        info["chromium"] = "not found"
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "ling_notebook", "js"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        info["commit"] = commit + (" + uncommitted changes in ling_notebook/ or js/" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return info


def flood_text(tokens: int) -> str:
    """What `test/flood?tokens=N` sends, joined."""
    return "".join(f" w{i}" for i in range(1, tokens + 1))


def flood_prefix_bytes(tokens: int) -> int:
    """The sum of the lengths of every prefix of the flood text.

    What re-sending the whole text per token costs.
    """
    total = length = 0
    for i in range(1, tokens + 1):
        length += len(str(i)) + 2
        total += length
    return total
