"""The chat box in JupyterLab and Notebook 7: typed into (no key reaches the notebook's shortcuts), Enter sends,
an answer streams and stops, Regenerate replaces it, a `%%ling --chat` cell shares the conversation both ways,
and the saved notebook, opened again, shows the transcript."""

from __future__ import annotations

import json

import pytest
from lab_driver import FRONT_ENDS, LAB
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("front_end", FRONT_ENDS, indirect=True)]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def set_theme(page: Page, theme: str) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', { theme })", theme)
    page.wait_for_function("(theme) => document.body.dataset.jpThemeName === theme"
                           " && !document.querySelector('#jupyterlab-splash')", arg=theme)


def test_a_chat_box_streams_stops_regenerates_shares_and_is_kept(notebook, artifacts, model_server, front_end):
    nb = notebook("%load_ext ling_notebook\nimport ling_notebook",
                  "ling_notebook.chat('desk', model='test/trickle?tokens=60&rate=20')",
                  "%%ling --chat desk -m test/echo\nFrom a cell")
    nb.run_and_wait(0)
    nb.run_and_wait(1)
    box = nb.output(1).locator(".ling-chat")
    answers = box.locator(".ling-chat-turn .ling-widget")
    text_box = box.locator("textarea")
    expect(box.locator(".ling-chat-empty")).to_be_visible()
    cells = nb.panel.locator(".jp-Cell").count()

    # Letters that are notebook commands (a, b, d d, Shift+Enter) are text here; Enter sends.
    text_box.click()
    nb.page.keyboard.type("Add a bold idea")
    nb.page.keyboard.press("Shift+Enter")
    nb.page.keyboard.type("dd on two lines")
    expect(text_box).to_have_value("Add a bold idea\ndd on two lines")
    assert nb.panel.locator(".jp-Cell").count() == cells
    model_server.clear()
    nb.page.keyboard.press("Enter")
    expect(text_box).to_have_value("")
    expect(box.locator(".ling-chat-prompt-text")).to_have_text("Add a bold idea\ndd on two lines")
    expect(answers.first.locator(".ling-body")).to_contain_text("w3")
    expect(box.locator(".ling-regenerate")).to_be_hidden()
    nb.output(1).screenshot(path=str(artifacts / f"chat-00-streaming{'' if front_end == LAB else '-' + front_end}.png"))
    answers.first.locator(".ling-stop").click()
    expect(answers.first).to_have_attribute("data-status", "stopped")
    stopped = answers.first.locator(".ling-body").inner_text()
    assert "w60" not in stopped

    box.locator(".ling-regenerate").click()  # the same prompt again, its answer in place of the stopped one
    expect(answers.first.locator(".ling-body")).to_contain_text("w60")
    expect(answers.first).to_have_attribute("data-status", "done")
    expect(answers).to_have_count(1)

    nb.run_and_wait(2)  # the cell sends the box's turn, and the box shows the cell's
    expect(nb.static_copy(2)).to_contain_text("From a cell")
    cell_request = model_server.wait_for(lambda r: r.model == "test/echo")
    assert [m["role"] for m in cell_request.messages] == ["user", "assistant", "user"]
    assert cell_request.messages[1]["content"].endswith("w60")  # the regenerated answer, not the stopped one
    expect(answers).to_have_count(2)
    expect(box.locator(".ling-chat-prompt-text").nth(1)).to_have_text("From a cell")

    text_box.click()
    nb.page.keyboard.type("Back in the box")
    nb.page.keyboard.press("Enter")
    expect(answers).to_have_count(3)
    nb.page.keyboard.type("a draft")  # typed while the answer streams: kept when the output is put in place again
    expect(answers.nth(2)).to_have_attribute("data-status", "done")
    box_request = model_server.wait_for(lambda r: r.messages and r.messages[-1]["content"] == "Back in the box")
    assert [m["content"] for m in box_request.messages][2:4] == ["From a cell", "From a cell"]
    if front_end == LAB:
        for theme, name in (("JupyterLab Dark", "dark"), ("JupyterLab Light", "light")):
            set_theme(nb.page, theme)
            nb.output(1).screenshot(path=str(artifacts / f"chat-01-box-{name}.png"))

    # The output the kernel put in place after the last answer is a new view: it has the draft, and the focus.
    expect(nb.output(1).locator(".ling-chat")).to_have_count(1)
    expect(text_box).to_have_value("a draft")
    expect(text_box).to_be_focused()
    nb.save()  # the transcript the kernel put in the output after the last answer is in the file
    saved = json.loads(nb.path.read_text())["cells"][1]["outputs"][0]
    assert "Back in the box" in "".join(saved["data"]["text/html"])
    assert saved["metadata"]["ling_notebook"]["chat"] == "desk"
    nb.page.reload()
    nb.wait_for_kernel()
    transcript = nb.static_copy(1)
    for text in ("Add a bold idea", "From a cell", "Back in the box", "w60"):
        expect(transcript).to_contain_text(text)
    expect(nb.output(1).locator(".ling-chat")).to_have_count(0)
    expect(nb.panel).not_to_contain_text("Error displaying widget")
    nb.screenshot(artifacts, "chat-02-transcript-after-reload")
