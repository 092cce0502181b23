"""Math in the static copy: MathML from latex2mathml, through the sanitizer, by the rules of the live view
(js/formulas.ts), on the same cases (js/test/formula-cases.json); untrusted TeX stays inert and bounded."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ling_notebook import formulas, render

CASES = json.loads((Path(__file__).parents[1] / "js" / "test" / "formula-cases.json").read_text())


class _Reader(HTMLParser):
    """What a reader sees, as js/test/formulas.test.ts `seen`: a formula is ⟦I⟧ or ⟦D⟧, a formula shown as
    its source ⟦E:source⟧, everything else its text. Also notes whatever could run, load or restyle."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.dangers: list[str] = []
        self._math = 0
        self._error: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag in ("script", "style", "img", "iframe", "object", "embed", "link", "foreignobject"):
            self.dangers.append(tag)
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "src") or "href" in name and tag != "a":
                self.dangers.append(f"{tag}@{name}={value}")
            if name == "class" and (self._math or tag == "math"):
                self.dangers.append(f"{tag}@class")
        if tag == "math":
            if not self._math:
                self.parts.append("⟦D⟧" if names.get("display") == "block" else "⟦I⟧")
            self._math += 1
        elif tag == "code" and names.get("class") == "ling-math-error":
            self._error = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "math":
            self._math -= 1
        elif tag == "code" and self._error is not None:
            self.parts.append(f"⟦E:{''.join(self._error)}⟧")
            self._error = None

    def handle_data(self, data: str) -> None:
        if self._error is not None:
            self._error.append(data)
        elif not self._math:
            self.parts.append(data)


def read(html_text: str) -> _Reader:
    reader = _Reader()
    reader.feed(html_text)
    reader.close()
    return reader


def seen(markdown: str) -> str:
    return " ".join("".join(read(render.markdown_html(markdown)).parts).split())


@pytest.mark.parametrize(("src", "expected"), CASES)
def test_the_static_copy_shows_math_as_the_live_view_does(src, expected):
    assert seen(src) == expected
    assert read(render.markdown_html(src)).dangers == []


def test_a_formula_is_mathml_in_the_static_copy():
    html_text = render.markdown_html("The loss $\\nabla_\\theta L$ and\n\n$$\n\\int_0^1 x\\,dx\n$$\n")
    assert '<math display="inline"><mrow><msub><mo>∇</mo><mi>θ</mi></msub><mi>L</mi></mrow></math>' in html_text
    assert '<div class="ling-math-block"><math display="block">' in html_text and "<msubsup>" in html_text


def test_a_bad_formula_is_its_source_with_the_reason_on_hover():
    html_text = render.markdown_html("see $\\frac{$ here")
    assert '<code class="ling-math-error" title="' in html_text and ">$\\frac{$</code>" in html_text


def test_the_static_copy_is_still_not_typeset_by_mathjax():
    # MathJax would follow `\href{javascript:...}`: our own MathML is all the math there is.
    assert "mathjax_ignore" in render.bundle(render.markdown_html("$x$"), "$x$")["text/html"]


def test_latex2mathml_markup_in_text_stays_text():
    # latex2mathml's own `convert` turns `\text{<img ...>}` into an <img> element.
    html_text = render.markdown_html("$\\text{<img src=x onerror=alert(1)>}$")
    assert "<mtext>&lt;img" in html_text and "<img" not in html_text


def test_hostile_formulas_are_bounded():
    too_long = "$" + "x+" * formulas.MAX_TEX_CHARS + "x$"
    assert "too long" in render.markdown_html(too_long)
    deep = "$" + "\\sqrt{" * 2000 + "x" + "}" * 2000 + "$"
    assert "ling-math-error" in render.markdown_html(deep)  # a RecursionError is the formula's, not ours
    assert "ling-math-error" in render.markdown_html("$$\\def\\a{\\a\\a}\\a$$")


_PIECES = [*"\\{}[]()$^_&<>\"'=:;/ #%~`*|", "javascript:", "href", "url", "style", "class", "htmlClass", "text",
           "onerror", "<script>", "color", "mathrm", "begin{matrix}", "end{matrix}", "frac", "x", "1", "\n", "&lt;",
           "&#x3C;", "data:", "mtext", "<math>", "</math>"]
_TEX = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)
_DELIMITERS = [("$", "$"), ("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]"), ("$$\n", "\n$$")]


@settings(max_examples=400, deadline=None)
@given(tex=_TEX, delimiters=st.sampled_from(_DELIMITERS))
def test_no_tex_gets_script_links_styles_or_classes_into_the_static_copy(tex, delimiters):
    opener, closer = delimiters
    html_text = render.markdown_html(f"A {opener}{tex}{closer} b\n\n{opener}{tex}{closer}\n")
    assert read(html_text).dangers == []
    assert "<a " not in html_text  # no link of any kind comes from TeX


def test_a_batch_row_s_excerpt_keeps_the_formulas_tex():
    assert render.plain_excerpt("The loss $L=x^2$ falls.\n\n$$\na+b\n$$\n\nEnd", 100) == "The loss L=x^2 falls. a+b End"
