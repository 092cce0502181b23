"""How a reply is shown: the widget in a Jupyter front end, tokens on stdout anywhere else.

`stream()`, `compare()` and `batch()` are the public entry points for code; the `%%ling` magic builds on
`start()`, `start_comparison()` and `show_batch()`.

This is the showing side: the models (`reply.py`, ...) never import their views. What a model shows when no live
view shows it (its static copy, built in `render`) is registered here with `showing`, at import, and the view
modules are imported only when something is shown.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import config, showing
from .batch import Batch, TerminalProgress, fill_rows, listed
from .compare import Comparison, check_models
from .errors import Interrupted
from .record import batch_provenance
from .reply import MAX_ROUNDS, Reply
from .terminal import printable
from .tools import Tool, toolbox


@config.keeps_secrets_out_of_tracebacks
def stream(
    prompt_or_messages: str | list[dict[str, Any]],
    *,
    model: str | None = None,
    system: str | None = None,
    tools: list[Callable[..., Any] | Tool] | None = None,
    max_rounds: int = MAX_ROUNDS,
    approve: bool = False,
    **options: Any,
) -> Reply:
    """Send a chat request and show the reply as it streams; return the `Reply` at once.

    `prompt_or_messages` is a prompt string or a list of `{"role": ..., "content": ...}` messages.
    `options` may hold settings (`base_url`, `api_key`, `client`, `timeout`, ...), any request field
    (`temperature`, `max_tokens`, `extra_body`, ...) and Ant Ling's own `search=True` and `effort="high"`
    (or "xhigh"). In a terminal, tokens go to stdout, the call returns when the reply ends, and Ctrl-C
    stops it; in Jupyter with `background=False` (the default in Google Colab) the call returns then too,
    while the view streams (`hold`).

    `tools` are functions (or `ling_notebook.tool(...)`s) the model may call; each is described from its
    signature before anything is sent. The reply goes on for at most `max_rounds` requests. `approve=True`
    shows Run and Skip on each call's card before it runs (Jupyter only).
    """
    box = toolbox(tools)
    settings = config.resolve(model=model, **{k: options.pop(k) for k in config.SETTING_NAMES if k in options})
    reply = start(build_messages(prompt_or_messages, system), settings, params=config.request_params(options),
                  tools=box, max_rounds=max_rounds, approve=approve)
    hold(reply, settings.background)
    return reply


def build_messages(prompt_or_messages: str | list[dict[str, Any]], system: str | None = None) -> list[dict[str, Any]]:
    if isinstance(prompt_or_messages, str):
        if not prompt_or_messages.strip():
            raise config.ConfigurationError("The prompt is empty: write what you want to ask.")
        messages = [{"role": "user", "content": prompt_or_messages}]
    else:
        messages = [dict(m) for m in prompt_or_messages]
        if not messages:
            raise config.ConfigurationError("The list of messages is empty.")
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def start(
    messages: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
    settings: config.Settings,
    *,
    stream: bool = True,
    params: dict[str, Any] | None = None,
    after: Callable[[], Reply | None] | None = None,
    tools: dict[str, Tool] | None = None,
    max_rounds: int = MAX_ROUNDS,
    approve: bool = False,
    continues: int = 0,
) -> Reply:
    """Create a reply, attach its view, send the request, and return the reply (`continues`: the earlier turns
    its conversation resumed from the log, which its status line names)."""
    if max_rounds < 1:
        raise config.ConfigurationError(f"max_rounds must be at least 1, not {max_rounds}.")
    if approve and not in_kernel():
        raise config.ConfigurationError("approve=True needs the Run and Skip buttons of a Jupyter front end; "
                                        "outside Jupyter, call reply.decide(call_id, run) from your own code.")
    if approve and not settings.background:
        raise config.ConfigurationError(
            "approve=True waits for a Run or Skip click, which the kernel cannot take in while the cell waits for "
            "the reply (--wait, --code, background=False, the default in Google Colab): ask without waiting "
            "(background=True). Nothing was sent.")
    reply = Reply(messages, settings, stream=stream, params=params, after=after, tools=tools, max_rounds=max_rounds,
                  approve=approve, continues=continues)
    if in_kernel():
        from .interrupt import install
        from .widget import ReplyWidget

        install()

        # Shown before the request starts: serialising the widget's comm_open while the stream thread
        # parses the first chunks only delays both (measured when that message carried 200 kB).
        reply.view = ReplyWidget(reply)
        reply.view.show()
        return reply.start()
    reply.add_listener(TerminalPrinter())
    reply.start()
    try:
        reply.wait()
    except KeyboardInterrupt:
        print("\n[stopped]", file=sys.stderr)  # wait() has already stopped the reply
    return reply


# Seconds an interrupted foreground cell still waits for what it stopped to end (its final copy sent).
STOP_GRACE = 10.0


def hold(running: Reply | Comparison | Batch, background: bool) -> None:
    """Foreground mode (`background=False`, `%%ling --wait`, `--code`): in a kernel, the cell waits here until
    `running` ends, so a front end that shows no update sent after its cell ended (Google Colab) sees it all.

    The cell waits on the kernel's main thread, where due tool calls run; the stream goes on on the runner's
    thread, which sends the view's updates and the final copy meanwhile. Interrupting the kernel stops what
    it waits on, which keeps the text that arrived, and ends the cell as interrupted (`Interrupted`).
    Outside a kernel `start()` and its kin have waited already.
    """
    if background or not in_kernel():
        return
    try:
        running.wait()
    except KeyboardInterrupt:  # wait() has stopped it; its end (the final copy) still goes out in this cell
        with contextlib.suppress(TimeoutError, KeyboardInterrupt):
            running.wait(STOP_GRACE)
        raise Interrupted(f"interrupted: the {type(running).__name__.lower()} stopped; "
                          "it keeps the text that had arrived.") from None


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

    Every model gets the same messages and the same `options` (settings such as `base_url` and
    `background`, and request fields such as `temperature`, `search` and `effort`, as for
    `ling_notebook.stream`). Returns a `Comparison` at once in Jupyter (once every reply has ended with
    `background=False`); in a terminal, when every reply has ended (Ctrl-C stops them all).
    """
    if "model" in options:
        raise config.ConfigurationError("compare() takes models=[...], a list of names, not model=.")
    overrides = {k: options.pop(k) for k in config.SETTING_NAMES if k in options}
    settings = [config.resolve(model=model, **overrides) for model in check_models(models)]
    comparison = start_comparison(build_messages(prompt_or_messages, system), settings, stream=stream,
                                  params=config.request_params(options))
    hold(comparison, settings[0].background)
    return comparison


def start_comparison(
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
    from .compare_widget import terminal_text

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



@config.keeps_secrets_out_of_tracebacks
def batch(
    prompts: Any,
    *,
    data: Any = None,
    model: str | None = None,
    system: str | None = None,
    concurrency: int = 8,
    retries: int = 2,
    **options: Any,
) -> Batch:
    """Send one request per item, at most `concurrency` at a time; return the `Batch` at once.

    `prompts` is a list (or any iterable, or a pandas Series) of prompts, each a string or a list of
    messages; or a template string filled once per row of `data` (a pandas DataFrame or a list of
    dicts: `{column}`; a list or Series: `{item}`). Braces in Markdown code stay as written, `{{` is
    a brace. Each item is an independent request: `system` + its prompt, no conversation history.
    `retries`: how often the client retries a 429/5xx/connection failure (honouring `retry-after`).
    `options`: settings (`base_url`, `api_key`, `client`, `timeout`, `background`, ...), `stream=False`, and
    request fields (`temperature`, `max_tokens`, `search`, `effort`, ...). In a terminal, a progress line
    goes to stderr, the call returns when the batch ends, and Ctrl-C stops it; so does the call in Jupyter
    with `background=False`.
    """
    settings = config.resolve(
        model=model, max_retries=retries, **{k: options.pop(k) for k in config.SETTING_NAMES if k in options}
    )
    stream = bool(options.pop("stream", True))
    if isinstance(prompts, str):
        if data is None:
            raise config.ConfigurationError(
                "A template needs data=... to fill it (a DataFrame, a list of dicts, or a list). "
                "For a single prompt use ling_notebook.stream()."
            )
        texts, index = fill_rows(prompts, data, {})
        items: list[str | list[dict[str, Any]]] = list(texts)
    else:
        if data is not None:
            raise config.ConfigurationError(
                "data=... fills a template string: pass the template as the first argument.")
        items, index = listed(prompts)
    requests = [build_messages(item, system) for item in items]
    running = show_batch(Batch(requests, settings, params=config.request_params(options), concurrency=concurrency,
                               index=index, stream=stream))
    hold(running, settings.background)
    return running


def show_batch(batch: Batch) -> Batch:
    """`Batch.show()`: attach the progress view (the widget in Jupyter, a line on stderr elsewhere) and start.

    In a terminal this returns when the batch ends; Ctrl-C stops it."""
    if in_kernel():
        from .batch_widget import BatchView
        from .interrupt import install

        install()

        view = BatchView(batch)
        view.show()
        batch.views.append(view)
        return batch.start()
    batch.views.append(TerminalProgress())
    batch.start()
    try:
        batch.wait()
    except KeyboardInterrupt:
        batch.wait()  # wait() has stopped every item; they end at once
    return batch


def in_kernel() -> bool:
    """True inside a Jupyter kernel, where widgets can render."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


class TerminalPrinter:
    """Prints tokens to stdout as they arrive, cleaned of control characters (`terminal.printable`);
    reasoning dimmed when stdout is a terminal; a line per tool call once it has run (or not)."""

    def __init__(self) -> None:
        self._dim = sys.stdout.isatty()
        self._in_reasoning = False

    def on_status(self, reply: Reply) -> None:
        pass

    def on_delta(self, reply: Reply, content: str, reasoning: str) -> None:
        content, reasoning = printable(content), printable(reasoning)
        if reasoning:
            if self._dim and not self._in_reasoning:
                sys.stdout.write("\033[2m")
            self._in_reasoning = True
            sys.stdout.write(reasoning)
        if content:
            if self._in_reasoning:
                sys.stdout.write("\033[0m\n\n" if self._dim else "\n\n")
                self._in_reasoning = False
            sys.stdout.write(content)
        sys.stdout.flush()

    def on_part(self, reply: Reply, call: Any, arguments: str) -> None:
        if not call.ended:
            return
        outcome = call.error if call.error is not None else call.result or call.state
        line = f"[tool {call.name}({call.arguments_text[:200]}) {call.state}: {outcome[:300]}]"
        sys.stdout.write(("\033[2m" if self._dim else "") + printable(line).replace("\n", " ")
                         + ("\033[0m" if self._dim else "") + "\n")
        sys.stdout.flush()

    def on_end(self, reply: Reply) -> None:
        if self._in_reasoning and self._dim:
            sys.stdout.write("\033[0m")
        sys.stdout.write("\n")
        sys.stdout.flush()
        if reply.error:
            print(f"ling-notebook: {printable(reply.error)}", file=sys.stderr)


def _show_reply_copy(reply: Reply) -> None:
    from IPython.display import display

    from .render import reply_bundle, reply_metadata

    display(reply_bundle(reply), raw=True, metadata=reply_metadata(reply))


def _reply_html(reply: Reply) -> str:
    from .render import reply_bundle

    return reply_bundle(reply)["text/html"]


showing.register(Reply, show=_show_reply_copy, html=_reply_html)


def _show_comparison_copy(comparison: Comparison) -> None:
    from IPython.display import display

    from .compare_widget import comparison_bundle, comparison_metadata

    display(comparison_bundle(comparison), raw=True, metadata=comparison_metadata(comparison))


showing.register(Comparison, show=_show_comparison_copy)


def _show_batch_summary(batch: Batch) -> None:
    from IPython.display import display

    display(_batch_summary(batch), raw=True, metadata=batch_provenance(batch))


def _batch_summary(batch: Batch) -> dict[str, str]:
    from .batch_widget import summary_bundle

    return summary_bundle(batch)


showing.register(Batch, show=_show_batch_summary, start=show_batch, summary=_batch_summary)
