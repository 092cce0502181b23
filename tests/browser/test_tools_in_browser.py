"""Tool calls as a person sees them in JupyterLab: a card per call between the text parts, growing while
the arguments stream, running with its time, then its result; the static copy after the end shows the
same steps as closed cards. Hostile tool names' arguments, printed output and results stay inert."""

from __future__ import annotations

import re

import pytest
from lab_driver import FRONT_ENDS
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SETUP = '''import threading
import ling_notebook
gate = threading.Event()

def lookup(key: str) -> str:
    """Look a key up."""
    print("<b onmouseover=\\"window.__pwned='printed'\\">looking</b>", key)
    return "<img src=x onerror=\\"window.__pwned='result'\\"> value of " + key

def slow() -> str:
    """Takes until the gate opens."""
    gate.wait(60)
    return "slow result"
'''
ASK = '''r = ling_notebook.stream(
    'call lookup {"key": "<img src=x onerror=window.__pwned=1>"}\\ncall slow {}',
    tools=[lookup, ling_notebook.tool(slow, thread_safe=True)], model="test/tools?rate=40&pieces=3")'''


@pytest.mark.parametrize("front_end", FRONT_ENDS, indirect=True)
def test_cards_grow_run_and_end_as_closed_details(notebook, artifacts):
    nb = notebook(SETUP, ASK, "gate.set()")
    nb.run_and_wait(0)
    nb.run_and_wait(1)
    widget = nb.widget(1)
    cards = widget.locator(".ling-tool")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_have_attribute("data-state", "done")
    expect(cards.nth(1)).to_have_attribute("data-state", "running")
    expect(cards.nth(1).locator(".ling-tool-state")).to_have_text(re.compile(r"running · [1-9]\.\d s"))  # ticks
    expect(cards.nth(0).locator(".ling-tool-result")).to_contain_text("<img src=x onerror=")
    expect(cards.nth(0).locator(".ling-tool-output")).to_contain_text("<b onmouseover=")
    nb.screenshot(artifacts, "tools-live")
    nb.run_and_wait(2)
    final = nb.static_copy(1)
    expect(final).to_contain_text("Tool results: lookup ->")
    closed = final.locator("details.ling-tool")
    expect(closed).to_have_count(2)
    expect(closed.nth(0)).not_to_have_attribute("open", "")
    closed.nth(0).locator("summary").click()
    expect(closed.nth(0)).to_contain_text("value of <img src=x onerror=window.__pwned=1>")
    nb.screenshot(artifacts, "tools-static")
    assert nb.page.evaluate("() => window.__pwned") is None
    assert nb.output(1).locator("img, b").count() == 0


APPROVE = """r2 = ling_notebook.stream('call lookup {"key": "a"}\\ncall lookup {"key": "b"}', tools=[lookup],
                             approve=True, model="test/tools?rate=200")"""
STOPPED = """r3 = ling_notebook.stream('call slow {}', tools=[ling_notebook.tool(slow, thread_safe=True)],
                             model="test/tools?rate=200")"""


def test_run_and_skip_buttons_and_stop_while_a_tool_runs(notebook, artifacts):
    nb = notebook(SETUP, APPROVE, STOPPED, "gate.set()")
    nb.run_and_wait(0)
    nb.run_and_wait(1)
    cards = nb.widget(1).locator(".ling-tool")
    expect(cards.nth(0)).to_have_attribute("data-state", "approval")
    expect(cards.nth(0).locator(".ling-tool-run")).to_be_visible()
    nb.screenshot(artifacts, "tools-approval")
    cards.nth(0).locator(".ling-tool-run").click()
    expect(cards.nth(1)).to_have_attribute("data-state", "approval")
    cards.nth(1).locator(".ling-tool-skip").click()
    final = nb.static_copy(1)
    expect(final).to_contain_text("Tool results: lookup -> <img")
    expect(final).to_contain_text("lookup -> The user declined to run this tool call.")
    expect(final.locator("summary").nth(1)).to_have_text("Tool lookup · not run")

    nb.run_and_wait(2)
    card = nb.widget(2).locator(".ling-tool")
    expect(card).to_have_attribute("data-state", "running")
    nb.widget(2).locator(".ling-stop").click()
    final = nb.static_copy(2)
    expect(final).to_contain_text("stopped by user (running tool slow)")
    expect(final.locator("summary")).to_have_text(re.compile(r"Tool slow · stopped · \d+\.\d\d s"))
    nb.screenshot(artifacts, "tools-stopped")
    nb.run_and_wait(3)
