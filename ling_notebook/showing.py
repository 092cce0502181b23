"""Where a model of replies asks to be shown, so that no model imports its views.

`Reply`, `Comparison` and `Batch` only know that something may show them: their `_ipython_display_` (and
`Reply._repr_html_`, `Batch.show()`, `Batch.summary_bundle()`) ask here for the way the showing side
registered for their class. `display.py`, imported with the package, registers those; they import the view
modules (`render`, the widgets) only when something is shown. The views in turn subscribe to the models
(`add_listener`, `Batch.views`). A registry rather than an import keeps the arrows one way: views know
models, models know only this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_ways: dict[tuple[type, str], Callable[[Any], Any]] = {}


def register(cls: type, **ways: Callable[[Any], Any]) -> None:
    """The ways an object of `cls` is shown, by name: "show" (display it), "html" (`_repr_html_`), ..."""
    for name, way in ways.items():
        _ways[cls, name] = way


def ask(obj: Any, way: str) -> Any:
    """Run the way `way` registered for `obj`'s class (or the nearest base class) on `obj`."""
    for cls in type(obj).__mro__:
        if (cls, way) in _ways:
            return _ways[cls, way](obj)
    raise LookupError(f"Nothing shows a {type(obj).__name__} ({way}): import ling_notebook (its display module) first.")


def show(obj: Any) -> None:
    ask(obj, "show")


def html(obj: Any) -> str:
    return str(ask(obj, "html"))
