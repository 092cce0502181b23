"""Figures 1-3, in a real kernel: time to first token, kernel -> browser traffic, kernel CPU time.

1. TTFT and total time over many short streams, against the floor (a raw AsyncOpenAI loop).
2. Messages and bytes kernel -> browser for 1,000 / 10,000 / 100,000-token floods.
3. Kernel CPU time per 1,000 tokens (all threads of the kernel process), from the same runs as 2.
"""

from __future__ import annotations

from typing import Any

from _approaches import (
    KERNEL_APPROACHES,
    NAIVE_DISPLAY,
    NAIVE_WIDGET,
    Approach,
    Run,
    run_one,
)
from _common import Bars, Table, count, flood_prefix_bytes, flood_text, median, ms, pct, ratio, secs, size
from _jupyter_ai import JUPYTER_AI
from _kernel import Kernel

LABELS = {a.key: a.label for a in [*KERNEL_APPROACHES, JUPYTER_AI]}
FRAME = 0.04  # the default frame interval (config.OPTIONS["frame_interval"])
# Messages the naive approaches send besides one per token: the widget's comm_open (and its layout's) and
# display_data; the first display_data.
NAIVE_FIXED = {"naive_widget": 3, "naive_display": 1}


def latency(
    kernel: Kernel, base_url: str, runs: int, jai: Kernel | None, bars: Bars, tokens: int = 100
) -> tuple[Table, dict[str, Any]]:
    model = f"test/flood?tokens={tokens}&rate=0"
    expected = flood_text(tokens)
    kernels: list[tuple[Kernel, Approach]] = [(kernel, a) for a in KERNEL_APPROACHES]
    if jai is not None:
        kernels.append((jai, JUPYTER_AI))
    results: dict[str, list[Run]] = {a.key: [] for _, a in kernels}
    for k, a in kernels:  # warm-up: imports, connections, first widget
        run_one(k, a, model, base_url, timeout=120)
    for i in range(runs):
        order = kernels[i % len(kernels) :] + kernels[: i % len(kernels)]
        for k, a in order:
            results[a.key].append(run_one(k, a, model, base_url, timeout=60, expected=expected))

    floor = results["floor"]
    floor_kernel = median([r.ttft_kernel for r in floor])
    floor_seen = median([r.ttft_seen for r in floor])
    floor_total = median([r.total for r in floor])
    table = Table(
        f"1. Time to first token and total time ({tokens}-token stream, median of {runs} runs)",
        [
            "approach",
            "TTFT in kernel",
            "added",
            "execute -> first text on iopub",
            "added",
            "p90",
            "total",
            "vs floor",
            "text ok",
        ],
    )
    data: dict[str, Any] = {}
    for key, rs in results.items():
        tk = median([r.ttft_kernel for r in rs if r.ttft_kernel is not None])
        seen_list = [r.ttft_seen for r in rs if r.ttft_seen is not None]
        ts = median(seen_list)
        total = median([r.total for r in rs])
        ok = all(r.text_ok for r in rs)
        table.add(
            LABELS[key],
            ms(tk),
            "" if key == "floor" else ms(tk - floor_kernel),
            ms(ts),
            "" if key == "floor" else ms(ts - floor_seen),
            ms(pct(seen_list, 0.9)),
            ms(total),
            ratio(total, floor_total),
            "yes" if ok else "NO",
        )
        data[key] = {
            "ttft_kernel": tk,
            "ttft_seen": ts,
            "total": total,
            "text_ok": ok,
            "ttft_seen_all": seen_list,
        }
    table.note(
        "TTFT in kernel: from the line that starts the request in the cell to the first content delta "
        "in kernel code (for ling-notebook: `ling_notebook.stream(...)` to `reply.first_token_at`, "
        "which includes creating and displaying the widget and handing over to the stream thread)."
    )
    table.note(
        "execute -> first text on iopub: from the execute request leaving this driver to the first "
        "iopub message carrying reply text (what a browser could show first); for the floor, which "
        "shows nothing, to its first delta in the kernel. total: execute request to the reply's last "
        "message (the cell's idle status; for ling-notebook, which returns at once, its final copy)."
    )
    if jai is not None:
        table.note(
            "jupyter-ai runs in its own kernel (its throwaway venv); it does not stream, so its first "
            "text is the whole reply."
        )
    added_kernel = data["ours"]["ttft_kernel"] - floor_kernel
    added_seen = data["ours"]["ttft_seen"] - floor_seen
    bars.check(
        "TTFT added over the floor (request start -> first delta in the kernel)",
        "< 5 ms median",
        added_kernel < 0.005,
        ms(added_kernel),
    )
    bars.check(
        "TTFT added over the floor (execute -> first text on iopub)",
        "< 5 ms median",
        added_seen < 0.005,
        ms(added_seen),
    )
    return table, data


def traffic(
    kernel: Kernel, base_url: str, sizes: list[int], naive_max: int, jai: Kernel | None, bars: Bars
) -> tuple[Table, Table, Table, dict[str, Any]]:
    runs: dict[tuple[str, int], Run] = {}
    skipped: list[str] = []
    for n in sizes:
        model = f"test/flood?tokens={n}&rate=0"
        expected = flood_text(n)
        timeout = 60 + n / 500
        for a in KERNEL_APPROACHES:
            if a in (NAIVE_WIDGET, NAIVE_DISPLAY) and n > naive_max:
                skipped.append(f"{a.key}@{n}")
                continue
            runs[(a.key, n)] = run_one(kernel, a, model, base_url, timeout=timeout, expected=expected)
            kernel.run("gc.collect()")
        if jai is not None:
            runs[("jupyter_ai", n)] = run_one(
                jai, JUPYTER_AI, model, base_url, timeout=timeout, expected=expected
            )

    keys = [a.key for a in KERNEL_APPROACHES] + (["jupyter_ai"] if jai is not None else [])
    t2 = Table(
        "2. Kernel -> browser traffic for an N-token flood (`test/flood?tokens=N&rate=0`)",
        [
            "approach",
            "tokens",
            "text",
            "messages",
            "bytes",
            "bytes / text",
            "vs ling-notebook",
            "total time",
            "vs floor",
            "text ok",
        ],
    )
    t3 = Table(
        "3. Kernel CPU time per 1,000 tokens (all threads of the kernel process)",
        ["approach", "tokens", "CPU s", "CPU ms / 1k tokens", "vs floor"],
    )
    data: dict[str, Any] = {}
    fits: dict[str, tuple[float, float]] = {}
    dropped: list[str] = []
    for key in keys:
        measured = [n for n in sizes if (key, n) in runs]
        if key in NAIVE_FIXED and len(measured) >= 2 and len(measured) < len(sizes):
            # Scaled up by the messages ZeroMQ dropped, so the fit is of what the kernel sent.
            sent_bytes = [
                runs[(key, n)].traffic.bytes * (n + NAIVE_FIXED[key]) / runs[(key, n)].traffic.messages
                for n in measured[-2:]
            ]
            fits[key] = _fit(*(measured[-2:]), *sent_bytes)
        for n in sizes:
            text_bytes = len(flood_text(n))
            ours = runs.get(("ours", n))
            floor = runs.get(("floor", n))
            run = runs.get((key, n))
            if run is None:
                fit = fits.get(key)
                if fit is None:
                    continue
                predicted = fit[0] * n + fit[1] * flood_prefix_bytes(n)
                t2.add(
                    LABELS[key],
                    count(n),
                    size(text_bytes),
                    f"~{count(n + NAIVE_FIXED[key])}",
                    f"~{size(predicted)}",
                    f"~{ratio(predicted, text_bytes)}",
                    f"~{ratio(predicted, ours.traffic.bytes if ours else None)}",
                    "skipped",
                    "",
                    "",
                )
                continue
            b = run.traffic.bytes
            sent = n + NAIVE_FIXED.get(key, 0)
            if key in NAIVE_FIXED and run.traffic.messages < sent:
                dropped.append(
                    f"{LABELS[key]} at {n:,} tokens: {run.traffic.messages:,} of the {sent:,} messages "
                    f"sent arrived ({sent - run.traffic.messages:,} dropped)"
                )
            shows = key != "floor"
            t2.add(
                LABELS[key],
                count(n),
                size(text_bytes),
                count(run.traffic.messages),
                size(b) if shows else "-",
                ratio(b, text_bytes) if shows else "-",
                "" if key in ("ours", "floor") else ratio(b, ours.traffic.bytes if ours else None),
                secs(run.total),
                ratio(run.total, floor.total if floor else None),
                "yes" if run.text_ok else "NO",
            )
            cpu_per_k = run.cpu / n * 1000
            floor_cpu = floor.cpu / n * 1000 if floor else None
            t3.add(
                LABELS[key],
                count(n),
                f"{run.cpu:.3f}",
                f"{cpu_per_k * 1000:.1f}",
                "" if key == "floor" else ratio(cpu_per_k, floor_cpu),
            )
            data[f"{key}@{n}"] = {
                "messages": run.traffic.messages,
                "bytes": b,
                "text_bytes": text_bytes,
                "total": run.total,
                "cpu": run.cpu,
                "text_ok": run.text_ok,
                "by_kind": run.traffic.by_kind,
                "kernel": run.kernel,
            }

    ours_runs = [(n, runs[("ours", n)]) for n in sizes if ("ours", n) in runs]
    for n, run in ours_runs:
        elapsed = run.kernel["end"] - run.kernel["t0"]
        deltas = run.traffic.by_kind.get("custom messages (deltas)", [0, 0])[0]
        bound = elapsed / FRAME + 2
        t2.note(
            f"ling-notebook at {n:,} tokens: {deltas} delta messages in {secs(elapsed)} of streaming "
            f"(bound elapsed / {FRAME * 1000:.0f} ms + 2 = {bound:.0f})"
        )
    if len(ours_runs) >= 2:
        (n1, r1), (n2, r2) = ours_runs[-2], ours_runs[-1]
        slope = (r2.traffic.bytes - r1.traffic.bytes) / (len(flood_text(n2)) - len(flood_text(n1)))
        t2.note(
            f"ling-notebook, marginal bytes per byte of text between {n1:,} and {n2:,} tokens: {slope:.2f} "
            "(the linear coefficient; 1.0 would be every text byte sent once)"
        )
        data["ours_slope"] = slope
        big = r2
        parts = ", ".join(
            f"{kind}: {c:,} msgs / {size(b)}" for kind, (c, b) in sorted(big.traffic.by_kind.items())
        )
        t2.note(f"ling-notebook at {n2:,} tokens, by kind: {parts}.")
        bars.check(
            "bytes kernel->browser linear in N (<= 1.5 x text bytes + fixed overhead)",
            "slope <= 1.5",
            slope <= 1.5,
            f"slope {slope:.2f} bytes per text byte; "
            f"{ratio(big.traffic.bytes, len(flood_text(n2)))} of the text at {n2:,} tokens",
        )
    if ("ours", 10000) in runs:
        run = runs[("ours", 10000)]
        deltas = run.traffic.by_kind.get("custom messages (deltas)", [0, 0])[0]
        elapsed = run.kernel["end"] - run.kernel["t0"]
        bars.check(
            "messages for a 10,000-token flood",
            "<= elapsed / frame interval (+2)",
            deltas <= elapsed / FRAME + 2,
            f"{deltas} deltas in {secs(elapsed)} "
            f"(bound {elapsed / FRAME + 2:.0f}); {run.traffic.messages} output messages in all",
        )
    if dropped:
        t2.note(
            "; ".join(dropped) + ". The kernel's ZeroMQ PUB socket drops messages once a subscriber is 1,000 "
            "behind; this driver reads as fast as it can, and a Jupyter server subscribes the same way, so a "
            "browser would lose these updates too."
        )
    if skipped:
        t2.note(
            f"Naive approaches above {naive_max:,} tokens were not run (each token re-sends the whole text: "
            "quadratic); their '~' rows are extrapolated as a*N + b*(sum of prefix lengths) fitted to the "
            "two largest measured sizes."
        )
    t2.note(
        "bytes: header + parent header + metadata + content frames of every output iopub message (comm_open, "
        "comm_msg, display/update_display, stream), as relayed to the browser; status messages excluded."
    )
    t3.note(
        "CPU: user + system time of the kernel process (all threads: the shell, the IOPub thread, "
        "ling-notebook's stream thread) from the execute request to the reply's last message."
    )
    ours_cpu = [(n, r.cpu / n * 1000) for n, r in ours_runs]
    t_cpu = Table(
        "3b. CPU cost over the floor", ["tokens", "ling-notebook ms / 1k", "floor ms / 1k", "added"]
    )
    for n, c in ours_cpu:
        f = runs[("floor", n)].cpu / n * 1000
        t_cpu.add(count(n), f"{c * 1000:.1f}", f"{f * 1000:.1f}", f"{(c - f) * 1000:+.1f} ms ({ratio(c, f)})")
    return t2, t3, t_cpu, data


def _fit(n1: int, n2: int, b1: int, b2: int) -> tuple[float, float]:
    """Solve bytes = a*N + b*P(N) through two measured points (P: sum of prefix lengths)."""
    p1, p2 = flood_prefix_bytes(n1), flood_prefix_bytes(n2)
    det = n1 * p2 - n2 * p1
    a = (b1 * p2 - b2 * p1) / det
    b = (n1 * b2 - n2 * b1) / det
    return a, b
