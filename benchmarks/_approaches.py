"""This project and its baselines, as the code a user would run in a cell, and how to time each one.

Every approach consumes the same stream from the built-in server. Times are taken with
`time.perf_counter()` both in the kernel and here: on Linux it is CLOCK_MONOTONIC, one clock for the
whole machine, so a kernel-side stamp and the arrival of an iopub message here can be compared.
"""

from __future__ import annotations

import html
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from _kernel import BOOKKEEPING, Kernel, Message, Traffic

API_KEY = "sk-bench-not-a-secret"

# Run once in each kernel. The baselines are written the way such notebooks usually are: a cell that
# awaits an `openai.AsyncOpenAI` stream and updates its output per token.
SETUP = '''
import json, time, gc
import openai
from IPython.display import display, Markdown, update_display
_bench_client = openai.AsyncOpenAI(base_url={base!r}, api_key={key!r}, max_retries=0)

async def _bench_loop(model, on_delta, prompt="go"):
    """A raw AsyncOpenAI loop: returns (request start, first content delta) perf_counter stamps."""
    t0 = time.perf_counter()
    first = None
    stream = await _bench_client.chat.completions.create(
        model=model, messages=[{{"role": "user", "content": prompt}}], stream=True,
        stream_options={{"include_usage": True}})
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if first is None:
                    first = time.perf_counter()
                on_delta(chunk.choices[0].delta.content)
    return t0, first

def _bench_result(t0, first, text):
    return {{"t0": t0, "first": first, "end": time.perf_counter(), "chars": len(text), "status": "done",
             "ok": True}}
'''

SETUP_OURS = """
import ling_notebook
ling_notebook.configure(base_url={base!r}, api_key={key!r})
"""

SETUP_NAIVE_WIDGET = '''
import anywidget, traitlets

class NaiveWidget(anywidget.AnyWidget):
    """The naive live view: one synced `text` trait, appended per token."""
    _esm = """export default { render({ model, el }) {
      const show = () => { el.textContent = model.get("text"); };
      show(); model.on("change:text", show);
      return () => model.off("change:text", show); } };"""
    text = traitlets.Unicode("").tag(sync=True)
'''


@dataclass
class Approach:
    key: str
    label: str
    cell: str  # the cell; {model} is filled in
    result: str  # an expression giving {"t0", "first", "end", "chars", "status"} once the reply has ended
    blocking: bool = True  # the cell runs until the reply has ended
    streams: bool = True  # shows text before the reply ends


FLOOR = Approach(
    "floor",
    "floor: raw AsyncOpenAI loop, no display",
    "_bench_parts = []\n_bench_t = await _bench_loop({model!r}, _bench_parts.append)\n"
    "_bench_r = _bench_result(*_bench_t, ''.join(_bench_parts))",
    "_bench_r",
)
OURS = Approach(
    "ours",
    "ling-notebook: stream() widget",
    "_bench_t0 = time.perf_counter()\n_bench_reply = ling_notebook.stream('go', model={model!r})",
    '{"t0": _bench_t0, "first": _bench_reply.first_token_at, "end": _bench_reply.ended_at, '
    # Its length without reading it whole: `text` would keep a str of it from then on (reply.TextBuffer).
    '"chars": len(_bench_reply._content), "status": _bench_reply.status}',
    blocking=False,
)
NAIVE_WIDGET = Approach(
    "naive_widget",
    "naive widget: w.text += delta",
    "_bench_w = NaiveWidget()\ndisplay(_bench_w)\n"
    "def _bench_on(d):\n    _bench_w.text += d\n"
    "_bench_t = await _bench_loop({model!r}, _bench_on)\n_bench_r = _bench_result(*_bench_t, _bench_w.text)",
    "_bench_r",
)
NAIVE_DISPLAY = Approach(
    "naive_display",
    "display(Markdown) + update_display per token",
    "_bench_text = ''\ndisplay(Markdown(''), display_id='bench')\n"
    "def _bench_on(d):\n    global _bench_text\n    _bench_text += d\n"
    "    update_display(Markdown(_bench_text), display_id='bench')\n"
    "_bench_t = await _bench_loop({model!r}, _bench_on)\n_bench_r = _bench_result(*_bench_t, _bench_text)",
    "_bench_r",
)
KERNEL_APPROACHES = [FLOOR, OURS, NAIVE_WIDGET, NAIVE_DISPLAY]

_METHOD = re.compile(rb'"method":\s*"(\w+)"')


def kind_of(m: Message) -> str:
    """The kind of an output message, read without parsing large bodies."""
    if m.type == "comm_msg":
        found = _METHOD.search(m.raw_content[:400])
        method = found.group(1).decode() if found else "?"
        return {"custom": "custom messages (deltas)", "update": "state updates"}.get(method, f"comm {method}")
    if m.type == "comm_open":
        return "comm_open (widget code + state)"
    if m.type in ("display_data", "update_display_data", "execute_result"):
        return "display messages"
    return m.type


def setup(kernel: Kernel, base_url: str, *, ours: bool = True, naive: bool = True, extra: str = "") -> None:
    kernel.run(SETUP.format(base=base_url, key=API_KEY))
    if ours:
        kernel.run(SETUP_OURS.format(base=base_url, key=API_KEY))
    if naive:
        kernel.run(SETUP_NAIVE_WIDGET)
    if extra:
        kernel.run(extra)


@dataclass
class Run:
    approach: str
    executed_at: float  # perf_counter when the execute request left
    first_seen_at: float | None  # first iopub message carrying reply text
    ended_at: float  # the reply's last iopub message
    kernel: dict[str, Any]  # the approach's `result`
    traffic: Traffic
    cpu: float  # kernel CPU seconds, all threads
    text_ok: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ttft_kernel(self) -> float | None:
        """Request start (in the cell) to the first content delta in the kernel."""
        k = self.kernel
        return k["first"] - k["t0"] if k.get("first") is not None else None

    @property
    def ttft_seen(self) -> float | None:
        """Execute request sent to the first text on iopub (for the floor: the kernel's first delta)."""
        if self.first_seen_at is not None:
            return self.first_seen_at - self.executed_at
        if self.approach == "floor" and self.kernel.get("first") is not None:
            return self.kernel["first"] - self.executed_at
        return None

    @property
    def total(self) -> float:
        return self.ended_at - self.executed_at


def _has_text(m: Message, approach: str) -> bool:
    if approach == "ours":
        if m.type != "comm_msg" or kind_of(m) != "custom messages (deltas)":
            return False
        content = m.content["data"]["content"]
        return content.get("type") == "delta" and bool(content.get("content"))
    if approach == "naive_widget":
        return m.type == "comm_msg" and bool(m.content["data"].get("state", {}).get("text"))
    if approach == "naive_display":
        return m.type == "update_display_data" and bool(m.content["data"].get("text/markdown"))
    if approach == "jupyter_ai":
        return m.type in ("display_data", "execute_result")
    return False


def run_one(
    kernel: Kernel,
    approach: Approach,
    model: str,
    base_url: str,
    timeout: float = 600,
    expected: str | None = None,
    watch: Any = None,
    copy_has: str | None = None,
) -> Run:
    """Run one reply with `approach` and measure it. `watch(message)` sees every message too. The static copy
    must hold `copy_has` (by default the `expected` text, HTML-escaped: plain words render as themselves)."""
    traffic = Traffic()
    first_seen: list[float] = []
    state: dict[str, Any] = {"idle": False, "end": None, "deltas": [], "static": None, "seqs": []}
    check = expected is not None and approach.key == "ours"
    cpu0 = kernel.cpu_seconds()
    alias = f"{zlib.crc32(model.encode()):08x}"  # a name for the model where one is needed (jupyter-ai)
    msg_id = kernel.execute(approach.cell.format(model=model, base=base_url, alias=alias))
    executed_at = time.perf_counter()

    def on_message(m: Message) -> bool:
        if watch is not None:
            watch(m)
        if m.parent_id == msg_id and m.type == "status":
            if m.content["execution_state"] == "idle":
                state["idle"] = True
                if approach.blocking:
                    state["end"] = m.at
        elif m.type == "error":
            raise RuntimeError(f"{approach.key}: {m.content['ename']}: {m.content['evalue']}")
        elif m.type not in BOOKKEEPING:
            traffic.add(kind_of(m), m.size)
            if not first_seen and _has_text(m, approach.key):
                first_seen.append(m.at)
            if check and m.type == "comm_msg":
                data = m.content["data"]
                if data.get("method") == "custom" and data["content"].get("type") == "delta":
                    state["deltas"].append(data["content"]["content"])
                    state["seqs"].append(data["content"]["seq"])
            if not approach.blocking and m.type == "update_display_data":
                state["end"] = m.at  # the static copy that replaces the live view: the last message
                state["static"] = m.content["data"].get("text/html")
        return state["idle"] and state["end"] is not None

    kernel.pump(on_message, timeout)
    cpu = kernel.cpu_seconds() - cpu0
    kernel.shell_reply(msg_id)
    result = kernel.value(approach.result)
    run = Run(
        approach.key, executed_at, first_seen[0] if first_seen else None, state["end"], result, traffic, cpu
    )
    if expected is not None:
        run.text_ok = result["chars"] == len(expected) and result.get("status") == "done"
        if check:
            joined = "".join(state["deltas"])
            gapless = state["seqs"] == list(range(1, len(state["seqs"]) + 1))
            in_copy = (copy_has or html.escape(expected.strip(), quote=False)) in (state["static"] or "")
            run.text_ok = run.text_ok and joined == expected and in_copy and gapless
            if not run.text_ok:
                run.notes.append(
                    f"text check failed: deltas {len(joined)} chars, in the static copy={in_copy}, "
                    f"seq gapless={gapless}"
                )
    return run
