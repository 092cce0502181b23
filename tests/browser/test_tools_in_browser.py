"""Tool calls as a person sees them in JupyterLab: a card per call between the text parts, growing while
the arguments stream, running with its time, then its result; the static copy after the end shows the
same steps as closed cards. Hostile tool names' arguments, printed output and results stay inert."""

from __future__ import annotations

import pytest
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


def test_cards_grow_run_and_end_as_closed_details(notebook, artifacts):
    nb = notebook(SETUP, ASK, "gate.set()")
    nb.run_and_wait(0)
    nb.run_and_wait(1)
    widget = nb.widget(1)
    cards = widget.locator(".ling-tool")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_have_attribute("data-state", "done")
    expect(cards.nth(1)).to_have_attribute("data-state", "running")
    expect(cards.nth(1).locator(".ling-tool-state")).to_contain_text("running ·")
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
