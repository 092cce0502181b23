"""`{expr}` filling for prompts: fields are filled from the user's variables, except in Markdown code.

Pasted code, JSON and LaTeX are full of braces, so braces inside inline code spans, fenced code blocks
(their info string included, as in ```` ```{python} ````) and indented code blocks stay exactly as written
(`{{` there too). Elsewhere `{expr}` is filled and
`{{` / `}}` stand for one brace, as in `str.format`.

Where the code is comes from a real CommonMark parser (markdown-it-py), never from rules of our own:
each brace is swapped for a private-use character of its own, which no Markdown rule gives a meaning
to (braces do not decide what is code either, so the parse is the same), and the braces whose
characters turn up in the content of code tokens are the ones in code.
"""

from __future__ import annotations

from typing import Any

from IPython.utils.text import FullEvalFormatter
from markdown_it import MarkdownIt

from .config import ConfigurationError

_PRIVATE_USE = range(0xF0000, 0x110000)  # Supplementary Private Use Areas A and B (planes 15 and 16)
_CODE_BLOCKS = ("fence", "code_block")
_parser = MarkdownIt("commonmark")


def fill(prompt: str, namespace: dict[str, Any]) -> str:
    """`prompt` with every `{expr}` outside Markdown code replaced by its value in `namespace`.

    Raises what evaluating a field raises (`NameError` for an unknown name).
    """
    return fill_template(template(prompt), namespace)


def template(prompt: str) -> str:
    """`prompt` as a format string: braces inside Markdown code doubled, so they stay as written.

    Parsing is the costly part; a batch does it once and fills the result once per row.
    """
    return _doubled(prompt, in_code=True)


def literal(text: str) -> str:
    """A prompt that `fill` turns back into `text`: the braces outside Markdown code doubled (an exported
    `%%ling` cell sends what was sent)."""
    return _doubled(text, in_code=False)


def _doubled(text: str, *, in_code: bool) -> str:
    """`text` with its braces inside (or outside) Markdown code doubled."""
    braces = [i for i, c in enumerate(text) if c in "{}"]
    if not braces:
        return text
    code = _braces_in_code(text, braces)
    return "".join(c * 2 if c in "{}" and (i in code) == in_code else c for i, c in enumerate(text))


def fill_template(format_string: str, namespace: dict[str, Any]) -> str:
    """A `template(...)` filled from `namespace`: each `{expr}` evaluated there."""
    if "{" not in format_string and "}" not in format_string:
        return format_string
    return FullEvalFormatter().format(format_string, **namespace)


def _braces_in_code(prompt: str, braces: list[int]) -> set[int]:
    """The positions in `braces` that CommonMark puts inside code."""
    taken = {c for c in prompt if ord(c) >= _PRIVATE_USE.start}
    marks = (chr(cp) for cp in _PRIVATE_USE if cp & 0xFFFF < 0xFFFE and chr(cp) not in taken)
    mark_at = dict(zip(braces, marks, strict=False))  # too few marks is checked next
    if len(mark_at) < len(braces):
        raise ConfigurationError(
            f"The prompt has {len(braces)} braces, too many to tell code from text. "
            "Put the text in a variable and write {name} in the cell instead. Nothing was sent."
        )
    marked = list(prompt)
    for i, mark in mark_at.items():
        marked[i] = mark
    code: list[str] = []
    for token in _parser.parse("".join(marked)):
        if token.type in _CODE_BLOCKS:
            code.append(token.info + token.content)  # a fence's info string (```{python}) is code too
        elif token.type == "inline":
            code.extend(child.content for child in token.children or () if child.type == "code_inline")
    in_code = set("".join(code))
    return {i for i, mark in mark_at.items() if mark in in_code}
