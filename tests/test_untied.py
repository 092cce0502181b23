"""The models of replies do not import their views: the views subscribe to the models they show
(see ling_notebook/showing.py). Checked on the source, lazy imports in functions included, and by
importing the models in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ling_notebook"
VIEWS = {"render", "widget", "compare_widget", "batch_widget", "IPython.display"}
MODELS = ["reply", "compare", "batch"]
# A batch's progress reads its running items' last lines as plain text (Markdown markers stripped) with
# `render.plain_excerpt`: text, not a view of the batch, and never HTML.
ALLOWED = {"batch": {"render"}}


def imported(module: str) -> set[str]:
    """Every module `module`'s source imports, at the top or inside a function, as dotted names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from . import render` names the module in the alias
                names.update([base] if base else [alias.name for alias in node.names])
            else:
                names.update([base, *(f"{base}.{alias.name}" for alias in node.names)])
    return names


@pytest.mark.parametrize("module", MODELS)
def test_a_model_imports_no_view(module: str) -> None:
    assert imported(module) & (VIEWS - ALLOWED.get(module, set())) == set()


def test_importing_the_models_loads_no_view() -> None:
    code = ("import sys\n"
            + "".join(f"import ling_notebook.{m}\n" for m in MODELS)
            + "print(sorted(m for m in sys.modules if m.startswith('ling_notebook.') "
            "and m.split('.', 1)[1] in {'render', 'widget', 'compare_widget', 'batch_widget'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
