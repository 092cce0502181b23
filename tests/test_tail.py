"""Unclosed inline markers at the end of a reply cut short: the static copy completes them as the live
view does (js/tail.ts), on the same cases (js/test/tail-cases.json)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from ling_notebook import render, tail

CASES = json.loads((Path(__file__).parents[1] / "js" / "test" / "tail-cases.json").read_text())


def completed(src: str) -> str:
    env = {"complete": True}
    return tail.complete_tail(src, render._md.parse(src, env), env)


@pytest.mark.parametrize(("src", "expected"), CASES)
def test_the_static_copy_completes_what_the_live_view_completes(src, expected):
    assert completed(src) == expected


def reply(text, status, finish_reason):
    return SimpleNamespace(text=text, reasoning="", error=None, status=status, model="m", ttft=None,
                           tokens_per_s=None, usage=None, finish_reason=finish_reason, streamed=True,
                           elapsed=1.0, replayed=None)


@pytest.mark.parametrize(("status", "finish_reason"), [("stopped", None), ("done", "length"), ("error", None)])
def test_a_reply_cut_short_ends_without_stray_markers(status, finish_reason):
    html = render.reply_html(reply("Intro\n\nThe key is **always chec", status, finish_reason))
    assert "<strong>always chec</strong>" in html and "**" not in html


def test_a_reply_that_ended_on_its_own_is_shown_as_written():
    html = render.reply_html(reply("Ends with a literal **", "done", "stop"))
    assert "literal **" in html


def test_only_the_last_block_is_completed():
    html = render.markdown_html("An **open marker\n\nthen more *text", cut=True)
    assert "An **open marker" in html and "<em>text</em>" in html
