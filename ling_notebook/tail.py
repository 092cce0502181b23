"""Completes the unclosed inline markers at the end of a Markdown text cut short (a stopped reply, or
one cut at max tokens), so its static copy shows `**bold` as bold, not a stray `**`.

The same rules as the live view's js/tail.ts, on markdown-it-py (the port of the parser the live view
uses), so both complete the same text the same way. While the last block is parsed, two rules note
what its last inline content leaves open: emphasis and strikethrough openers that `balance_pairs` left
unmatched, and a backtick run that found no closer. The parser decides what is a marker: markers in
code spans and fences are never touched, and one that could not open (`snake_case`, `2 * 3`) is never
closed. A marker run with nothing after it yet (`text **`) is dropped.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

_MARKERS = frozenset(map(ord, "*_~"))
_PENDING = re.compile(r"(?:^|\s)([*_~]+)$")
_OPEN_CODE = "ling_open_code"  # the first unmatched backtick run of an inline parse: (token, start, end)


@dataclass
class Tail:
    """What the last inline content parsed leaves open: drop `drop` characters from its end, then add `append`."""

    src: str
    drop: int
    append: str


def install(md: MarkdownIt) -> None:
    """Adds the rules that note `env["tail"]` when `env["complete"]` is set; they do nothing otherwise."""
    backticks = next(rule.fn for rule in md.inline.ruler.__rules__ if rule.name == "backticks")

    def backticks_noting(state: StateInline, silent: bool) -> bool:
        start, tokens = state.pos, len(state.tokens)
        matched = backticks(state, silent)
        # An unmatched run is kept as plain text and parsing goes on after it: note the first one.
        if (matched and not silent and len(state.tokens) == tokens and state.env.get("complete")
                and not hasattr(state, _OPEN_CODE) and state.src[start] == "`"):
            setattr(state, _OPEN_CODE, (tokens, start, state.pos))
        return matched

    def note_tail(state: StateInline) -> None:
        if state.env.get("complete"):
            state.env["tail"] = _note(state)

    md.inline.ruler.at("backticks", backticks_noting)
    md.inline.ruler2.after("balance_pairs", "ling_tail", note_tail)


def _note(state: StateInline) -> Tail:
    src = state.src
    code: tuple[int, int, int] | None = getattr(state, _OPEN_CODE, None)
    openers = []
    for d in state.delimiters:
        if code and d.token >= code[0]:
            break  # inside the code span the run opens
        if d.marker in _MARKERS and d.open and d.end == -1:
            openers.append("~~" if d.marker == ord("~") else chr(d.marker))
    keep, append = len(src), ""
    if code and not src[code[2]:].strip():
        keep = code[1]  # nothing in the code span yet: hold the backticks back
    elif code:
        ticks = code[2] - code[1]
        # A shorter run at the end may be the start of the closing one: hold it back.
        trailing = len(src) - len(src.rstrip("`"))
        if 0 < trailing < ticks:
            keep -= trailing
        append = (" " if trailing and keep == len(src) else "") + "`" * ticks
    if not code or keep == code[1]:
        # A marker run with nothing after it yet is held back. At the end of the content it opens
        # nothing; before a held-back code span it did, and its openers are dropped with it.
        rest = src[:keep].rstrip()
        if match := _PENDING.search(rest):
            keep = len(rest) - len(match.group(1))
            run = match.group(1) if code else ""
            while run and openers and run.endswith(openers[-1]):
                run = run[: -len(openers.pop())]
    return Tail(src, len(src) - keep, append + "".join(reversed(openers)))


def complete_tail(src: str, tokens: Sequence[Token], env: MutableMapping[str, Any]) -> str:
    """`src` with the markers its last inline content leaves open closed, given the tokens and env of a
    parse of `src` with `env["complete"]` set; `src` itself when there is nothing to complete, or when the
    last block does not end with inline content (a fence, an empty list item) or ends past it (a table
    row's closing pipe, a heading's closing #s)."""
    tail: Tail | None = env.get("tail")
    last = len(tokens) - 1
    while last >= 0 and tokens[last].nesting == -1:
        last -= 1
    if tail is None or last < 0 or tokens[last].type != "inline" or tokens[last].content != tail.src:
        return src
    if not tail.drop and not tail.append:
        return src
    trimmed = src.rstrip()
    last_line = tail.src[tail.src.rfind("\n") + 1:]
    if not trimmed.endswith(last_line) or tail.drop > len(last_line):
        return src
    kept = trimmed[: len(trimmed) - tail.drop]
    return (kept.rstrip() if tail.append else kept) + tail.append
