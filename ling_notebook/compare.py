"""Comparisons: one prompt sent to several models at once, their replies shown side by side.

Owns the `Comparison` object (a sequence of `Reply`, one per model, in the order of the models) and the
check of its models. It imports no view: `compare()`, which creates, shows and starts one, is in
`display.py`; the live view, the static copy, its summary table and the terminal printout are in
`compare_widget.py`, and a comparison with no live view is shown through `showing`.
Streaming itself is the replies' own: a comparison only starts, watches and stops them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Generator, Iterator, Sequence
from typing import Any, overload

from . import config, showing
from .reply import Reply

MIN_MODELS, MAX_MODELS = 2, 6


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
        await asyncio.gather(*(reply._waiter() for reply in self.replies))
        return [reply.text for reply in self.replies]

    def __repr__(self) -> str:
        return f"<Comparison of {len(self.replies)} models {self.status}: {', '.join(self.models)}>"

    def _ipython_display_(self) -> None:
        if self.view is not None:
            self.view.show()  # another live view of the same comparison
        else:
            showing.show(self)


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
