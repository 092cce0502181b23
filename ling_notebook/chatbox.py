"""`chat()`: a chat box in a cell's output, for a named conversation that `%%ling --chat NAME` cells share.

The entry point only: the model is `chat.py`, the widget `chat_widget.py` (imported here when shown).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import config
from .chat import Chat
from .reply import MAX_ROUNDS
from .tools import Tool, toolbox


@config.keeps_secrets_out_of_tracebacks
def chat(
    name: str | None = None,
    model: str | None = None,
    system: str | None = None,
    *,
    tools: list[Callable[..., Any] | Tool] | None = None,
    max_rounds: int = MAX_ROUNDS,
    approve: bool = False,
    **options: Any,
) -> None:
    """Show a chat box for the conversation `name` (default: the one `%%ling` cells use now).

    The box and the `%%ling --chat NAME` cells share the turns: each sees what the other asked. Enter
    sends, Shift+Enter starts a new line; each answer streams as a `%%ling` reply does, with Stop, and
    Regenerate asks the last prompt again (its new answer replaces the old one in the history).
    `system` sets the conversation's system prompt; `tools`, `max_rounds` and `approve` are
    `ling_notebook.stream`'s; `options` are settings (`base_url`, ...) and request fields (`temperature`, ...).
    Saved, exported or opened again without its kernel, the output shows the conversation as a transcript.
    """
    from .display import in_kernel

    if not in_kernel():
        raise config.ConfigurationError("chat() shows a chat box in a Jupyter front end; elsewhere use "
                                        "ling_notebook.stream(), or %%ling --chat NAME cells.")
    if max_rounds < 1:
        raise config.ConfigurationError(f"max_rounds must be at least 1, not {max_rounds}.")
    box = toolbox(tools)
    settings = config.resolve(model=model, **{k: options.pop(k) for k in config.SETTING_NAMES if k in options})
    params = config.request_params(options)
    magics = _magics()
    name = name or magics.current
    conversation = magics.conversation(name, settings.log)
    if system:
        conversation.system = system
    from .chat_widget import ChatWidget
    from .interrupt import install

    install()
    widget = ChatWidget(Chat(name, lambda: magics.conversation(name, settings.log), settings, params=params,
                             tools=box, max_rounds=max_rounds, approve=approve))
    cell = _cell_id()
    earlier = _boxes.pop(cell, None) if cell else None
    if earlier is not None:  # its output is being replaced: a box nobody sees would go on following the chat
        earlier.close()
    if cell:
        _boxes[cell] = widget
    widget.show()


# The box each cell showed last, by the front end's cell id (JupyterLab, Notebook 7 and VS Code send one).
_boxes: dict[str, Any] = {}


def _cell_id() -> str | None:
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    parent = kernel.get_parent() if kernel is not None and hasattr(kernel, "get_parent") else {}
    cell = (parent or {}).get("metadata", {}).get("cellId")
    return cell if isinstance(cell, str) else None


def _magics() -> Any:
    """The kernel's `%%ling` magics, which hold the named conversations (registered here if not loaded yet)."""
    from IPython import get_ipython

    from . import load_ipython_extension

    shell = get_ipython()
    if "LingMagics" not in shell.magics_manager.registry:
        load_ipython_extension(shell)
    return shell.magics_manager.registry["LingMagics"]
