"""Model output becomes inert HTML: whatever the Markdown, only allowlisted elements, attributes and URL
schemes come out, and ordinary Markdown still renders as the live view shows it.

The HTML is judged by the standard library's parser, not by anything render.py uses, and URLs by a
scheme check of its own (entities decoded by the parser, then percent-decoding and the characters a
browser ignores in a scheme), so the test does not share a blind spot with the code it tests.
"""

from __future__ import annotations

import base64
import html
import re
import zlib
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ling_notebook import render
from ling_notebook.conversation import Conversation
from ling_notebook.engine import Usage, valid_text

ALLOWED = {
    "a": {"href", "title", "class", "target", "rel"}, "ol": {"start"}, "span": {"class"}, "div": {"class"},
    "p": {"class"}, "details": {"class"}, "th": {"class"}, "td": {"class"}, "table": {"class"},
    **{tag: set() for tag in ["blockquote", "br", "code", "del", "em", "hr",
                              "li", "pre", "s", "strong", "summary", "tbody", "thead", "tr", "ul"]},
    **{f"h{level}": {"class"} for level in range(1, 7)},  # tocSkip only: see the table-of-contents test
    "code": {"class", "title"},  # a formula shown as its source: the renderer's message on hover
    # MathML (formulas.py): presentation attributes only, never href, style or class (checked below too).
    **{tag: render._MATH_ATTRIBUTES for tag in render._MATH_TAGS},
}
assert not {"href", "style", "class"} & render._MATH_ATTRIBUTES
SAFE_SCHEMES = {"http", "https", "mailto"}
IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200f\u2028\u2029\u205f\u3000\ufeff]")


class Page(HTMLParser):
    """The elements, attributes and text of an HTML fragment."""

    def __init__(self, fragment: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(fragment)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"a comment in the output: {data!r}")

    def handle_decl(self, decl: str) -> None:
        raise AssertionError(f"a declaration in the output: {decl!r}")

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def scheme(url: str) -> str | None:
    match = re.match(r"([^:/?#]*):", IGNORED_IN_SCHEME.sub("", unquote(url)))
    return match.group(1).lower() if match else None


def assert_inert(fragment: str) -> Page:
    """Only allowlisted elements and attributes, no event handlers or styles, only safe URL schemes."""
    page = Page(fragment)
    for tag, attrs in page.elements:
        assert tag in ALLOWED, f"<{tag}> in {fragment!r}"
        for name, value in attrs.items():
            assert not name.startswith("on") and name != "style", f"{name}= on <{tag}>"
            assert name in ALLOWED[tag], f"{name}= on <{tag}>"
            if name == "href":
                assert scheme(value or "") in SAFE_SCHEMES | {None}, f"href={value!r}"
        if tag == "a" and "href" in attrs:
            assert attrs["target"] == "_blank" and attrs["rel"] == "noopener noreferrer", attrs
    return page


def assert_inert_bundle(bundle: dict[str, str]) -> Page:
    assert set(bundle) == {"text/html", "text/plain", render.COPY_MIME} and bundle[render.COPY_MIME] == {}
    page = bundle["text/html"]
    style_end = page.index("</style>") + len("</style>")
    assert page.startswith("<style>") and "<" not in page[len("<style>") : style_end - len("</style>")]
    return assert_inert(page[style_end:])


def reply(text="", *, reasoning="", error=None, status="done", model="ling-offline-demo", usage=None,
          finish_reason="stop"):
    return SimpleNamespace(text=text, reasoning=reasoning, error=error, status=status, model=model, ttft=0.25,
                           tokens_per_s=40.0, usage=usage, finish_reason=finish_reason, replayed=None, final_text=text,
                           exchange=[], parts=[], tool_calls=[], rounds=1)


def test_half_a_surrogate_pair_anywhere_becomes_a_replacement_character():
    out = render.reply_bundle(reply("a\ud83db `c\udc00`", error="bad \ud83d", model="m\udc00"))
    for text in (out["text/html"], out["text/plain"]):
        text.encode("utf-8")  # what the kernel does before sending it
    assert "a\ufffdb" in out["text/html"] and "bad \ufffd" in out["text/html"]


# -- hostile input, generated ----------------------------------------------------------------------

PIECES = [
    "`", "``", "```", "````", "~~~", "\r", "\r\n", "\n", "\n\n", "\t", "    ", "   ", "- ", "* ", "+ ", "1. ", "2) ",
    "> ", "# ", "---", "===", "|", "| --- |", "[", "]", "(", ")", "[x]: ", "[x]", "![", "](", "<", ">", "&", "\\",
    '"', "'", "*", "_", "~~", "&#106;", "&#x6A;", "&#0000106", "&colon;", "&lt;", "&amp;", "%3A", "%09",
    "javascript:", "JaVaScRiPt:", "java\tscript:", "java%09script:", "%6Aavascript:", "vbscript:", "data:text/html,",
    "&#x26;#106;", "http://x.example/", "https://x.example/?a=1&b=2", "mailto:a@b.example", "www.x.example",
    "alert(1)", "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", '<a href="javascript:alert(1)">',
    "<svg onload=alert(1)>", "<iframe src=javascript:alert(1)>", "<style>*{}</style>", "<!--", "-->",
    "<![CDATA[", "<details open ontoggle=alert(1)>", "<javascript:alert(1)>", "<https://x.example>",
    " onerror=", "\x00", "\u2028", "\u200b", "\ufeff", "word", "two words",
]
markdown = st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=60).map("".join)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdown)
def test_any_markdown_becomes_inert_html(text):
    assert_inert(render.markdown_html(text))


@settings(max_examples=150, deadline=None)
@given(markdown, markdown, markdown, markdown)
def test_every_part_of_a_reply_is_inert(text, reasoning, error, model):
    bundle = render.reply_bundle(reply(text, reasoning=reasoning, error=error or None, model=model, status="error"))
    page = assert_inert_bundle(bundle)
    assert page.tags("details") == [{"class": "ling-reasoning"}] if reasoning else not page.tags("details")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(markdown, markdown), max_size=4), markdown)
def test_history_is_inert(turns, system):
    chat = Conversation("hostile")
    chat.system = system or None
    for i, (prompt, answer) in enumerate(turns):
        chat.record(str(i), prompt, reply(answer))
    assert_inert_bundle(render.history_bundle(chat))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(markdown, min_size=3, max_size=3), max_size=4))
def test_tables_of_plain_text_are_inert_and_keep_the_text(rows):
    page = assert_inert(render.table_html(["a", "b", "c"], rows))
    # What an HTML parser does to the text of each cell: line ends become \n, and NUL characters go.
    cells = "".join(cell.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "") for row in rows for cell in row)
    assert page.text == "abc" + cells


# Windows of blocks render like the whole text at once (reference definitions aside: they apply from
# where they are defined on, so the generated text has none).
blocks = st.lists(st.sampled_from([
    "para", "two\nlines", "# head", "- a\n- b", "1. x\n\n2. y", "> quote\ncontinued", "```py\nx = 1\n\n\ny\n```",
    "~~~\n```\n~~~", "    indented\n\n    code", "| a | b |\n|:-|-:|\n| 1 | 2 |", "---", "text\n===", "<b>raw</b>",
    "- list\n\n  loose\n- item", "* * *", "lazy\n> quote", "\r\n", "\r", "", "  ", "\t- tab",
    # Paragraphs longer than a window, which go a run of inline tokens at a time:
    "a *em* and **strong *nested* end** `co de` [link](http://x.y) ![i](http://x.y/i.png) \\* & <x> end",
    "many plain words " * 6, "x $a+b$ y\nsoft break  \nhard break www.example.com",
    # Markers a finished text leaves open stay as written (only a text cut short has them closed):
    "Use **kwargs", "a * b = c *", "Price: `x",
]), max_size=40).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(blocks, st.integers(1, 60))
def test_rendering_in_windows_gives_the_html_of_the_whole_text(text, window):
    between = '</div><div class="ling-chunk">'
    chunks = [c.removeprefix('<div class="ling-chunk">').removesuffix("</div>").replace(between, "")
              for c in render._windows(text, window)]
    assert "".join(chunks) == render.sanitize(render._md.render(text))


wide = st.lists(st.sampled_from(["“quoted”", "😀", "中文", "é", "\ud83dx", "\udc00", "\u2028"]) | blocks | markdown,
                max_size=8).map("".join)  # hostile pieces (raw tags, entities, CR and CRLF) included


@settings(max_examples=300, deadline=None)
@given(wide, st.integers(1, 60), st.booleans())
def test_a_text_kept_as_utf8_renders_a_window_at_a_time_as_its_str_does(text, window, cut):
    # Windows of UTF-8 are counted in bytes and decoded one at a time (Reply.kept): the same HTML, lone
    # surrogates included (each becomes U+FFFD when sanitized, as in a str).
    kept = text.encode("utf-8", "surrogatepass")
    assert _unchunked(render._windows(kept, window, cut=cut)) == _unchunked(render._windows(text, window, cut=cut))


def _unchunked(pieces):
    between = '</div><div class="ling-chunk">'
    return "".join(c.removeprefix('<div class="ling-chunk">').removesuffix("</div>").replace(between, "")
                   for c in pieces)


@settings(max_examples=200, deadline=None)
@given(wide, st.integers(1, 5000))
def test_a_reply_kept_as_utf8_has_the_plain_text_and_markdown_of_its_str(text, limit):
    kept = text.encode("utf-8", "surrogatepass")
    as_str, as_utf8 = reply(text), reply(text)
    as_utf8.kept = lambda kind: kept if kind == "text" else ""
    assert render.reply_plain(as_utf8) == render.reply_plain(as_str)
    assert "".join(render.text_slices(kept, 7)) == "".join(render.text_slices(text, 7)) == valid_text(text)
    assert render.copy_metadata({}, kept) == render.copy_metadata({}, text)


@pytest.mark.parametrize("cut", range(1, 9))
def test_text_slices_keep_a_surrogate_pair_across_a_cut_whole(cut):
    # Two halves of a pair, side by side in a str (as a server's JSON may send them, in two pieces): one
    # character once valid, wherever the slices fall, as valid_text makes the whole.
    text = "ab\ud83d\udc00cd\ud83d"
    assert valid_text(text) == "ab\U0001f400cd\ufffd"
    assert "".join(render.text_slices(text, cut)) == valid_text(text)
    assert "".join(render.text_slices(text.encode("utf-8", "surrogatepass"), cut)) == valid_text(text)


def test_a_long_text_is_kept_compressed_in_the_copy_metadata_and_inflates_to_the_text():
    long = "“A long answer” 😀 \ud83d\n\n" * (render.DEFLATE_FROM // 10)
    for text in (long, long.encode("utf-8", "surrogatepass"), "short “one”"):
        (entry,) = render.copy_metadata({}, text)[render.COPY_METADATA]["markdown"]
        if isinstance(text, str) and len(text) < render.DEFLATE_FROM:
            assert entry == text
            continue
        assert set(entry) == {"deflate"} and len(entry["deflate"]) < len(long) / 20
        assert zlib.decompress(base64.b64decode(entry["deflate"])).decode() == valid_text(long)


def test_a_chunk_holds_as_many_top_level_blocks_as_in_the_live_view():
    text = "\n\n".join(f"paragraph {i}" for i in range(render.CHUNK_BLOCKS * 2 + 1))
    chunks = render.markdown_html(text).split('<div class="ling-chunk">')[1:]
    assert [c.count("<p>") for c in chunks] == [render.CHUNK_BLOCKS, render.CHUNK_BLOCKS, 1]


# -- hostile input, by family ------------------------------------------------------------------------

ONERROR = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize(
    "text",
    [
        # The four that got raw HTML through the hand-written escaper (issue 10):
        f"```\r\ncode\r\n```\r\n{ONERROR}",  # a fence with CRLF line ends
        f"```\rcode\r```\r{ONERROR}",  # ... and with lone CRs
        f"`a code span\nacross two lines` {ONERROR}",
        f"```\ncode\n```\t\n{ONERROR}",  # a tab after the closing fence
        # and their neighbours:
        f"`unclosed span\n{ONERROR}`",
        f"~~~\ncode\n~~~ \t\n{ONERROR}",
        f"    indented code\n{ONERROR}",
        f"> ```\n> code\n{ONERROR}",
        f"- ```\n  x\n{ONERROR}",
        f"\\`{ONERROR}\\`",
        f"<div>\n{ONERROR}\n</div>",
        f"<!-- {ONERROR} -->",
        f"<![CDATA[{ONERROR}]]>",
    ],
)
def test_raw_html_around_code_is_shown_as_text(text):
    page = assert_inert(render.markdown_html(text))
    assert not page.tags("img") and ONERROR in page.text


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>", "<svg onload=alert(1)>", "<iframe src=javascript:alert(1)>",
        "<a href='javascript:alert(1)'>x</a>", "<details open ontoggle=alert(1)>", "<style>*{display:none}</style>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "<IMG SRC=x ONERROR=alert(1)>",
    ],
)
def test_raw_html_is_shown_as_text(hostile):
    page = assert_inert(render.markdown_html(f"before {hostile} after"))
    assert hostile in page.text and [tag for tag, _ in page.elements] == ["div", "p"]


@pytest.mark.parametrize(
    "link",
    [
        "[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](javascript\\:alert(1))", "[x]( vbscript:msgbox)",
        "[x](data:text/html,<script>alert(1)</script>)", "[x](&#106;avascript:alert(1))",
        "[x](&#x6A;avascript&colon;alert(1))", "[x](java%09script:alert(1))", "[x](%6Aavascript:alert(1))",
        "[x](<javascript:alert(1)>)", "[x](java\u200bscript:alert(1))", "<javascript:alert(1)>",
        "[r]: javascript:alert(1)\n\n[click][r] and [r]", "[r]: <javascript:alert(1)> 'title'\n\n[r]",
        "[x](file:///etc/passwd)", "[x](vbscript:msgbox)", "javascript:alert(1)", "![x](javascript:alert(1))",
        "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    ],
)
def test_script_links_are_not_links(link):
    page = assert_inert(render.markdown_html(link))
    assert all(scheme(a.get("href") or "") in SAFE_SCHEMES | {None} for a in page.tags("a"))
    assert not [a for a in page.tags("a") if "script" in (a.get("href") or "").lower()]


def test_hostile_text_in_a_paragraph_longer_than_a_window_stays_inert():
    # Such a paragraph is sanitized a run of inline tokens at a time, between tags of ours (render._sanitized).
    hostile = ["<script>alert(1)</script>", "<svg onload=alert(1)>", "</p></div><img src=x onerror=alert(1)>",
               "[x](javascript:alert(1))", "<a href='javascript:alert(1)'>*x</a>*", "`</p>` &lt;b&gt; &amp;",
               "**<b>bold</b>", "![i](data:image/svg+xml,<svg onload=alert(1)>)"]
    text = " words\r\n".join(hostile * 3)  # one paragraph of many lines, CRLF line ends
    page = assert_inert("".join(render._windows(text, 16)))
    assert not page.tags("img") and not page.tags("script") and not page.tags("svg")
    assert [tag for tag, _ in page.elements if tag in ("div", "p")] == ["div", "p"]  # one paragraph, whole


def test_a_hostile_model_name_error_and_reasoning_stay_text():
    hostile = "<img src=x onerror=alert(1)>"
    page = assert_inert_bundle(render.reply_bundle(
        reply("", reasoning=hostile, error=hostile, model=hostile, status="error", finish_reason=None)))
    assert not page.tags("img") and page.text.count(hostile) == 3


# -- what ordinary Markdown looks like -----------------------------------------------------------------


def test_markdown_renders_like_the_live_view():
    page = Page(render.markdown_html(
        "# Title\n\nSome **bold**, *em*, ~~gone~~ and `List<int>`.\n\n- one\n- two\n\n3. three\n\n> quote\n\n"
        "| left | right |\n|:--|--:|\n| 1 | 2 |\n\n---\n\n"
        "See https://example.org and [docs](https://example.org/d 't')."
    ))
    assert [tag for tag, _ in page.elements if tag != "div"] == [
        "h1", "p", "strong", "em", "s", "code", "ul", "li", "li", "ol", "li", "blockquote", "p",
        "table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td", "hr", "p", "a", "a",
    ]
    assert "List<int>" in page.text
    assert page.tags("ol") == [{"start": "3"}]
    assert [a["class"] for a in page.tags("th")] == ["ling-left", "ling-right"]
    assert [a["href"] for a in page.tags("a")] == ["https://example.org", "https://example.org/d"]
    assert page.tags("a")[1]["title"] == "t"


@pytest.mark.parametrize("lang, code, coloured", [
    ("python", "x = a + b ** 2 // c", False),
    ("javascript", "const x = a + b; y => y ?? z", False),
    ("bash", "a=$((b + c)) && echo | grep x > f", False),
    ("sql", "SELECT a + b FROM t WHERE c >= 1", True),
])
def test_operators_are_coloured_where_the_live_view_colours_them(lang, code, coloured):
    # highlight.js (the live view) marks operators in SQL only: elsewhere the copy must not change their colour.
    classes = [span["class"] for span in Page(render.markdown_html(f"```{lang}\n{code}\n```")).tags("span")]
    assert ("ling-o" in classes) is coloured, classes


def test_code_blocks_are_highlighted_and_kept_as_written():
    page = Page(render.markdown_html('```python\ndef f(x):\n    return "<b>" # hi\n```\n\n```\n<b>bold</b> & x\n```'))
    assert {span["class"] for span in page.tags("span")} >= {"ling-k", "ling-d", "ling-s", "ling-c"}
    assert 'def f(x):\n    return "<b>" # hi\n' in page.text and "<b>bold</b> & x\n" in page.text
    assert not page.tags("b")


@pytest.mark.parametrize("lang", ["", "text", "brainfuck", "python extra words"])
def test_only_known_languages_are_highlighted(lang):
    out = render.markdown_html(f"```{lang}\nprint(1)\n```")
    assert ("<span" in out) == lang.startswith("python")


def test_very_large_code_blocks_are_left_plain():
    code = "x = 1\n" * (render.MAX_HIGHLIGHT_CHARS // 6 + 1)
    out = render.markdown_html(f"```python\n{code}```")
    assert "<span" not in out and out.count("x = 1") == code.count("x = 1")


def test_an_unclosed_fence_ends_with_the_text():
    page = Page(render.markdown_html("```python\nprint(1)"))
    assert page.tags("pre") and page.text.strip() == "print(1)"


def test_images_are_links_and_never_loaded():
    page = assert_inert(render.markdown_html("![a *chart*](https://evil.example/?q=secret)"))
    assert not page.tags("img")
    (link,) = page.tags("a")
    assert link["href"] == "https://evil.example/?q=secret" and link["class"] == "ling-image-link"
    assert "[image: a chart]" in page.text


def test_a_reply_has_its_status_line_as_a_header_then_its_reasoning_closed_the_text_and_the_error():
    bundle = render.reply_bundle(reply("The **answer**.", reasoning="thinking *hard*", error="The server said no.",
                                       status="error", usage=Usage(3, 4, 7), finish_reason=None))
    page = assert_inert_bundle(bundle)
    assert page.tags("details") == [{"class": "ling-reasoning"}]  # no `open`: closed
    order = [a.get("class") for tag, a in page.elements if tag in ("details", "div", "p") and a.get("class")]
    # The header first, where the live view has its own: nothing moves when the copy replaces the view.
    assert order == ["ling-static tex2jax_ignore mathjax_ignore", "ling-status", "ling-reasoning", "ling-chunk",
                     "ling-body", "ling-chunk", "ling-error"]
    assert "Error: The server said no." in page.text
    assert "ling-offline-demo · error · first token 0.25 s · 40 tokens/s · 3 prompt + 4 completion = 7 tokens" in (
        page.text)
    assert bundle["text/plain"] == "The **answer**."


def test_the_header_holds_the_model_apart_and_reads_as_one_line_without_our_stylesheet():
    page = assert_inert(render.status_html(reply("x", model="<b>m</b>", usage=Usage(1, 2, 3))))
    spans = [(a.get("class")) for tag, a in page.elements if tag == "span"]
    assert spans == ["ling-model", "ling-sep", "ling-state"]
    assert page.text == render.status_line(reply("x", model="<b>m</b>", usage=Usage(1, 2, 3)))
    assert page.text.startswith("<b>m</b> · done · first token 0.25 s")


def test_the_copy_metadata_holds_each_replys_markdown_for_the_extensions_copy():
    text = "# Title\n\n```python\nprint(1)\n```\n" + "x" * 5000
    assert render.copy_metadata({}, text) == {"ling_notebook": {"markdown": [text]}}  # whole, not cut
    assert render.copy_metadata({"ling_notebook": {"model": "m"}}, "a\ud83d", "b") == {
        "ling_notebook": {"model": "m", "markdown": ["a\ufffd", "b"]}}


def test_plain_text_is_cut_and_says_how_much_more_there_is():
    text = "x" * 5000
    assert render.reply_bundle(reply(text))["text/plain"] == "x" * 2000 + "… [3000 more characters]"
    assert render.reply_bundle(reply("", status="stopped"))["text/plain"] == "[stopped]"


def test_history_shows_each_turn_and_marks_partial_replies():
    chat = Conversation("main")
    chat.system = "Be *terse*."
    chat.record("c1", "Tell me **one** thing", reply("One thing."))
    chat.record("c2", "And more", reply("", status="error", error="boom"))
    page = assert_inert_bundle(render.history_bundle(chat))
    assert [p for p in page.texts if p in ("system", "user", "assistant")] == [
        "system", "user", "assistant", "user", "assistant"]
    assert page.tags("strong") and "(no reply; not sent again)" in page.text and "Conversation 'main', 2 turn(s)" in (
        page.text)


def test_history_is_one_block_per_turn_and_marks_a_reply_still_streaming():
    chat = Conversation("main")
    chat.record("c1", "First", reply("## A heading\n\nDone."))
    chat.record("c2", "Second", reply("Still **going", status="streaming", finish_reason=None))
    page = assert_inert_bundle(render.history_bundle(chat))
    turns = [a for tag, a in page.elements if tag == "div" and a.get("class") == "ling-turn"]
    assert len(turns) == 2  # the stylesheet draws a rule above each
    shown = render.history_bundle(chat)["text/html"]
    assert "assistant · streaming…" in page.texts and "<strong>going</strong>" in shown
    assert ".ling-turn :is(h1,h2,h3,h4,h5,h6){" in shown


def test_a_reply_cut_at_max_tokens_says_so_and_is_not_done():
    page = assert_inert_bundle(render.reply_bundle(reply("Partial", finish_reason="length")))
    assert "cut off at max tokens" in page.text and render.LENGTH_NOTE in page.text
    assert " · done" not in page.text


def test_an_empty_history_says_so():
    assert "Conversation 'x' is empty." in html.unescape(render.history_bundle(Conversation("x"))["text/html"])


def test_bare_urls_and_addresses_become_links_as_in_the_live_view():
    page = assert_inert(render.markdown_html("Go to www.example.org/x or mail ann@example.org.\n\n" + "w1 " * 1000))
    assert [a["href"] for a in page.tags("a")] == ["http://www.example.org/x", "mailto:ann@example.org"]


def test_an_excerpt_is_the_readable_text_of_markdown_on_one_line():
    text = "## About **tides**\n\n- one `x < y`\n- two\n\n```py\nprint(1)\n```\n\n| a | b |\n| --- | --- |\n| 1 | 2 |"
    assert render.plain_excerpt(text, 200) == "About tides one x < y two print(1) a b 1 2"
    assert len(render.plain_excerpt("word " * 100, 20)) == 20
    assert render.plain_excerpt("<b>raw</b> &amp; [link](javascript:alert(1))", 100) == (
        "<b>raw</b> & [link](javascript:alert(1))")  # text, to be escaped by whatever shows it


def test_a_running_batch_item_shows_its_last_line_without_markdown_markers():
    from ling_notebook.batch import LINE_LIMIT, _last_line

    assert _last_line("Intro\n\n### Things to try") == "Things to try"
    assert _last_line("- Press **Stop**: kept") == "Press Stop: kept"
    long = _last_line("x " * 400)
    assert long.startswith("…") and len(long) == LINE_LIMIT + 1


def test_a_replys_headings_stay_out_of_the_notebooks_table_of_contents():
    # JupyterLab drew every heading of a long reply's copy in its contents panel when the reply ended: one
    # task of 400-600 ms at 20,000 tokens. The live view never put them there either.
    html = render.markdown_html("# one\n\ntext\n\nTwo\n---\n\n###### six")
    assert html.count('class="tocSkip"') == 3 and "<h1>" not in html and "<h2>" not in html
