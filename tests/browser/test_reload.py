"""A reply outlives its page: reloaded, reopened or opened twice while it streams, in JupyterLab and Notebook 7.

An output loaded from a file has no display id, so the kernel's update_display cannot replace it at the end;
the ling-notebook extension (js/keeper.ts, installed with the package) puts the final copy in the notebook's
model instead (see ling_notebook/widget.py). Each test checks what the cell shows, what the notebook model
holds, what a save writes, and that the kernel closed the widget once no view was left.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from lab_driver import FRONT_ENDS, LAB, Notebook
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("front_end", FRONT_ENDS, indirect=True)]

LOAD = "%load_ext ling_notebook"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Run after the end: how many reply and comparison widgets the kernel still has open (0: nothing leaks).
OPEN_WIDGETS = ("from ipywidgets.widgets.widget import _instances\nfrom ling_notebook.widget import StubWidget\n"
                "print('open:', sum(isinstance(x, StubWidget) for x in _instances.values()))")


def outputs(nb: Notebook, index: int) -> list[dict]:
    """The outputs of cell `index` as the notebook model holds them (what a save writes)."""
    return nb.page.evaluate(
        """(i) => {
            const outputs = window.jupyterapp.shell.currentWidget.content.model.cells.get(i).outputs;
            return Array.from({ length: outputs.length }, (_, k) => outputs.get(k).toJSON());
        }""",
        index,
    )


def save(nb: Notebook) -> dict:
    nb.save()
    return json.loads(nb.path.read_text())


def save_mid_stream(nb: Notebook) -> None:
    """Save while the reply streams: the file then holds the widget's output, as an autosave would."""
    nb.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    deadline = time.monotonic() + 20
    while WIDGET_VIEW not in nb.path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # the save is asynchronous and has no event the test can wait on
    assert WIDGET_VIEW in nb.path.read_text()


def assert_holds_the_copy(nb: Notebook, index: int, *texts: str) -> None:
    """The cell shows the static copy, with no note, and the notebook model holds it instead of the widget."""
    copy = nb.static_copy(index)
    for text in texts:
        expect(copy).to_contain_text(text)
    expect(nb.widget(index)).to_have_count(0)
    expect(nb.output(index).locator(".ling-unsaved")).to_have_count(0)
    (output,) = outputs(nb, index)
    assert output["output_type"] == "display_data" and WIDGET_VIEW not in output["data"]
    assert "ling-static" in output["data"]["text/html"]


def assert_no_widget_left(nb: Notebook, index: int) -> None:
    nb.run_and_wait(index)
    expect(nb.output(index)).to_contain_text("open: 0")


def test_reload_mid_stream_then_the_end(notebook, artifacts):
    nb = notebook(LOAD, "%%ling --no-history -m test/trickle?tokens=200&rate=20\nreload then end", OPEN_WIDGETS)
    nb.run_and_wait(0)
    nb.run(1)
    expect(nb.body(1)).to_contain_text("w3")
    save_mid_stream(nb)
    nb.page.reload()
    nb.wait_for_kernel()
    expect(nb.widget(1)).to_have_attribute("data-status", "streaming")
    nb.screenshot(artifacts, "reload-01-streaming-after-reload")

    assert_holds_the_copy(nb, 1, "w200", "finish: stop")
    saved = save(nb)
    assert "w200" in json.dumps(saved["cells"][1]["outputs"]) and WIDGET_VIEW not in json.dumps(saved)
    nb.screenshot(artifacts, "reload-02-ended-after-reload")
    assert_no_widget_left(nb, 2)


def test_close_and_reopen_mid_stream_then_the_end(notebook, artifacts, front_end):
    nb = notebook(LOAD, "%%ling --no-history -m test/trickle?tokens=200&rate=20\nclose and reopen", OPEN_WIDGETS)
    nb.run_and_wait(0)
    nb.run(1)
    expect(nb.body(1)).to_contain_text("w3")
    save_mid_stream(nb)
    if front_end == LAB:  # the tab closes and opens again in the same page; in Notebook 7 the page is the tab
        nb.page.evaluate("() => window.jupyterapp.shell.currentWidget.close()")
        expect(nb.panel).to_have_count(0)
        nb.page.evaluate("(path) => window.jupyterapp.commands.execute('docmanager:open', { path })", nb.path.name)
    else:
        nb.page.goto(f"{nb.lab.url}/tree?token={nb.lab.token}")
        nb.page.goto(f"{nb.lab.url}/notebooks/{nb.path.name}?token={nb.lab.token}")
    nb.wait_for_kernel()
    expect(nb.widget(1)).to_have_attribute("data-status", "streaming")

    assert_holds_the_copy(nb, 1, "w200", "finish: stop")
    assert "w200" in json.dumps(save(nb)["cells"][1]["outputs"])
    nb.screenshot(artifacts, "reload-08-closed-and-reopened")
    # JupyterLab never disposes the views of a closed notebook (no bye comes), so the widget stays open there.
    nb.run_and_wait(2)
    expect(nb.output(2)).to_contain_text("open: 1" if front_end == LAB else "open: 0")


def test_reload_mid_stream_then_stop(notebook, artifacts):
    nb = notebook(LOAD, "%%ling --no-history -m test/stall?after=5&rate=0\nreload then stop", OPEN_WIDGETS)
    nb.run_and_wait(0)
    nb.run(1)
    expect(nb.body(1)).to_contain_text("w1 w2 w3 w4 w5")
    save_mid_stream(nb)
    nb.page.reload()
    nb.wait_for_kernel()
    expect(nb.body(1)).to_contain_text("w1 w2 w3 w4 w5")
    nb.widget(1).locator(".ling-stop").click()

    assert_holds_the_copy(nb, 1, "w1 w2 w3 w4 w5", "stopped")
    assert "w5" in json.dumps(save(nb)["cells"][1]["outputs"])
    nb.screenshot(artifacts, "reload-03-stopped-after-reload")
    assert_no_widget_left(nb, 2)


def test_a_comparison_reloaded_mid_stream_ends_with_its_copy(notebook, artifacts):
    models = "-m test/trickle?tokens=200&rate=20 -m test/trickle?tokens=150&rate=20"
    nb = notebook(LOAD, f"%%ling {models} --no-history\ncompare after a reload", OPEN_WIDGETS)
    nb.run_and_wait(0)
    nb.run(1)
    expect(nb.output(1).locator(".ling-compare .ling-column")).to_have_count(2)
    expect(nb.output(1).locator(".ling-column .ling-body").first).to_contain_text("w3")
    save_mid_stream(nb)
    nb.page.reload()
    nb.wait_for_kernel()
    expect(nb.output(1).locator(".ling-column").first).to_have_attribute("data-status", "streaming")

    assert_holds_the_copy(nb, 1, "w200", "w150")
    expect(nb.output(1).locator(".ling-compare-grid")).to_have_count(0)
    assert "w150" in json.dumps(save(nb)["cells"][1]["outputs"])
    nb.screenshot(artifacts, "reload-07-comparison-ended-after-reload")
    assert_no_widget_left(nb, 2)


def test_the_copy_kept_after_a_reload_survives_a_kernel_shutdown(notebook, artifacts, lab):
    nb = notebook(LOAD, "%%ling --no-history -m test/trickle?tokens=200&rate=20\nkeep me past the kernel")
    nb.run_and_wait(0)
    nb.run(1)
    expect(nb.body(1)).to_contain_text("w3")
    save_mid_stream(nb)
    nb.page.reload()
    nb.wait_for_kernel()
    expect(nb.widget(1)).to_have_attribute("data-status", "streaming")
    assert_holds_the_copy(nb, 1, "w200", "finish: stop")
    save(nb)

    nb.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    lab.shutdown_kernels()
    nb.open()
    expect(nb.static_copy(1)).to_contain_text("w200")
    expect(nb.static_copy(1)).to_contain_text("finish: stop")
    expect(nb.panel).not_to_contain_text("Error displaying widget")
    nb.screenshot(artifacts, "reload-04-reopened-without-kernel")


def test_two_pages_both_end_with_the_copy(notebook, artifacts, front_end):
    nb = notebook(LOAD, "%%ling --no-history -m test/trickle?tokens=200&rate=15\ntwo pages", OPEN_WIDGETS)
    nb.run_and_wait(0)
    nb.run(1)
    expect(nb.body(1)).to_contain_text("w3")
    save_mid_stream(nb)
    # A second page on the same notebook and kernel: its output comes from the file, the first one's does not.
    second = Notebook(nb.page.context.new_page(), nb.lab, nb.name, front_end)
    second.open(workspace=f"{nb.name}-second")
    expect(second.widget(1)).to_have_attribute("data-status", "streaming")

    for page in (nb, second):
        assert_holds_the_copy(page, 1, "w200", "finish: stop")
    assert nb.static_copy(1).text_content() == second.static_copy(1).text_content()
    second.screenshot(artifacts, "reload-05-second-page-ended")
    second.page.close()
    assert_no_widget_left(nb, 2)


def test_without_the_extension_the_view_keeps_the_text_and_says_it_is_not_saved(notebook, artifacts):
    nb = notebook(LOAD, "%%ling --no-history -m test/trickle?tokens=120&rate=20\nno extension here", OPEN_WIDGETS)
    nb.run_and_wait(0)
    nb.run(1)
    expect(nb.body(1)).to_contain_text("w3")
    save_mid_stream(nb)
    # The page after a reload, where the extension does not answer (as in a front end without it).
    nb.page.add_init_script(
        "document.addEventListener('ling-notebook:final', (e) => e.stopImmediatePropagation(), true)")
    nb.page.reload()
    nb.wait_for_kernel()
    expect(nb.widget(1)).to_have_attribute("data-status", "streaming")
    note = nb.output(1).locator(".ling-unsaved")
    expect(note).to_contain_text("not saved")
    expect(nb.widget(1)).to_have_attribute("data-status", "done")
    expect(nb.body(1)).to_contain_text(re.compile(r"w1 w2 .* w120"))
    nb.screenshot(artifacts, "reload-06-no-extension")
    # The kernel keeps the widget for this view: closing it would blank the text.
    nb.run_and_wait(2)
    expect(nb.output(2)).to_contain_text("open: 1")
    expect(nb.body(1)).to_contain_text("w120")
