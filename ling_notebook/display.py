"""How a reply is shown: the widget in a Jupyter front end, tokens on stdout anywhere else.

`stream()` is the public entry point for code; the `%%ling` magic builds on `start()`.

This is the showing side: the models (`reply.py`, ...) never import their views. What a model shows when no live
view shows it (its static copy, built in `render`) is registered here with `showing`, at import, and the view
modules are imported only when something is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from . import config, showing
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
    `options` may hold settings (`base_url`, `api_key`, `client`, `timeout`, ...) and any request
    field (`temperature`, `max_tokens`, `extra_body`, ...). In a terminal, tokens go to stdout, the
    call returns when the reply ends, and Ctrl-C stops it.

    `tools` are functions (or `ling_notebook.tool(...)`s) the model may call; each is described from its
    signature before anything is sent. The reply goes on for at most `max_rounds` requests. `approve=True`
    shows Run and Skip on each call's card before it runs (Jupyter only).
    """
    box = toolbox(tools)
    settings = config.resolve(model=model, **{k: options.pop(k) for k in config.SETTING_NAMES if k in options})
    return start(build_messages(prompt_or_messages, system), settings, params=config.request_params(options),
                 tools=box, max_rounds=max_rounds, approve=approve)


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
) -> Reply:
    """Create a reply, attach its view, send the request, and return the reply."""
    if max_rounds < 1:
        raise config.ConfigurationError(f"max_rounds must be at least 1, not {max_rounds}.")
    if approve and not in_kernel():
        raise config.ConfigurationError("approve=True needs the Run and Skip buttons of a Jupyter front end; "
                                        "outside Jupyter, call reply.decide(call_id, run) from your own code.")
    reply = Reply(messages, settings, stream=stream, params=params, after=after, tools=tools, max_rounds=max_rounds,
                  approve=approve)
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


showing.register(Reply, _show_reply_copy, _reply_html)
