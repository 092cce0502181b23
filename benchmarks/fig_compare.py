"""Figure 11, in a real kernel: one comparison of 4 models against four plain replies in the same run.

Both stream the same four 10,000-token floods (`test/flood?tokens=N&rate=0`) at once: the comparison
as `ling_notebook.compare(...)` (one widget, one coalesced message per frame for all its columns), the
baseline as four `ling_notebook.stream(...)` calls in one cell (four widgets, each with its own
messages). Counted: kernel -> browser messages and bytes (static copies included), bytes per byte of
text, kernel CPU time per 1,000 tokens, and delta messages against the elapsed-time bound.
"""

from __future__ import annotations

from typing import Any

from _approaches import kind_of
from _common import Bars, Table, count, flood_text, median, ratio, secs, size
from _kernel import BOOKKEEPING, Kernel, Message, Traffic

FRAME = 0.04  # the default frame interval (config.OPTIONS["frame_interval"])
DELTAS = "custom messages (deltas)"

CELLS = {
    "plain": (
        "four plain replies: 4 x stream()",
        "_bench_t0 = time.perf_counter()\n"
        "_bench_replies = [ling_notebook.stream('go', model={model!r}) for _ in range({models})]",
    ),
    "compare": (
        "one comparison: compare(models=[4])",
        "_bench_t0 = time.perf_counter()\n"
        "_bench_replies = list(ling_notebook.compare('go', models=[{model!r}] * {models}))",
    ),
}
RESULT = ('{"t0": _bench_t0, "end": max(r.ended_at for r in _bench_replies), '
          '"texts": [r.text for r in _bench_replies], "status": [r.status for r in _bench_replies]}')


def _run(kernel: Kernel, key: str, model: str, models: int, timeout: float) -> dict[str, Any]:
    """Run one cell; count every output message until the last static copy has arrived."""
    traffic = Traffic()
    finals = 1 if key == "compare" else models
    state = {"idle": False, "finals": 0}
    cpu0 = kernel.cpu_seconds()
    msg_id = kernel.execute(CELLS[key][1].format(model=model, models=models))

    def on_message(m: Message) -> bool:
        if m.parent_id == msg_id and m.type == "status" and m.content["execution_state"] == "idle":
            state["idle"] = True
        elif m.type == "error":
            raise RuntimeError(f"{key}: {m.content['ename']}: {m.content['evalue']}")
        elif m.type not in BOOKKEEPING:
            traffic.add(kind_of(m), m.size)
            if m.type == "update_display_data":
                state["finals"] += 1
        return state["idle"] and state["finals"] >= finals

    kernel.pump(on_message, timeout)
    cpu = kernel.cpu_seconds() - cpu0
    kernel.shell_reply(msg_id)
    result = kernel.value(RESULT)
    kernel.run("gc.collect()")
    return {"traffic": traffic, "cpu": cpu, **result}


def comparison(kernel: Kernel, tokens: int, models: int, repeats: int, bars: Bars) -> tuple[Table, dict[str, Any]]:
    model = f"test/flood?tokens={tokens}&rate=0"
    expected = flood_text(tokens)
    text_bytes = len(expected) * models
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key in CELLS}
    for key in CELLS:  # warm-up: imports, connections, first widgets
        _run(kernel, key, "test/flood?tokens=100&rate=0", models, 60)
    for i in range(repeats):
        for key in (list(CELLS) if i % 2 == 0 else list(reversed(CELLS))):
            runs[key].append(_run(kernel, key, model, models, 60 + tokens * models / 500))

    table = Table(
        f"11. A comparison of {models} models x {tokens:,}-token floods against {models} plain replies "
        f"(median of {repeats} runs each, interleaved)",
        ["approach", "text", "messages", "delta messages", "bound", "bytes", "bytes / text",
         "CPU ms / 1k tokens", "vs plain", "streaming", "text ok"],
    )
    data: dict[str, Any] = {}
    plain_cpu = None
    for key, (label, _) in CELLS.items():
        rs = runs[key]
        messages = median([r["traffic"].messages for r in rs])
        deltas = median([r["traffic"].by_kind.get(DELTAS, [0, 0])[0] for r in rs])
        elapsed = median([r["end"] - r["t0"] for r in rs])
        total_bytes = median([r["traffic"].bytes for r in rs])
        cpu_per_k = median([r["cpu"] for r in rs]) / (tokens * models) * 1000
        plain_cpu = cpu_per_k if key == "plain" else plain_cpu
        ok = all(r["texts"] == [expected] * models and r["status"] == ["done"] * models for r in rs)
        bound = elapsed / FRAME + 2
        table.add(label, size(text_bytes), count(messages), count(deltas),
                  f"{bound:.0f}" if key == "compare" else f"{models} x {bound:.0f}", size(total_bytes),
                  ratio(total_bytes, text_bytes), f"{cpu_per_k * 1000:.1f}",
                  "" if key == "plain" else ratio(cpu_per_k, plain_cpu), secs(elapsed), "yes" if ok else "NO")
        data[key] = {"messages": messages, "deltas": deltas, "bytes": total_bytes, "text_bytes": text_bytes,
                     "cpu_ms_per_1k": cpu_per_k * 1000, "elapsed": elapsed, "text_ok": ok,
                     "by_kind": rs[-1]["traffic"].by_kind}
    compare = data["compare"]
    table.note("bytes: every output iopub message of the cell until the last static copy (comm_open with "
               "the widget code, state updates, deltas, the static copies); status messages excluded.")
    table.note("bound: elapsed streaming time / 40 ms frame + 2, per widget; a comparison is one widget.")
    table.note("by kind, comparison: " + ", ".join(
        f"{kind}: {c:,} msgs / {size(b)}" for kind, (c, b) in sorted(compare["by_kind"].items())))
    bars.check(
        f"comparison of {models} x {tokens:,}-token floods: delta messages",
        "<= elapsed / frame interval (+2), one widget",
        compare["deltas"] <= compare["elapsed"] / FRAME + 2,
        f"{compare['deltas']:.0f} deltas in {secs(compare['elapsed'])} "
        f"(bound {compare['elapsed'] / FRAME + 2:.0f}); {models} plain replies: {data['plain']['deltas']:.0f}",
    )
    return table, data
