"""Comparisons: one prompt sent to several models at once, their replies shown side by side.

Owns the `Comparison` object (a sequence of `Reply`, one per model, in the order of the models),
`compare()` for code, the start of all replies at once, and the terminal printout. The live view is
`compare_widget.CompareWidget`; the static copy and summary table are built through `render`.
Streaming itself is the replies' own: a comparison only starts, watches and stops them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, overload

from . import config
from .display import build_messages, in_kernel
from .record import comparison_provenance
from .reply import Reply
from .terminal import printable

MIN_MODELS, MAX_MODELS = 2, 6

SUMMARY_HEADER = ("model", "TTFT", "tokens/s", "prompt tokens", "completion tokens", "finish", "elapsed")


class Comparison(Sequence[Reply]):
    """The replies of one prompt sent to several models, in the order of the models."""

    def __init__(self, replies: Sequence[Reply], models: Sequence[str]) -> None:
        self.replies: list[Reply] = list(replies)
        self.models: list[str] = list(models)
        self.view: Any = None  # the widget showing the comparison, when there is one

    @overload
    def __getitem__(self, index: int) -> Reply: ...
    @overload
    def __getitem__(self, index: slice) -> list[Reply]: ...
    def __getitem__(self, index: int | slice) -> Reply | list[Reply]:
        return self.replies[index]

    def __len__(self) -> int:
        return len(self.replies)

    def __iter__(self) -> Iterator[Reply]:
        return iter(self.replies)

    @property
    def ended(self) -> bool:
        return all(reply.ended for reply in self.replies)

    @property
    def status(self) -> str:
        """"streaming" until every reply has ended; then "done" if all are done, else "partial"."""
        if not self.ended:
            return "streaming"
        return "done" if all(reply.status == "done" for reply in self.replies) else "partial"

    def stop(self) -> None:
        """Stop every reply that is still running; each keeps the text that arrived."""
        for reply in self.replies:
            reply.stop()

    def wait(self, timeout: float | None = None) -> list[str]:
        """Block until every reply has ended; return their texts. Interrupting the kernel stops them all."""
        try:
            _, running = concurrent.futures.wait([reply._ended for reply in self.replies], timeout)
        except KeyboardInterrupt:
            self.stop()
            raise
        if running:
            raise TimeoutError(f"The comparison is still streaming after {timeout:g} s.")
        return [reply.text for reply in self.replies]

    def __await__(self) -> Generator[Any, None, list[str]]:
        return self._gather().__await__()

    async def _gather(self) -> list[str]:
        return list(await asyncio.gather(*(reply._waiter() for reply in self.replies)))

    def __repr__(self) -> str:
        return f"<Comparison of {len(self.replies)} models {self.status}: {', '.join(self.models)}>"

    def _ipython_display_(self) -> None:
        if self.view is not None:
            self.view.show()  # another live view of the same comparison
        else:
            from IPython.display import display

            display(comparison_bundle(self), raw=True, metadata=comparison_metadata(self))


@config.keeps_secrets_out_of_tracebacks
def compare(
    prompt_or_messages: str | list[dict[str, Any]],
    models: Sequence[str],
    *,
    system: str | None = None,
    stream: bool = True,
    **options: Any,
) -> Comparison:
    """Send one prompt to every model in `models` (2 to 6) at once; show the replies side by side.

    Every model gets the same messages and the same `options` (settings such as `base_url`, and request
    fields such as `temperature`, as for `ling_notebook.stream`). Returns a `Comparison` at once in
    Jupyter; in a terminal, when every reply has ended (Ctrl-C stops them all).
    """
    if "model" in options:
        raise config.ConfigurationError("compare() takes models=[...], a list of names, not model=.")
    overrides = {k: options.pop(k) for k in config.SETTING_NAMES if k in options}
    settings = [config.resolve(model=model, **overrides) for model in check_models(models)]
    return start(build_messages(prompt_or_messages, system), settings, stream=stream,
                 params=config.request_params(options))


def check_models(models: Sequence[str]) -> list[str]:
    if isinstance(models, str):
        raise config.ConfigurationError("models must be a list of model names, like ['model-a', 'model-b'].")
    models = list(models)
    if not MIN_MODELS <= len(models) <= MAX_MODELS:
        raise config.ConfigurationError(
            f"A comparison takes {MIN_MODELS} to {MAX_MODELS} models, not {len(models)}. "
            "For one model use %%ling -m NAME or ling_notebook.stream()."
        )
    return models


def start(
    messages: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
    settings: Sequence[config.Settings],
    *,
    stream: bool = True,
    params: dict[str, Any] | None = None,
    after: Callable[[], Reply | None] | None = None,
) -> Comparison:
    """Create one reply per settings, show them, send every request at once, return the comparison."""
    if callable(messages):
        messages = _once(messages)  # every model gets the very same list, built when the first is sent
    replies = [Reply(messages, s, stream=stream, params=dict(params or {}), after=after) for s in settings]
    comparison = Comparison(replies, [reply.model for reply in replies])  # as the replies show them
    if in_kernel():
        from .compare_widget import CompareWidget
        from .interrupt import install

        install()

        comparison.view = CompareWidget(comparison)
        comparison.view.show()
        _start_all(replies)
        return comparison
    _start_all(replies)
    try:
        comparison.wait()
    except KeyboardInterrupt:
        print("\n[stopped]", file=sys.stderr)  # wait() has already stopped them all
        for reply in replies:  # let each record its end before it is printed
            reply._ended.result(5)
    print(printable(terminal_text(comparison)))
    return comparison


def _start_all(replies: list[Reply]) -> None:
    for reply in replies:
        reply.start()


def _once(build: Callable[[], list[dict[str, Any]]]) -> Callable[[], list[dict[str, Any]]]:
    """`build`, called once; later calls return the same list. Replies call it on the one stream thread."""
    built: list[list[dict[str, Any]]] = []

    def messages() -> list[dict[str, Any]]:
        if not built:
            built.append(build())
        return built[0]

    return messages


# -- what is shown when the comparison has ended --------------------------------------------------


def _seconds(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f} s"


def summary_rows(comparison: Comparison) -> list[tuple[str, ...]]:
    """One row per reply, in the order of `SUMMARY_HEADER`, as text."""
    rows = []
    for reply in comparison:
        usage = reply.usage
        rows.append((
            reply.model,
            _seconds(reply.ttft),
            "–" if reply.tokens_per_s is None else f"{reply.tokens_per_s:.0f}",
            "–" if usage is None else str(usage.prompt_tokens),
            "–" if usage is None else str(usage.completion_tokens),
            reply.finish_reason or {"stopped": "stopped by user"}.get(reply.status, reply.status),
            _seconds(reply.elapsed),
        ))
    return rows


def plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def terminal_text(comparison: Comparison) -> str:
    """Each reply under its model's name, one after another, then the summary table."""
    parts = []
    for reply in comparison:
        parts.append(f"=== {reply.model} ===")
        if reply.reasoning:
            parts.append(f"[reasoning]\n{reply.reasoning}\n[/reasoning]")
        parts.append(reply.text or f"[{reply.status}, no text]")
        if reply.error:
            parts.append(f"[error] {reply.error}")
        parts.append("")
    parts.append(plain_table(SUMMARY_HEADER, summary_rows(comparison)))
    return "\n".join(parts)


# Scoped to the comparison's wrapper (inside render's `.ling-static`): columns side by side, wrapping
# to rows when narrow, aligned at the top, each as long as its reply (a saved copy is read, not scrolled:
# a column cut at a fixed height hid its end, status line and all). Each column's header is laid out as the
# live column's (js/widget.css): the model, cut short, and the actions (js/copies.ts) on the first row, the
# state and numbers below, so the header has one shape in every column and does not move at the end.
_STYLE = """<style>
.ling-static .ling-compare{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:12px;
align-items:start;margin:0 0 10px}
.ling-static .ling-column{min-width:0;padding:0 8px 6px;border:1px solid var(--jp-border-color2,#ddd);
border-radius:var(--jp-border-radius,2px)}
.ling-static.ling-static .ling-compare-bar{display:flex;align-items:center;min-height:22px;margin:0 0 6px;
color:var(--jp-ui-font-color2,#666);font-family:var(--jp-ui-font-family,system-ui,sans-serif);
font-size:var(--jp-ui-font-size1,13px)}
.ling-static.ling-static .ling-column>.ling-status{padding-top:4px}
.ling-static .ling-column>.ling-status>.ling-model{flex:1 1 0;min-width:0;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
.ling-static .ling-column>.ling-status>.ling-actions{order:1}
.ling-static .ling-column>.ling-status::after{content:"";order:2;flex-basis:100%}
.ling-static .ling-column>.ling-status>.ling-state{order:3}
</style>"""


def comparison_bundle(comparison: Comparison) -> dict[str, str]:
    """The static copy that replaces the live view: the replies side by side, then the summary table;
    every piece of it is built by `render`, the one path from untrusted text to HTML."""
    from .render import bundle, reply_html, table_html, text_html

    count = f"{len(comparison.replies)} models" + (", all ended" if comparison.ended else "")
    bar = text_html(count, "ling-compare-bar")  # where the live view has its count and Stop all
    columns = "".join(f'<div class="ling-column">{reply_html(reply)}</div>' for reply in comparison)
    table = table_html(SUMMARY_HEADER, summary_rows(comparison))
    return bundle(f'{_STYLE}{bar}<div class="ling-compare">{columns}</div>{table}', terminal_text(comparison))


def comparison_metadata(comparison: Comparison) -> dict[str, Any]:
    """The output metadata of the static copy: its provenance and each column's Markdown (`render.copy_metadata`)."""
    from .render import copy_metadata

    return copy_metadata(comparison_provenance(comparison), *(reply.text for reply in comparison))
