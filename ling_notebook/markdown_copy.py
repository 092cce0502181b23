"""The static Markdown copy of a reply: what a saved notebook, nbconvert and non-widget front ends show.

Model output is untrusted, and JupyterLab renders Markdown outputs of trusted notebooks without
sanitizing them, so raw HTML is escaped and script-capable link schemes are defused here, exactly
as the live view does. Code (fenced blocks and inline spans) is left as it is: renderers never treat
it as HTML, and escaping it would show `&lt;` to the reader.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .reply import Reply

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SPECIAL = re.compile(r"\\|`+|[<&]")
_TICKS = re.compile(r"`+")
_UNSAFE_SCHEMES = "javascript|vbscript|livescript|data"
_SCHEME = re.compile(rf"(?i)\b({_UNSAFE_SCHEMES})(\s*\\?:)")
# `[text](javascript:...)` and `[label]: javascript:...` are escaped so they show as text, like the live view.
_UNSAFE_LINK = re.compile(rf"(?i)\]\((?=\s*(?:&lt;)?\s*(?:{_UNSAFE_SCHEMES})\s*\\?:)")
_UNSAFE_DEFINITION = re.compile(rf"(?i)^( {{0,3}})\[(?=[^\]]*\]:\s*<?\s*(?:{_UNSAFE_SCHEMES})\s*\\?:)")


def safe_markdown(text: str) -> str:
    """Markdown that renders like `text` but cannot carry raw HTML or script links."""
    out: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if fence is not None:
            out.append(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) and not line.strip(
                " " + fence[0]
            ):
                fence = None
        elif match and not (match.group(1)[0] == "`" and "`" in line[match.end() :]):
            fence = match.group(1)
            out.append(line)
        else:
            out.append(_escape_inline(_UNSAFE_DEFINITION.sub("\\1\\\\[", line)))
    if fence is not None:
        out.append(fence)  # close it, so nothing after the reply is swallowed into the code block
    return "\n".join(out)


def _escape_inline(line: str) -> str:
    """Escape HTML outside inline code spans, honouring backslash escapes like CommonMark does.

    Plain runs are copied whole between the few characters that matter, so a long line costs
    about one copy of itself.
    """
    parts: list[str] = []
    plain: list[str] = []
    i, n = 0, len(line)
    while (match := _SPECIAL.search(line, i)) is not None:
        j = match.start()
        plain.append(line[i:j])
        char = line[j]
        if char == "\\":
            following = line[j + 1 : j + 2]
            plain.append(_escape_char(following) if following and following in "<&" else char + following)
            i = j + 2
        elif char == "`":
            run = len(match.group())
            end = _closing_ticks(line, j + run, run)
            if end < 0:
                plain.append(match.group())
                i = j + run
            else:
                parts += [_defuse("".join(plain)), line[j : end + run]]
                plain.clear()
                i = end + run
        else:
            plain.append(_escape_char(char))
            i = j + 1
    plain.append(line[i:n])
    parts.append(_defuse("".join(plain)))
    return "".join(parts)


def _closing_ticks(line: str, start: int, run: int) -> int:
    """Index of a backtick run of exactly `run` characters at or after `start`, or -1."""
    for match in _TICKS.finditer(line, start):
        if len(match.group()) == run:
            return match.start()
    return -1


def _escape_char(char: str) -> str:
    return "&lt;" if char == "<" else "&amp;" if char == "&" else char


def _defuse(text: str) -> str:
    # A zero-width space before the colon leaves the word readable but no longer a URL scheme.
    text = _SCHEME.sub("\\1\u200b\\2", _UNSAFE_LINK.sub("]\\\\(", text))
    # Images are not loaded, as in the live view: a URL chosen by the model could carry data away.
    return text.replace("![", "!\\[")


def static_markdown(reply: Reply) -> str:
    """The whole static copy: reasoning (collapsed), the text, an error line and a status footer."""
    sections = []
    if reply.reasoning:
        sections.append(f"<details><summary>Reasoning</summary>\n\n{safe_markdown(reply.reasoning)}\n\n</details>")
    if reply.text:
        sections.append(safe_markdown(reply.text))
    if reply.error:
        sections.append(f"> **Error:** {safe_markdown(reply.error)}")
    sections.append(f"<sub>{safe_markdown(status_line(reply))}</sub>")
    return "\n\n".join(sections)


def status_line(reply: Reply) -> str:
    """One line: model, state, and the numbers that are known."""
    state = {"stopped": "stopped by user"}.get(reply.status, reply.status)
    parts = [reply.model, state]
    if reply.ttft is not None:
        parts.append(f"first token {reply.ttft:.2f} s")
    if reply.tokens_per_s is not None:
        parts.append(f"{reply.tokens_per_s:.0f} tokens/s")
    if reply.usage is not None:
        u = reply.usage
        parts.append(f"{u.prompt_tokens} prompt + {u.completion_tokens} completion = {u.total_tokens} tokens")
    if reply.finish_reason:
        parts.append(f"finish: {reply.finish_reason}")
    return " · ".join(parts)
