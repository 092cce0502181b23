"""Math in model output: which text is a formula, and a formula as MathML, by the rules of js/formulas.ts.

Owns: the markdown-it-py math plugins and their options (mdit-py-plugins' dollarmath for `$...$` and
`$$...$$`, texmath's "brackets" for `\\(...\\)` and `\\[...\\]`), the limits on untrusted TeX, and a
formula as MathML (latex2mathml). The plugins keep prices (`$5 and $10`), escaped dollars and code spans
as text, and a formula whose closing delimiter has not come yet is plain text. A formula that cannot be
shown (a TeX error, a refused command, too long) is its source, with the reason as its title.
Does not own: sanitizing. This module makes HTML that render.py passes through nh3 with a MathML
allowlist, as it does every fragment (latex2mathml copies `\\href` targets and `\\style` into
attributes: the allowlist is the wall, the refused commands say why).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from xml.etree.ElementTree import tostring

from latex2mathml.converter import convert_to_element
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.texmath import texmath_plugin

if TYPE_CHECKING:
    from markdown_it.renderer import RendererHTML
    from markdown_it.utils import EnvType, OptionsDict

MAX_TEX_CHARS = 10_000
"""A longer formula is shown as its source (js/formulas.ts, the same): converting is linear, but a reply
full of huge matrices should not hold the kernel."""

REFUSED = frozenset({
    # links and HTML extensions: what KaTeX and Temml only do with `trust`
    "href", "url", "includegraphics", "class", "cssId", "id", "style", "data",
    "htmlClass", "htmlId", "htmlStyle", "htmlData",
    # macro definitions: expansion bombs
    "def", "gdef", "edef", "xdef", "let", "futurelet", "newcommand", "renewcommand", "providecommand",
})
"""Commands that make a formula be shown as its source, in both views."""

_COMMAND = re.compile(r"\\([A-Za-z]+)")
_CHAR_REFERENCE = re.compile(r"&amp;(#x[0-9A-Fa-f]+;)")
_CLOSERS = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}
_TOKENS = ("math_inline", "math_inline_double", "math_block", "math_block_label", "math_block_eqno")


class FormulaError(ValueError):
    """A formula that is not shown as math; the message says why."""


def install(md: MarkdownIt) -> None:
    """Adds the math rules to `md`, and renders every math token as MathML (or its source)."""
    # No space inside the delimiters, no digit outside: `$5 and $10` stays text. No blank line inside
    # `$$`: TeX has none there, and the live view ends a block at a blank line while it streams.
    dollarmath_plugin(md, allow_space=False, allow_digits=False, allow_blank_lines=False, double_inline=True)
    texmath_plugin(md, "brackets")
    for name in _TOKENS:
        md.add_render_rule(name, _render_math)


def _render_math(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    display = token.type != "math_inline"
    html_text = formula_html(token.content, display, token.markup or "$")
    label = token.info if token.type in ("math_block_label", "math_block_eqno") else ""
    if label:
        html_text += f'<span class="ling-math-label">({html.escape(label)})</span>'
    return f'<div class="ling-math-block">{html_text}</div>\n' if token.block else html_text


def formula_html(tex: str, display: bool, opener: str) -> str:
    """MathML for `tex`, or its source between `opener` and its closer with the reason as title."""
    try:
        return to_mathml(tex.strip(), display)
    except FormulaError as exc:
        source = f"{opener}{tex}{_CLOSERS.get(opener, opener)}"
        return f'<code class="ling-math-error" title="{html.escape(str(exc))}">{html.escape(source)}</code>'


@functools.lru_cache(maxsize=512)
def to_mathml(tex: str, display: bool) -> str:
    """`tex` as a MathML `<math>` element (not sanitized); FormulaError when it is not shown as math."""
    if len(tex) > MAX_TEX_CHARS:
        raise FormulaError(f"Formula too long ({len(tex)} characters; at most {MAX_TEX_CHARS}).")
    refused = sorted({m for m in _COMMAND.findall(tex) if m in REFUSED})
    if refused:
        raise FormulaError(f"Not allowed in a reply: \\{refused[0]}")
    try:
        element = convert_to_element(tex, display="block" if display else "inline")
    except Exception as exc:  # noqa: BLE001 - untrusted input meets a third-party parser: any failure is the formula's
        raise FormulaError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
    # latex2mathml's own `convert` unescapes its whole output to turn the character references it stores
    # as text (`&#x0211D;`) into characters, which also turns a `<` of `\text{...}` into markup. Serialized
    # here instead, escaped, with only those references restored.
    return _CHAR_REFERENCE.sub(r"&\1", tostring(element, encoding="unicode"))
