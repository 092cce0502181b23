"""Where a model of replies asks to be shown, so that no model imports its views.

`Reply`, `Comparison` and `Batch` only know that something may show them: their `_ipython_display_` (and
`Reply._repr_html_`) call `show` / `html` here, which run what the showing side registered for their class.
`display.py`, imported with the package, registers those; they import the view modules (`render`, the
widgets) only when something is shown. The views in turn subscribe to the models (`add_listener`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_shows: dict[type, Callable[[Any], None]] = {}
_htmls: dict[type, Callable[[Any], str]] = {}


def register(cls: type, show: Callable[[Any], None], html: Callable[[Any], str] | None = None) -> None:
    """How an object of `cls` is displayed, and (optionally) its HTML for `_repr_html_`."""
    _shows[cls] = show
    if html is not None:
        _htmls[cls] = html


def _found(table: dict[type, Callable[[Any], Any]], obj: Any) -> Callable[[Any], Any]:
    for cls in type(obj).__mro__:
        if cls in table:
            return table[cls]
    raise LookupError(f"Nothing shows a {type(obj).__name__}: import ling_notebook (its display module) first.")


def show(obj: Any) -> None:
    _found(_shows, obj)(obj)


def html(obj: Any) -> str:
    return str(_found(_htmls, obj)(obj))
