"""The reply log read back as replies, and a conversation written out: as Markdown, or as a notebook of
`%%ling` cells with their replies.

`%ling export` and the `ling-notebook log` command line both come here, so an export needs no kernel that
lived through the conversation: the replies are the log's rows, each read as a `Logged`, which the static
copy (`render.reply_bundle`, `render.reply_metadata`, `record.provenance`) reads as it reads a `Reply`: an
exported notebook shows what the live package would have saved. Which rows make a conversation is the
caller's choice (a kernel's turns, or `turn_ids` for the command line). Parsing the magic line and the
command line is not done here.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import shlex
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import engine, record, render
from .config import ConfigurationError
from .fill import literal
from .parts import Part, TextPart, ToolCall
from .reply import rate

FORMATS = ("md", "ipynb")


class Logged:
    """A reply as its row in the log keeps it, with what the views read of a `Reply` that has ended."""

    ended = True
    replayed = None  # a replayed reply adds no row
    stopped_during = None  # not logged: the status line says "stopped by user"
    started_at = None  # `record.provenance` reads the time from the row instead

    def __init__(self, row: sqlite3.Row) -> None:
        request = json.loads(row["request"])
        self.id: str = row["id"]
        self.time: str = row["time"]
        self.origin = {name: row[name] for name in ("notebook", "cell", "conversation")}
        self.model: str = row["model"]
        self.server: str = row["server"]
        self.request: dict[str, Any] = request
        self.text: str = row["text"]
        self.reasoning: str = row["reasoning"]
        self.status: str = row["status"]
        self.error: str | None = row["error"]
        self.finish_reason: str | None = row["finish_reason"]
        self.ttft: float | None = row["ttft"]
        self.elapsed: float | None = row["duration"]
        self.streamed: bool = bool(request.get("stream", True))
        self._params: dict[str, Any] = request.get("params") or {}
        self.usage = (engine.Usage(row["prompt_tokens"], row["completion_tokens"], row["total_tokens"])
                      if row["total_tokens"] is not None else None)
        self.tool_calls = [_call(fields) for fields in json.loads(row["parts"] or "[]")]
        self._tools = {call.name for call in self.tool_calls}  # the log keeps the calls, not the tools offered
        answered = [m.get("content") or "" for m in request.get("exchange") or [] if m.get("role") == "assistant"]
        self.rounds = len(answered) + 1
        self.parts = _parts(self.text, answered, self.tool_calls)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages the request sent."""
        return self.request.get("messages") or []

    @property
    def prompt(self) -> str:
        """The last user message: the prompt of this turn."""
        content = next((m.get("content") for m in reversed(self.messages) if m.get("role") == "user"), "")
        return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)

    @property
    def tokens_per_s(self) -> float | None:
        """As `Reply.tokens_per_s`, from the logged usage and times (the count of pieces is not logged)."""
        if not self.streamed or self.ttft is None or self.elapsed is None or self.usage is None:
            return None
        return rate(self.usage.completion_tokens, self.elapsed - self.ttft)


def _call(fields: dict[str, Any]) -> ToolCall:
    seconds = fields.get("seconds")
    call = ToolCall(fields["round"], 0, fields["id"], fields["name"], state=fields["state"], result=fields["result"],
                    error=fields["error"], output=fields.get("output") or "",
                    started_at=None if seconds is None else 0.0, ended_at=seconds)
    call.add_arguments(fields["arguments"] or "")
    return call


def _parts(text: str, answered: list[str], calls: list[ToolCall]) -> list[Part]:
    """The reply's text and tool calls in their order: each answered round's text (its assistant message in
    the logged exchange) then its calls; the rest of the text is the last round's, before that round's calls."""
    parts: list[Part] = []
    start = 0
    for number in range(1, len(answered) + 2):
        end = start + len(answered[number - 1]) if number <= len(answered) else len(text)
        parts.append(TextPart("text", number, text, start, end))
        parts += [call for call in calls if call.round == number]
        start = end
    return parts


@contextlib.contextmanager
def _reading(log: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise ConfigurationError(f"the reply log {log} cannot be read ({exc}).") from None


def latest(log: str) -> Iterator[Logged]:
    """Every logged reply, the latest first (read as they are asked for). FileNotFoundError: no log there."""
    with _reading(log):
        connection = record.connect(log)
        try:
            connection.row_factory = sqlite3.Row
            for row in connection.execute("SELECT * FROM replies ORDER BY seq DESC"):
                yield Logged(row)
        finally:
            connection.close()


def one(log: str, prefix: str) -> Logged:
    """The logged reply whose id is or starts with `prefix`."""
    if not re.fullmatch("[0-9a-f]{1,32}", prefix):  # hexadecimal only: no LIKE wildcard either
        raise ConfigurationError(f"{prefix!r} is not a reply id: ids are hexadecimal, as `ling-notebook log` "
                                 "lists them.")
    with _reading(log):
        found = record.rows(log, "id LIKE ?", (f"{prefix}%",))
    if len(found) != 1:
        raise ConfigurationError(f"{len(found)} replies have an id starting with {prefix}: give "
                                 + ("more of it." if found else "one that `ling-notebook log` lists."))
    return Logged(found[0])


def replies(log: str, ids: list[str]) -> list[Logged]:
    """The logged replies with these ids, in this order; those not in the log are left out."""
    with _reading(log):
        try:
            found = record.rows(log, "id IN (SELECT value FROM json_each(?))", (json.dumps(ids),))
        except FileNotFoundError:
            return []
    by_id = {row["id"]: row for row in found}
    return [Logged(by_id[id_]) for id_ in ids if id_ in by_id]


def conversations(log: str) -> dict[str, list[str | None]]:
    """Each conversation name in the log, and the notebooks it was asked from (latest last)."""
    with _reading(log):
        try:
            found = record.rows(log, "conversation IS NOT NULL", (), "notebook, conversation")
        except FileNotFoundError:
            return {}
    names: dict[str, dict[str | None, None]] = {}
    for row in found:
        notebooks = names.setdefault(row["conversation"], {})
        notebooks.pop(row["notebook"], None)
        notebooks[row["notebook"]] = None
    return {name: list(notebooks) for name, notebooks in sorted(names.items())}


def names(log: str, notebook: str | None) -> list[str]:
    """The conversations of a notebook in the log (none where the notebook is not known)."""
    return [name for name, notebooks in conversations(log).items() if notebook is not None and notebook in notebooks]


def turn_ids(log: str, notebook: str, name: str) -> list[str]:
    """The replies of a notebook's conversation that a restarted kernel would continue (`record.read_turns`)."""
    with _reading(log):
        try:
            return [reply.id for _, _, reply in record.read_turns(log, notebook, name)]
        except FileNotFoundError:
            return []


def unknown(name: str, known: list[str]) -> ConfigurationError:
    """The refusal of a conversation that is not there, naming those that are."""
    return ConfigurationError(f"no conversation {name!r} to export; known: {', '.join(map(repr, known)) or 'none'}.")


def check(to: str | None, path: str, *, force: bool) -> None:
    """Refuse, before reading the log, a format we do not write or a file that would be overwritten."""
    if to not in FORMATS:
        raise ConfigurationError(f"cannot export to {to!r}: --to takes md (Markdown) or ipynb (a notebook).")
    if Path(path).exists() and not force:
        raise ConfigurationError(f"{path} exists: choose another path, or add --force to replace it.")


def write(logged: list[Logged], to: str, path: str, name: str) -> None:
    """Write the conversation `name` made of these replies to `path`, as Markdown or as a notebook."""
    if not logged:
        raise ConfigurationError(f"conversation {name!r} has no reply in the log to export.")
    text = markdown(logged, name) if to == "md" else json.dumps(notebook(logged, name), indent=1, ensure_ascii=False)
    try:
        Path(path).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path} ({exc.strerror or exc}).") from None


# -- Markdown --------------------------------------------------------------------------------------

def markdown(logged: list[Logged], name: str) -> str:
    """The conversation as a Markdown document: each prompt, then the reply under its status line. What came
    from a tool (arguments, results) is in indented code blocks, so none of it is read as Markdown."""
    first = logged[0]
    asked_in = first.origin["notebook"]
    blocks = [f"# Conversation {name!r}", (f"Notebook {asked_in} · " if asked_in else "")
              + f"{len(logged)} turn(s) from the reply log"]
    system = next((m.get("content") for m in first.messages if m.get("role") == "system"), None)
    if isinstance(system, str):
        blocks += ["## System", system]
    for reply in logged:
        # The status line holds what the server said (model name): as text, never as HTML.
        blocks += ["## User", reply.prompt, f"## {html.escape(_one_line(render.status_line(reply)))}",
                   reply_markdown(reply)]
    return "\n\n".join(block.strip("\n") for block in blocks)


def reply_markdown(reply: Logged) -> str:
    """A reply's reasoning (quoted), text and tool calls in their order, and its error, as Markdown."""
    blocks = []
    if reply.reasoning:
        blocks.append("\n".join(f"> {line}".rstrip(" ") for line in f"Reasoning:\n\n{reply.reasoning}".splitlines()))
    for part in reply.parts:
        if isinstance(part, ToolCall):
            blocks.append("Tool call:\n\n" + _indented(_call_text(part)))
        elif part.text:
            blocks.append(part.text)
    if reply.error:
        blocks.append(f"Error: {html.escape(_one_line(reply.error))}")  # the server's words, as text
    return "\n\n".join(block.strip("\n") for block in blocks)


def _call_text(call: ToolCall) -> str:
    lines = [f"{call.name} · {render.CALL_STATES.get(call.state, call.state)}", "arguments:",
             render.tool_arguments_text(call)]
    if call.output:
        lines += ["printed:", call.output]
    if call.error is not None:
        lines += ["error:", call.error]
    elif call.result is not None:
        lines += ["result:", call.result]
    return "\n".join(lines)


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- notebook --------------------------------------------------------------------------------------

def notebook(logged: list[Logged], name: str) -> dict[str, Any]:
    """The conversation as an nbformat 4 notebook: `%load_ext ling_notebook`, then one `%%ling` cell per
    turn (prompt written so that running it sends the same text) whose output is the reply's static copy,
    with its provenance, as the live package saves it."""
    from .magics import DEFAULT_CHAT

    line = "%%ling" if name == DEFAULT_CHAT else f"%%ling --chat {shlex.quote(name)}"
    cells = [_code_cell("%load_ext ling_notebook", [])]
    for reply in logged:
        metadata = render.reply_metadata(reply)  # type: ignore[arg-type]
        metadata[render.COPY_METADATA]["time"] = reply.time
        output = {"output_type": "display_data", "data": render.reply_bundle(reply),  # type: ignore[arg-type]
                  "metadata": metadata}
        cells.append(_code_cell(f"{line}\n{literal(reply.prompt)}", [output]))
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}}}


def _code_cell(source: str, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cell_type": "code", "id": uuid.uuid4().hex[:8], "metadata": {}, "execution_count": None,
            "source": source, "outputs": outputs}
