"""`{expr}` filling in %%ling prompts: filled in prose, left as written in Markdown code."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.testing.globalipapp import get_ipython

from ling_notebook.config import ConfigurationError
from ling_notebook.fill import fill, literal
from ling_notebook.magics import LingMagics


@pytest.fixture(scope="module")
def magics():
    shell = get_ipython()
    shell.user_ns.update(name="Ada", i=7, rows=42)
    return LingMagics(shell=shell)


def test_pasted_code_in_a_fence_stays_as_written_and_prose_is_filled(magics):
    cell = 'Explain this to {name}:\n\n```python\nfor i in range(3):\n    print(f"{i}")\n```\n'
    assert magics._fill(cell) == 'Explain this to Ada:\n\n```python\nfor i in range(3):\n    print(f"{i}")\n```'


def test_json_in_inline_code_stays(magics):
    cell = 'Send `{"rows": {rows}, "ok": true}` and report {rows} rows.'
    assert magics._fill(cell) == 'Send `{"rows": {rows}, "ok": true}` and report 42 rows.'


def test_latex_in_a_fence_stays(magics):
    cell = "Check this:\n~~~latex\n\\frac{a}{b} + \\sqrt{x^{2}}\n~~~\nThanks, {name}."
    assert magics._fill(cell) == "Check this:\n~~~latex\n\\frac{a}{b} + \\sqrt{x^{2}}\n~~~\nThanks, Ada."


@pytest.mark.parametrize("code", [
    "    indented {i} code\n",  # an indented code block
    "- item\n\n  ```\n  {i} in a list\n  ```\n",  # a fence inside a list item
    "> ```\n> {i} in a quote\n> ```\n",  # a fence inside a block quote
    "```\r\n{i} with CRLF\r\n```\r\n",
    "```\nnever closed {i}\n",  # an open fence runs to the end
    "`` code with a ` and {i} ``",
    "```{python}\n{i} in a fence whose info string has braces\n```\n",  # Quarto / R Markdown style
    "~~~ {.python title='{name}'}\nprint({i})\n~~~\n",
])
def test_every_kind_of_code_stays(magics, code):
    assert magics._fill(f"{{name}} asks:\n\n{code}") == f"Ada asks:\n\n{code}".strip()


def test_doubled_braces_outside_code_still_mean_one_brace(magics):
    assert magics._fill("As {{json}} for {name}, `{{kept}}`") == "As {json} for Ada, `{{kept}}`"


def test_a_backtick_inside_braces_is_prose_not_code(magics):
    assert magics._fill("{name + '`'} and {i}") == "Ada` and 7"


def test_an_unknown_name_outside_code_stops_the_cell(magics):
    with pytest.raises(ConfigurationError, match="undefined_thing"):
        magics._fill("```\n{fine}\n```\n{undefined_thing}")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}`~ \nab4-", max_size=40))
def test_a_prompt_made_literal_is_filled_back_to_itself(text):
    """`%ling export` writes each logged prompt as a cell that sends the same text."""
    assert fill(literal(text), {}) == text
