"""Untrusted text -> output bundles: the one place that turns model output into HTML.

Model output, prompts, error messages and model names are untrusted. JupyterLab and Notebook 7 do
not sanitize the outputs of a trusted notebook, and nbconvert never does, so whatever we emit is what
runs. Nothing here hands Markdown to someone else's renderer: Markdown is parsed by markdown-it-py
(the Python port of the live view's parser, configured like js/markdown.ts: raw HTML shown as text,
the same link policy, images shown as links and never loaded), code is highlighted with Pygments,
and every fragment then passes the nh3 (Ammonia) allowlist before it is emitted. Plain text is
escaped with `html.escape`. Bundles carry `text/html` and a short `text/plain`, never `text/markdown`
(a second Markdown parser must not re-read model output).

API, for every view that shows model output (the static copy of a reply, `%ling history`, comparisons
and batch summaries):

- `markdown_html(text)`: sanitized HTML for Markdown text.
- `text_html(text)`: an escaped paragraph of plain text (line breaks kept).
- `code_blocks(markdown)`: the code of its fenced code blocks (`%%ling --code` puts them in a new cell).
- `plain_excerpt(markdown, limit)`: the readable text of Markdown on one line, cut to `limit` (batch rows).
- `reply_html(reply)`: one reply: the status line as a header (where the live view has its own, so nothing
  moves when the copy replaces it), reasoning in a closed <details>, the text, the error banner.
- `status_line(reply)`: that header as plain text.
- `table_html(header, rows)`: a table of plain-text cells.
- `bundle(html, plain)`: the output bundle for an HTML fragment built from the functions above; it adds
  our stylesheet and a wrapper, and cuts `plain` short.
- `reply_bundle(reply)`: `bundle(reply_html(reply), <the reply's text>)`.
- `reply_copy(reply)`: that bundle's HTML as pieces made one at a time, and its `text/plain`.
- `copy_metadata(provenance, *texts)`, `reply_metadata(reply)`: the output metadata shown with a copy: its
  provenance, and the Markdown of each reply in it, which the ling-notebook extension offers to Copy.

Cost: the static copy is built when a reply ends (on that reply's own end thread, see `Runner.finish`,
so streams, the kernel and other replies' ends go on meanwhile; again on the kernel's thread for a view
that asks for it after a reload), and Markdown is parsed and sanitized a window of top-level
blocks at a time (a paragraph longer than a window: a run of its inline tokens at a time): memory stays
near the text and the HTML, whatever the reply's length, and each window becomes one `ling-chunk` that
the browser may skip painting while it is off screen (`content-visibility: auto`). The reply's copy is
packed into its message as it is made (`reply_copy`, packed.py), never held whole as one string.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import Comment, Keyword, Literal, Name, Operator, String, _TokenType
from pygments.token import Generic as GenericToken

from . import formulas, tail
from .conversation import Conversation, assistant_content
from .cost import money
from .engine import valid_text
from .reply import ENDED
from .terminal import printable

if TYPE_CHECKING:
    from markdown_it.renderer import RendererHTML
    from markdown_it.utils import EnvType, OptionsDict

    from .parts import ToolCall
    from .reply import Reply

PLAIN_LIMIT = 2000
"""Characters of `text/plain` kept: the HTML carries the whole text."""

MAX_HIGHLIGHT_CHARS = 64_000
"""Larger code blocks are shown plain, as in the live view (js/highlight.ts)."""

_WINDOW = 32_000
"""About this many characters of Markdown are parsed, rendered and sanitized at a time."""

CHUNK_BLOCKS = 32
"""Top-level blocks per `ling-chunk`, as in the live view (js/renderer.ts)."""

# -- URL policy, the same as js/sanitize.ts ------------------------------------------------------

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
# Characters a browser ignores inside a URL scheme (`java\tscript:`) or that hide one.
_URL_NOISE = re.compile("[\u0000-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u200f\u2028\u2029\u205f\u3000\ufeff]")
_SCHEME = re.compile(r"^([^:/?#]*):")


def _scheme_of(url: str) -> str | None:
    match = _SCHEME.match(_URL_NOISE.sub("", url))
    return match.group(1).lower() if match else None


def is_safe_url(url: str) -> bool:
    """True when `url` may be a link target: http(s), mailto, or relative (no scheme). Entities are
    decoded by the Markdown parser before this sees a URL; percent-encoding is decoded here."""
    for candidate in (url, unquote(url)):
        scheme = _scheme_of(candidate)
        if scheme is not None and scheme not in SAFE_SCHEMES:
            return False
    return True


# -- highlighting --------------------------------------------------------------------------------

# The languages the live view highlights (js/highlight.ts), by the names and aliases it knows.
_LANGUAGES = {
    **dict.fromkeys(["python", "py", "gyp", "ipython", "python3", "py3"], "python"),
    **dict.fromkeys(["javascript", "js", "jsx", "mjs", "cjs", "node"], "javascript"),
    **dict.fromkeys(["typescript", "ts", "tsx", "mts", "cts"], "typescript"),
    **dict.fromkeys(["bash", "sh", "zsh", "shell", "shellscript"], "bash"),
    **dict.fromkeys(["console", "shellsession"], "console"),
    **dict.fromkeys(["json", "jsonc"], "json"),
    **dict.fromkeys(["sql", "postgresql", "postgres", "sqlite", "mysql"], "sql"),
}
# Pygments token types -> our classes, the categories the live view colours (see _STYLE).
_TOKEN_CLASSES: dict[_TokenType, str] = {
    Keyword: "k", Keyword.Type: "b", Operator.Word: "k", Name.Builtin: "b",
    String: "s", Literal.Number: "n", Comment: "c", Comment.Preproc: "m", Comment.Hashbang: "m",
    Name.Function: "d", Name.Class: "d", Name.Decorator: "m", Name.Tag: "t", Name.Attribute: "a",
    Name.Variable: "v", GenericToken.Prompt: "m",
}
# What the live view colours in one language only: operators in SQL (highlight.js marks them nowhere else, so
# elsewhere `=` or `+` would change colour when the copy replaces the view).
_LANGUAGE_CLASSES: dict[str, dict[_TokenType, str]] = {"sql": {Operator: "o"}}
_class_cache: dict[tuple[str, _TokenType], str] = {}


def _token_class(name: str, ttype: _TokenType) -> str:
    key = (name, ttype)
    if key not in _class_cache:
        classes = _TOKEN_CLASSES | _LANGUAGE_CLASSES.get(name, {})
        t: _TokenType | None = ttype
        while t is not None and t not in classes:
            t = t.parent
        _class_cache[key] = classes[t] if t is not None else ""
    return _class_cache[key]


@functools.cache
def _lexer(name: str) -> Lexer:
    return get_lexer_by_name(name, stripnl=False, ensurenl=False)


def highlight(code: str, lang: str) -> str:
    """Escaped HTML for `code`, with `<span class="ling-X">` around the tokens of a known language."""
    name = _LANGUAGES.get(lang)
    if name is None or len(code) > MAX_HIGHLIGHT_CHARS:
        return html.escape(code, quote=False)
    parts: list[str] = []
    run: list[str] = []
    current = ""
    for ttype, value in _lexer(name).get_tokens(code):
        cls = _token_class(name, ttype)
        if cls != current:  # neighbouring tokens of one colour share a span: fewer bytes to send
            _close_run(parts, run, current)
            current = cls
        run.append(value)
    _close_run(parts, run, current)
    return "".join(parts)


def _close_run(parts: list[str], run: list[str], cls: str) -> None:
    if run:
        text = html.escape("".join(run), quote=False)
        parts.append(f'<span class="ling-{cls}">{text}</span>' if cls else text)
        run.clear()


# -- Markdown ------------------------------------------------------------------------------------


def _render_image(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    # A link, not an image: a URL chosen by the model must not be fetched on its own (it could carry data away).
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    return (f'<a class="ling-image-link" href="{html.escape(src)}" title="{html.escape(f"Image (not loaded): {src}")}">'
            f"[image: {html.escape(alt)}]</a>")


def _render_fence(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    words = token.info.split(maxsplit=1)
    return f"<pre><code>{highlight(token.content, words[0].lower() if words else '')}</code></pre>\n"


def _render_heading(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    # A reply's headings are the model's, not the notebook's: kept out of its table of contents (JupyterLab and
    # Notebook 7 skip `tocSkip`), as while the live view showed them. Measured: at the end of a 20,000-token reply
    # JupyterLab drew each of them in its contents panel, one task of 400-600 ms.
    return f'<{tokens[idx].tag} class="tocSkip">'


def _render_cell(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    # markdown-it aligns cells with a style attribute; we keep no style from content, so a class instead.
    token = tokens[idx]
    align = str(token.attrGet("style") or "").removeprefix("text-align:")
    return f'<{token.tag} class="ling-{align}">' if align in ("left", "center", "right") else f"<{token.tag}>"


# linkify-it's own pretest runs a large regex over every paragraph, seconds for a long one; any link it
# finds has one of these, so most text skips it.
_MAY_LINK = re.compile(r"[.:@/]|localhost", re.IGNORECASE)


def _parser() -> MarkdownIt:
    md = MarkdownIt("default", {"html": False, "linkify": True, "typographer": False})
    md.validateLink = is_safe_url  # type: ignore[method-assign]
    pretest = md.linkify.pretest
    md.linkify.pretest = lambda text: _MAY_LINK.search(text) is not None and pretest(text)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("heading_open", _render_heading)
    md.add_render_rule("th_open", _render_cell)
    md.add_render_rule("td_open", _render_cell)
    formulas.install(md)
    tail.install(md)
    return md


_md = _parser()

# -- sanitizing ------------------------------------------------------------------------------------

_OUR_CLASSES = {"ling-chunk", "ling-reasoning", "ling-body", "ling-error", "ling-status", "ling-history",
                "ling-turn", "ling-role", "ling-table", "ling-text", "ling-note", "ling-title", "ling-compare-bar",
                "ling-tool", "ling-tool-label"}
_TAGS = {"a", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
         "hr", "li", "ol", "p", "pre", "s", "span", "strong", "summary", "table", "tbody", "td", "th", "thead",
         "tr", "ul"}
# MathML that latex2mathml makes (formulas.py); never `href`, `style`, `class` or `xlink:*` on it.
_MATH_TAGS = {"math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "munder",
              "mover", "munderover", "mfrac", "msqrt", "mroot", "mstyle", "merror", "mpadded", "mphantom", "mtable",
              "mtr", "mtd", "mlabeledtr", "menclose", "mmultiscripts", "mprescripts", "none"}
_MATH_ATTRIBUTES = {"display", "displaystyle", "scriptlevel", "mathvariant", "mathsize", "mathcolor", "stretchy",
                    "fence", "separator", "lspace", "rspace", "minsize", "maxsize", "movablelimits", "accent",
                    "accentunder", "symmetric", "largeop", "form", "linethickness", "columnalign", "rowalign",
                    "columnspacing", "rowspacing", "columnlines", "rowlines", "columnspan", "rowspan", "frame",
                    "framespacing", "equalrows", "equalcolumns", "width", "height", "depth", "voffset", "notation",
                    "align", "open", "close", "separators"}
_cleaner = nh3.Cleaner(
    tags=_TAGS | _MATH_TAGS,
    clean_content_tags={"script", "style"},
    attributes={"a": {"href", "title"}, "ol": {"start"}, "code": {"title"},
                **dict.fromkeys(_MATH_TAGS, _MATH_ATTRIBUTES)},
    allowed_classes={
        "code": {"ling-math-error"},
        "span": {f"ling-{c}" for classes in (_TOKEN_CLASSES, *_LANGUAGE_CLASSES.values()) for c in classes.values()}
        | {"ling-model", "ling-sep", "ling-state", "ling-math-label"},
        "a": {"ling-image-link"},
        **dict.fromkeys(("h1", "h2", "h3", "h4", "h5", "h6"), {"tocSkip"}),
        "th": {"ling-left", "ling-center", "ling-right"},
        "td": {"ling-left", "ling-center", "ling-right"},
        "div": _OUR_CLASSES | {"ling-math-block"},
        "details": _OUR_CLASSES,
        "p": _OUR_CLASSES,
        "table": _OUR_CLASSES,
    },
    url_schemes=set(SAFE_SCHEMES),
    link_rel="noopener noreferrer",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    strip_comments=True,
)


def sanitize(fragment: str) -> str:
    """`fragment` with every element, attribute, class and URL outside our allowlist removed."""
    return _cleaner.clean(valid_text(fragment))


_LINE_END = re.compile(r"\r\n?|\n")
_UTF8_LINE_END = re.compile(rb"\r\n?|\n")


def _windows(text: str | bytes, window: int = _WINDOW, *, cut: bool = False) -> Iterable[str]:
    """Sanitized HTML for `text`, a window of whole top-level blocks at a time.

    A window is cut at the start of its last top-level block (which may go on past the window) and
    that block is parsed again with the next window; a block longer than the window doubles it.
    Link reference definitions apply from where they are defined on (the live view: in their block).
    A text `cut` short has the inline markers its end leaves open closed (tail.py, as the live view).
    `text` may be UTF-8 (`Reply.kept`): each window is then decoded alone (a line end is never inside a
    character), and the text is never a str as a whole.
    """
    utf8 = isinstance(text, bytes)
    line_end = _UTF8_LINE_END if utf8 else _LINE_END
    env: dict[str, Any] = {}
    start, size = 0, window
    while start < len(text):
        end = len(text)
        if start + size < end:
            match = line_end.search(text, start + size)
            end = match.end() if match else end
        env["complete"] = cut and end == len(text)
        source = text[start:end].decode("utf-8", "surrogatepass") if utf8 else text[start:end]
        tokens = _md.parse(source, env)
        if env.pop("complete"):
            completed = tail.complete_tail(source, tokens, env)
            env.pop("tail", None)
            if completed != source:
                tokens = _md.parse(completed, env)
        del source
        if end < len(text):
            tops = [t.map[0] for t in tokens if t.level == 0 and t.nesting >= 0 and t.map]
            if len(tops) < 2:
                size *= 2
                continue
            last = tops[-1]  # not `cut`, the parameter: that name made every long text's end look cut short
            tokens = tokens[: next(i for i, t in enumerate(tokens) if t.level == 0 and t.map and t.map[0] == last)]
            # markdown-it counts \r\n, \r and \n each as one line end, as _LINE_END does.
            for i, match in enumerate(line_end.finditer(text, start, end), 1):
                if i == last:
                    end = match.end()
                    break
        yield from _sanitized(tokens, env, window)
        del tokens
        start, size = end, window


def _sanitized(tokens: list[Token], env: dict[str, Any], window: int) -> Iterator[str]:
    """The sanitized HTML of a window's `tokens`, in one pass, but for a top-level paragraph too long to hold
    several times over (a reply with no blank line, or no line break at all): its inline HTML goes a run of
    inline tokens at a time (`_inline_runs`), between the paragraph's own tags, which are ours."""
    long = next((i + 1 for i, t in enumerate(tokens) if t.type == "paragraph_open" and t.level == 0
                 and not t.attrs and len(tokens[i + 1].content) > window), None)  # its inline token
    if long is None:
        # Wrapped before sanitizing, and each big string dropped as soon as the next exists: a window
        # of HTML is then at most twice in memory here (not the rendered, sanitized and wrapped copies
        # held at once by this generator, its consumer and the join).
        html_text = "".join(_chunks(tokens, env))
        clean = sanitize(html_text)
        del html_text
        yield clean
        return
    if long > 1:
        yield from _sanitized(tokens[: long - 1], env, window)
    paragraph = tokens[long]
    yield '<div class="ling-chunk"><p>'
    for run in _inline_runs(paragraph.children or [], window):
        yield sanitize(_md.renderer.renderInline(run, _md.options, env))
    yield "</p>\n</div>"
    if long + 2 < len(tokens):
        yield from _sanitized(tokens[long + 2 :], env, window)


def _inline_runs(children: list[Token], window: int) -> Iterator[list[Token]]:
    """`children` in runs of about `window` characters, each cut where no inline element is open (so each
    run's HTML is whole), and a long run of plain text cut anywhere (its HTML is escaped character by
    character)."""
    run: list[Token] = []
    size = depth = 0
    for child in children:
        if depth == 0 and child.type == "text" and len(child.content) > window:
            if run:
                yield run
                run, size = [], 0
            for start in range(0, len(child.content), window):
                yield [Token("text", "", 0, content=child.content[start : start + window])]
            continue
        run.append(child)
        size += len(child.content)
        depth += child.nesting
        if depth == 0 and size >= window:
            yield run
            run, size = [], 0
    if run:
        yield run


def _chunks(tokens: list[Token], env: dict[str, Any]) -> Iterator[str]:
    """The HTML of `tokens`, `CHUNK_BLOCKS` top-level blocks to a `ling-chunk`, as the live view groups them
    (js/renderer.ts): the browser then styles and lays out only the chunks on screen (measured in JupyterLab,
    chunks of a whole window made the end of a long reply one task of style and layout over all of it)."""
    starts = [i for i, t in enumerate(tokens) if t.level == 0 and t.nesting >= 0]
    for first in range(0, len(starts), CHUNK_BLOCKS):
        begin = starts[first] if first else 0
        end = starts[first + CHUNK_BLOCKS] if first + CHUNK_BLOCKS < len(starts) else len(tokens)
        yield f'<div class="ling-chunk">{_md.renderer.render(tokens[begin:end], _md.options, env)}</div>'


def markdown_html(text: str, *, cut: bool = False) -> str:
    """Sanitized HTML for Markdown `text`, in `ling-chunk` divs (one per window of blocks); a text `cut`
    short (a reply stopped, failed or at max tokens) has the markers its end leaves open closed."""
    return "".join(_windows(text, cut=cut))


def code_blocks(markdown: str) -> list[str]:
    """The code of each fenced code block of `markdown`, in order (`%%ling --code`). The parser decides what
    a fence is: one inside a list or a quote counts (without the quote's `>`), ``` inside code does not."""
    return [token.content for token in _md.parse(markdown, {}) if token.type == "fence"]


def plain_excerpt(markdown: str, limit: int) -> str:
    """The readable text of Markdown on one line, at most `limit` characters (an ellipsis where cut):
    markers gone (`## `, `**`, list bullets, table pipes, fences), code and TeX kept as written. Read from
    markdown-it's token stream, so it is what the rendered Markdown says, not a guess by pattern."""
    # An excerpt needs the beginning only; Markdown cut short still parses (open blocks just end).
    tokens = _md.parse(markdown[: limit * 4 + 200], {})
    words: list[str] = []
    for token in tokens:
        if token.type in ("fence", "code_block") or token.type.startswith("math_block"):
            words.append(token.content)
        for child in token.children or []:
            if child.type in ("text", "code_inline", "math_inline", "math_inline_double"):
                words.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                words.append(" ")
        if token.type == "inline" or token.nesting == -1:  # the end of a block or inline run: a gap
            words.append(" ")
    text = " ".join("".join(words).split())
    return valid_text(text if len(text) <= limit else text[: limit - 1].rstrip() + "…")


def text_html(text: str, cls: str = "ling-text") -> str:
    """A paragraph of plain `text`, escaped; line breaks are kept by the stylesheet."""
    return f'<p class="{cls}">{valid_text(html.escape(text))}</p>'


def table_html(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A table of plain-text cells (each converted with `str` and escaped)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return sanitize(f'<table class="ling-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


# -- replies ---------------------------------------------------------------------------------------


LENGTH_NOTE = "The reply was cut off: it reached the token limit (max tokens)."


def state_text(reply: Reply) -> str:
    """The reply's state in words: a reply cut at max tokens is not shown as done (js/pane.ts, the same)."""
    if reply.status == "done" and reply.finish_reason == "length":
        return "cut off at max tokens"
    if reply.status == "stopped" and getattr(reply, "stopped_during", None) not in (None, "request", "stream"):
        return f"stopped by user ({reply.stopped_during})"  # a tool was waiting or running
    return {"stopped": "stopped by user"}.get(reply.status, reply.status)


def status_line(reply: Reply) -> str:
    """One line of plain text: model, state, and the numbers that are known."""
    return " · ".join([reply.model, *_status_parts(reply)])


def status_html(reply: Reply) -> str:
    """The copy's header: `status_line` with the model apart, laid out as the live view's header
    (js/pane.ts); the separator after the model shows only where our stylesheet is stripped."""
    return (f'<div class="ling-status"><span class="ling-model">{html.escape(reply.model)}</span>'
            f'<span class="ling-sep"> · </span>'
            f'<span class="ling-state">{html.escape(" · ".join(_status_parts(reply)))}</span></div>')


def _status_parts(reply: Reply) -> list[str]:
    parts = [state_text(reply)]
    if reply.ttft is not None:
        parts.append(f"first token {reply.ttft:.2f} s")
    elif not reply.streamed and reply.ended and reply.elapsed is not None:
        parts.append(f"total {reply.elapsed:.2f} s")  # the text came at once: no first token to time
    if reply.tokens_per_s is not None:
        parts.append(f"{reply.tokens_per_s:.0f} tokens/s")
    if getattr(reply, "rounds", 1) > 1:
        parts.append(f"{reply.rounds} rounds")
    if reply.usage is not None:
        u = reply.usage
        parts.append(f"{u.prompt_tokens} prompt + {u.completion_tokens} completion = {u.total_tokens} tokens")
        if (spent := getattr(reply, "cost", None)) is not None:
            parts.append(money(spent))
    if reply.finish_reason:
        parts.append(f"finish: {reply.finish_reason}")
    return parts + status_notes(reply)


def status_notes(reply: Reply) -> list[str]:
    """What the status line says of where the reply's context or text came from: a conversation resumed from
    the log after a restart, a replay. The static copy's line ends with them; the live view shows the same
    words (widget.py's `notes` trait, js/pane.ts)."""
    notes = []
    if getattr(reply, "continues", 0):
        notes.append(f"continues {reply.continues} earlier turn{'' if reply.continues == 1 else 's'}")
    if reply.replayed:
        notes.append(f"replayed from {reply.replayed[:16].replace('T', ' ')} UTC")
    return notes


def usage_state(reply: Reply) -> dict[str, Any] | None:
    """The reply's usage as a view shows it (js/contract.ts `Usage`): the counts, and the cost when priced."""
    if reply.usage is None:
        return None
    spent = reply.cost
    return {**vars(reply.usage), **({"cost": money(spent)} if spent is not None else {})}


def is_cut(reply: Reply) -> bool:
    """A reply that did not end on its own: its text stops mid-way (js/pane.ts `isCut`, the same rule)."""
    return reply.status != "done" or reply.finish_reason == "length"


def reply_html(reply: Reply) -> str:
    """One reply: the status line as a header, reasoning (closed), the text and the error banner."""
    return "".join(_reply_pieces(reply))


def _reply_pieces(reply: Reply) -> Iterator[str]:
    # Pieces, joined once by the caller: a long reply's HTML then exists in memory about twice at most.
    cut = is_cut(reply)
    yield valid_text(status_html(reply))
    if reasoning := _kept(reply, "reasoning"):
        yield '<details class="ling-reasoning"><summary>Reasoning</summary>'
        yield from _windows(reasoning, cut=cut)
        yield "</details>"
    del reasoning
    calls = getattr(reply, "tool_calls", None)
    if calls:  # the text parts and tool cards in their order (the reasoning stays in one section above)
        texts = [p for p in reply.parts if p.kind == "text"]
        for part in reply.parts:
            if part.kind == "tool_call":
                yield tool_card_html(part)
            elif part.kind == "text" and part.text:
                yield '<div class="ling-body">'
                yield from _windows(part.text, cut=cut and part is texts[-1])
                yield "</div>"
    elif text := _kept(reply, "text"):
        yield '<div class="ling-body">'
        yield from _windows(text, cut=cut)
        yield "</div>"
    if reply.finish_reason == "length":
        yield text_html(LENGTH_NOTE, "ling-note")
    if reply.error:
        yield text_html(f"Error: {reply.error}", "ling-error")


def _kept(reply: Reply, kind: str) -> str | bytes:
    """The reply's text or reasoning as it keeps it (`Reply.kept`: UTF-8 where that is smaller than a str), to
    render a window at a time; a reply read back from the log (export.Logged) has only its str."""
    kept = getattr(reply, "kept", None)
    return kept(kind) if kept is not None else getattr(reply, kind)


TOOL_SHOWN = 4000  # characters of a tool's arguments, output or result a card shows (the model gets more)
CALL_STATES = {"arguments": "receiving arguments", "pending": "waiting to run", "approval": "waiting for approval",
               "running": "running", "done": "done", "error": "error", "skipped": "not run", "stopped": "stopped"}


def tool_card_html(call: ToolCall) -> str:
    """A tool call as a closed `<details>`: its name and state, then arguments (JSON, indented when it parses),
    what it printed, and its result or error. All of it is text from the model or the tool: escaped, then
    sanitized like everything else."""
    head = f"Tool {call.name} · {CALL_STATES.get(call.state, call.state)}"
    if call.seconds is not None:
        head += f" · {call.seconds:.2f} s"
    sections = [("Arguments", tool_arguments_text(call))]
    if call.output:
        sections.append(("Printed", call.output))
    if call.error is not None:
        sections.append(("Error", call.error))
    elif call.result is not None:
        sections.append(("Result", call.result))
    body = "".join(f'<p class="ling-tool-label">{html.escape(label)}</p>'
                   f"<pre><code>{html.escape(cut_plain(text, TOOL_SHOWN))}</code></pre>" for label, text in sections)
    return sanitize(f'<details class="ling-tool"><summary>{html.escape(head)}</summary>{body}</details>')


def tool_arguments_text(call: ToolCall) -> str:
    """The arguments as indented JSON once they are complete and valid, else as the model sent them."""
    parsed = call.arguments
    return json.dumps(parsed, indent=2, ensure_ascii=False) if parsed is not None else call.arguments_text


def reply_plain(reply: Reply) -> str:
    """The reply's text for front ends without HTML (as `_plain`: cut short, printable), or its state when it
    has none. A long reply kept as UTF-8 is read a slice at a time: its text is never a str as a whole here."""
    text = _kept(reply, "text")
    if not text:
        return f"[{reply.status}]"
    if isinstance(text, str):
        return _plain(text)
    shown, total = [], 0
    for piece in text_slices(text):
        if total < PLAIN_LIMIT:
            shown.append(piece[: PLAIN_LIMIT - total])
        total += len(piece)
    return printable(_cut_note("".join(shown), total, PLAIN_LIMIT))


def text_slices(text: str | bytes, size: int = 1 << 16) -> Iterator[str]:
    """`text` (a str, or UTF-8 as `Reply.kept` keeps it) as valid, non-empty strs (`valid_text`) of about `size`
    characters or bytes, in order, as `valid_text(text)` would be cut: never a str of a long text's whole."""
    carry = ""  # a high surrogate at a slice's end: with the low one that may begin the next, one character
    for piece in _raw_slices(text, size):
        piece = carry + piece
        carry = piece[-1] if "\ud800" <= piece[-1] <= "\udbff" else ""
        if len(piece) > len(carry):
            yield valid_text(piece[: len(piece) - len(carry)])
    if carry:
        yield valid_text(carry)


def _raw_slices(text: str | bytes, size: int) -> Iterator[str]:
    if isinstance(text, str):
        for start in range(0, len(text), size):
            yield text[start : start + size]
        return
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        while end < len(text) and text[end] & 0xC0 == 0x80:  # not inside a character: on to its end
            end += 1
        yield text[start:end].decode("utf-8", "surrogatepass")
        start = end


COPY_MIME = "application/vnd.ling-notebook.copy+json"
"""Beside a copy's `text/html`, with `{}` as its value: the ling-notebook extension draws that HTML in JupyterLab
and Notebook 7 (js/copyview.ts: parsed inert, a few chunks a frame), not their HTML renderer (the whole copy
parsed, styled and laid out in one task, then MathJax loaded: benchmark figure 10). Elsewhere (nbconvert,
GitHub, VS Code, a page without the extension) the type is unknown and `text/html` is shown."""


def reply_bundle(reply: Reply) -> dict[str, Any]:
    """The output that shows a finished reply: the static copy that replaces the live view."""
    return {"text/html": "".join(_wrapped(_reply_pieces(reply))), "text/plain": reply_plain(reply), COPY_MIME: {}}


def reply_copy(reply: Reply) -> tuple[Iterator[str], str]:
    """`reply_bundle` unjoined: its `text/html` as pieces made one at a time (a window of blocks each, see
    `_windows`), to pack as they come (packed.py); and its `text/plain`."""
    return _wrapped(_reply_pieces(reply)), reply_plain(reply)


COPY_METADATA = "ling_notebook"
"""The key of a copy's output metadata: its provenance (record.py) and the Markdown the extension copies."""


DEFLATE_FROM = 1 << 16
"""Size of a Markdown text (characters of a str, bytes of UTF-8 as `Reply.kept` keeps it) from which a copy's
metadata holds it compressed (`copy_metadata`)."""


def copy_metadata(provenance: dict[str, Any], *texts: str | bytes, packing: bool = False) -> dict[str, Any]:
    """The output metadata of a static copy: its `provenance` (`record.provenance` and kin), and the Markdown
    of each reply in it, in the order of their headers (`markdown`).

    The ling-notebook extension (js/copies.ts) offers the Markdown to Copy from each header, as the live view
    does: the HTML cannot give the Markdown back. Metadata, because no front end ever renders it (a
    `text/markdown` would be rendered by someone else's parser; an unknown MIME type makes VS Code say it has
    no renderer) and `text/plain` is cut short. A text of `DEFLATE_FROM` or more is kept compressed,
    `{"deflate": <base64 of its UTF-8 in zlib's format>}` (what the browser's `DecompressionStream("deflate")`
    reads): a long reply's Markdown then takes a third of its size or less on the wire and in the file. A text
    may be UTF-8, as `Reply.kept` keeps it. With `packing` (packed.py), that base64 is an iterator of its
    pieces, compressed as the message is written, after the HTML: the kernel never holds it whole.
    """
    markdown = [_markdown(t, packing) for t in texts]
    return {COPY_METADATA: {**provenance.get(COPY_METADATA, {}), "markdown": markdown}}


def _markdown(text: str | bytes, packing: bool) -> str | dict[str, Any]:
    if len(text) < DEFLATE_FROM:
        return valid_text(text if isinstance(text, str) else text.decode("utf-8", "surrogatepass"))
    pieces = _deflated(text)
    return {"deflate": pieces if packing else "".join(pieces)}


def _deflated(text: str | bytes) -> Iterator[str]:
    """The base64 of `text` compressed (its UTF-8, valid), a piece at a time."""
    packer, rest = zlib.compressobj(), b""
    for piece in text_slices(text):
        data = rest + packer.compress(piece.encode())
        whole = len(data) - len(data) % 3  # base64 of whole groups of 3 bytes: the pieces then join
        rest = data[whole:]
        if whole:
            yield base64.b64encode(data[:whole]).decode("ascii")
    yield base64.b64encode(rest + packer.flush()).decode("ascii")


def reply_metadata(reply: Reply, *, packing: bool = False) -> dict[str, Any]:
    """The output metadata of the reply's static copy (`copy_metadata`)."""
    from .record import provenance

    return copy_metadata(provenance(reply), _kept(reply, "text"), packing=packing)


def history_bundle(chat: Conversation) -> dict[str, str]:
    """`%ling history`: every turn of a conversation, prompts and replies rendered as Markdown, compact:
    a rule between turns, the replies' headings no bigger than the title, a reply still streaming marked."""
    if not chat.turns:
        return bundle(text_html(f"Conversation {chat.name!r} is empty."), f"Conversation {chat.name!r} is empty.")
    title = f"Conversation {chat.name!r}, {len(chat.turns)} turn(s)"
    parts = [text_html(title, "ling-title")]
    plain = [title]
    if chat.system:
        parts.append(_turn_html([("system", markdown_html(chat.system))]))
        plain.append(f"system: {chat.system}")
    for turn in chat.turns:
        reply = turn.reply
        answer = assistant_content(reply)
        ended = reply.status in ENDED
        role = "assistant" if ended else f"assistant · {reply.status}…"
        cards = "".join(tool_card_html(call) for call in getattr(reply, "tool_calls", ()))  # what the model was told
        parts.append(_turn_html([
            ("user", markdown_html(turn.prompt)),
            (role, cards + (markdown_html(answer, cut=not ended) if answer is not None
                            else text_html("(no reply; not sent again)"))),
        ]))
        plain += [f"user: {turn.prompt}", f"{role}: {answer if answer is not None else '(no reply)'}"]
    return bundle(f'<div class="ling-history">{"".join(parts)}</div>', "\n\n".join(plain))


def _turn_html(messages: list[tuple[str, str]]) -> str:
    return '<div class="ling-turn">' + "".join(f'{text_html(role, "ling-role")}{body}' for role, body in messages) + (
        "</div>")


# -- bundles ---------------------------------------------------------------------------------------

# Scoped to our wrapper, and coloured with JupyterLab's --jp-* variables, so it follows the light and
# dark themes in JupyterLab, Notebook 7 and nbconvert's HTML; the fallbacks suit a light page. It must
# stand alone: after a reload without a kernel our front end's stylesheet is not on the page. Rules that
# JupyterLab's own outrank otherwise name the wrapper twice or three times: code blocks and table cells
# (`.jp-ThemedContainer .jp-RenderedHTMLCommon pre`, cells aligned right as for data frames), its
# `word-break: break-all` on code (identifiers broken mid-word), and its heading sizes (a reply's H2
# outsizing the history's title). An error has the one look of errors (js/widget.css `.ling-error`).
_STYLE = """<style>
.ling-static{overflow-wrap:break-word}
.ling-static .ling-chunk{content-visibility:auto;contain-intrinsic-size:auto 1000px}
.ling-static .ling-chunk>:first-child{margin-top:0}
.ling-static .ling-chunk:last-child>:last-child{margin-bottom:0}
.ling-static .ling-text,.ling-static .ling-error,.ling-static .ling-note{white-space:pre-wrap}
.ling-static .ling-reasoning{margin:0 0 8px;padding-left:10px;border-left:3px solid var(--jp-border-color2,#ccc);
color:var(--jp-content-font-color2,inherit)}
.ling-static .ling-reasoning>summary{cursor:pointer;color:var(--jp-ui-font-color2,inherit)}
.ling-static.ling-static .ling-error{margin:8px 0 0;padding:6px 10px;
border-left:4px solid var(--jp-error-color1,#d32f2f);border-radius:var(--jp-border-radius,2px);
background:rgba(211,47,47,.12);background:color-mix(in srgb,var(--jp-error-color1,#d32f2f) 14%,transparent);
color:var(--jp-content-font-color1,inherit);word-break:normal;overflow-wrap:break-word}
.ling-static.ling-static .ling-note{margin:6px 0 0;color:var(--jp-ui-font-color2,#666);font-style:italic;
font-size:var(--jp-ui-font-size1,13px)}
.ling-static.ling-static .ling-status{display:flex;flex-wrap:wrap;align-items:center;gap:2px 12px;min-height:22px;
margin:0 0 4px;padding:2px 0 4px;border-bottom:1px solid var(--jp-border-color2,#ccc);
color:var(--jp-ui-font-color2,#666);font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:var(--jp-ui-font-size1,13px);line-height:1.5;
font-variant-numeric:tabular-nums;white-space:normal}
.ling-static .ling-sep{display:none}
.ling-static .ling-model{font-weight:600;color:var(--jp-ui-font-color1,inherit)}
.ling-static.ling-static .ling-title{margin:0 0 6px;font-weight:600;font-size:var(--jp-content-font-size2,1.15em)}
.ling-static .ling-turn{padding:6px 0;border-top:1px solid var(--jp-border-color2,#ccc)}
.ling-static.ling-static .ling-role{margin:0 0 2px;font-weight:600;font-size:var(--jp-ui-font-size1,13px);
color:var(--jp-ui-font-color2,#666)}
.ling-static.ling-static .ling-role~.ling-role{margin-top:8px}
.ling-static.ling-static .ling-turn :is(h1,h2,h3,h4,h5,h6){margin:.8em 0 .3em;font-size:1em;line-height:1.3}
.ling-static.ling-static .ling-turn :is(h1,h2){font-size:1.1em}
.ling-static .ling-image-link{font-style:italic}
.ling-static .ling-math-block{display:flex;align-items:center;margin:0 0 1em;overflow-x:auto;overflow-y:hidden}
.ling-static .ling-math-block>math{flex:1}
.ling-static .ling-math-error{cursor:help;text-decoration:underline dotted var(--jp-error-color1,#d32f2f)}
.ling-static.ling-static .ling-tool{margin:6px 0;padding:4px 10px;border:1px solid var(--jp-border-color2,#ccc);
border-radius:var(--jp-border-radius,2px)}
.ling-static .ling-tool>summary{cursor:pointer;font-size:var(--jp-ui-font-size1,13px);
color:var(--jp-ui-font-color1,inherit)}
.ling-static.ling-static .ling-tool-label{margin:6px 0 2px;font-size:var(--jp-ui-font-size0,11px);
color:var(--jp-ui-font-color2,#666)}
.ling-static.ling-static th,.ling-static.ling-static td{text-align:left}
.ling-static.ling-static .ling-center{text-align:center}.ling-static.ling-static .ling-right{text-align:right}
.ling-static.ling-static pre{margin:0 0 1em;padding:8px 10px;overflow-x:auto;white-space:pre;
background:var(--jp-cell-editor-background,rgba(127,127,127,.1));color:var(--jp-content-font-color1,inherit)}
.ling-static.ling-static.ling-static pre code{padding:0;background:none;color:inherit;white-space:pre;word-break:normal;
overflow-wrap:normal}
.ling-static.ling-static.ling-static :not(pre)>code{word-break:normal;overflow-wrap:break-word}
.ling-static .ling-k{color:var(--jp-mirror-editor-keyword-color,#008000);font-weight:bold}
.ling-static .ling-b{color:var(--jp-mirror-editor-builtin-color,#008000)}
.ling-static .ling-s{color:var(--jp-mirror-editor-string-color,#ba2121)}
.ling-static .ling-n{color:var(--jp-mirror-editor-number-color,#080)}
.ling-static .ling-c{color:var(--jp-mirror-editor-comment-color,#408080);font-style:italic}
.ling-static .ling-d{color:var(--jp-mirror-editor-def-color,#00f)}
.ling-static .ling-m{color:var(--jp-mirror-editor-meta-color,#a2f)}
.ling-static .ling-t{color:var(--jp-mirror-editor-tag-color,#008000)}
.ling-static .ling-a{color:var(--jp-mirror-editor-attribute-color,#00c)}
.ling-static .ling-v{color:var(--jp-mirror-editor-variable-color,inherit)}
.ling-static .ling-o{color:var(--jp-mirror-editor-operator-color,#a2f)}
</style>"""


def cut_plain(text: str, limit: int = PLAIN_LIMIT) -> str:
    """`text`, cut after `limit` characters with a note saying how many more there are."""
    return text if len(text) <= limit else _cut_note(text[:limit], len(text), limit)


def _cut_note(shown: str, total: int, limit: int) -> str:
    return shown if total <= limit else f"{shown}… [{total - limit} more characters]"


def bundle(fragment: str, plain: str) -> dict[str, Any]:
    """An output bundle for a fragment made by this module: our stylesheet and wrapper around it, and
    `plain` (cut short) for front ends without HTML."""
    return _bundle([valid_text(fragment)], plain)


_OPEN = '<div class="ling-static tex2jax_ignore mathjax_ignore">'


def _bundle(pieces: Iterable[str], plain: str) -> dict[str, Any]:
    # Every piece is valid text already (sanitized, or escaped by `text_html`, or checked by `bundle`):
    # no pass over the whole, which would copy a long reply's HTML again.
    return {"text/html": "".join(_wrapped(pieces)), "text/plain": _plain(plain), COPY_MIME: {}}


def _wrapped(pieces: Iterable[str]) -> Iterator[str]:
    # `tex2jax_ignore`/`mathjax_ignore`: MathJax must not read `$...$` in model output as TeX (the live
    # view does not either), and typesetting a long reply would hold the browser's main thread.
    yield _STYLE
    yield _OPEN
    yield from pieces
    yield "</div>"


def _plain(text: str) -> str:
    return printable(valid_text(cut_plain(text)))
