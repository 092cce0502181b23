"""A comparison in the browser: two columns streaming at once, Stop on one column, the static
side-by-side copy with its summary table, and that copy after a save and a reload without a kernel.

While it streams, the output is one widget (`.ling-compare`) with a column (`.ling-column`) per model;
when every column has ended, the kernel replaces it with the static HTML copy (`.ling-static`).
"""

from __future__ import annotations

import json

import pytest
from lab_driver import jupyter
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LOAD = "%load_ext ling_notebook"

# Notes the rendered length of every column on each DOM change while the comparison streams.
RECORDER = """(cell) => {
    const seen = { samples: [] };
    new MutationObserver(() => {
        const columns = [...cell.querySelectorAll('.ling-compare .ling-column')];
        if (!columns.length) return;
        const sample = columns.map((c) => c.dataset.status === 'streaming'
            ? c.querySelector('.ling-body').innerText.length : -1);
        const last = seen.samples[seen.samples.length - 1];
        if (!last || sample.some((n, i) => n !== last[i])) seen.samples.push(sample);
    }).observe(cell, { subtree: true, childList: true, characterData: true, attributes: true });
    cell.__lingSeen = seen;
}"""


def test_two_columns_stream_together_stop_one_and_the_static_copy_survives_a_reload(
    notebook, artifacts, model_server, tmp_path
):
    demo, trickle = "ling-offline-demo?rate=50", "test/trickle?tokens=2000&rate=25"
    nb = notebook(LOAD, f"%%ling -m {demo} -m {trickle} --no-history\nCompare spring gardens")
    nb.run_and_wait(0)
    nb.cell(1).evaluate(RECORDER)
    nb.run(1)

    columns = nb.output(1).locator(".ling-compare .ling-column")
    expect(columns).to_have_count(2)
    expect(columns.nth(0).locator(".ling-model")).to_have_text(demo)
    expect(columns.nth(1).locator(".ling-model")).to_have_text(trickle)
    expect(columns.nth(1).locator(".ling-body")).to_contain_text("w30")
    # Both columns grew while both were streaming: in the samples, each one's length went up at least
    # twice between samples where the other was streaming too.
    samples = nb.cell(1).evaluate("(cell) => cell.__lingSeen.samples")
    both = [s for s in samples if min(s) >= 0]
    grew = [sum(b[i] > a[i] for a, b in zip(both, both[1:], strict=False)) for i in (0, 1)]
    assert min(grew) >= 2, samples
    boxes = [columns.nth(i).bounding_box() for i in (0, 1)]
    assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"] and boxes[0]["y"] == boxes[1]["y"], boxes
    nb.screenshot(artifacts, "11-compare-streaming")

    columns.nth(1).locator(".ling-stop").click()
    expect(columns.nth(1)).to_have_attribute("data-status", "stopped")
    stopped = model_server.wait_for(lambda r: r.model == trickle and r.disconnected_at is not None, timeout=10)
    assert not stopped.completed
    demo_record = next(r for r in model_server.requests if r.model == demo and r.messages[-1]["content"]
                       == "Compare spring gardens")
    assert demo_record.disconnected_at is None  # the other column goes on

    static = nb.output(1).locator(".ling-static")
    expect(static).to_be_visible(timeout=60_000)
    expect(nb.output(1).locator(".ling-compare-grid")).to_have_count(0)
    check_static_copy(static, demo, trickle)
    nb.screenshot(artifacts, "11-compare-done")

    nb.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    expect(nb.page.locator(".jp-mod-dirty")).to_have_count(0)
    saved = json.dumps(json.loads(nb.path.read_text())["cells"][1]["outputs"])
    assert "Compare spring gardens" in saved and "w30" in saved
    nb.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    nb.page.reload()
    static = nb.output(1).locator(".ling-static")
    expect(static).to_be_visible()
    check_static_copy(static, demo, trickle)
    expect(nb.panel).not_to_contain_text("Error displaying widget")
    # Without our front end on the page the copy's own stylesheet must win over JupyterLab's: code is
    # never broken mid-word, and a column shows all of its reply (no height cap, nothing scrolled away).
    look = static.evaluate("""(s) => ({
        code: [...s.querySelectorAll('code')].map((c) => getComputedStyle(c).wordBreak),
        columns: [...s.querySelectorAll('.ling-column')].map((c) => [getComputedStyle(c).maxHeight,
                                                                      c.scrollHeight - c.clientHeight]),
    })""")
    assert look["code"] and set(look["code"]) == {"normal"}, look
    assert all(cap == "none" and hidden <= 1 for cap, hidden in look["columns"]), look
    nb.screenshot(artifacts, "11-compare-reloaded")

    jupyter("nbconvert", "--to", "html", "--output-dir", str(tmp_path), str(nb.path))
    html = (tmp_path / f"{nb.path.stem}.html").read_text()
    assert html.count('<div class="ling-column">') == 2 and "w1 w2 w3" in html and "Compare spring gardens" in html
    assert "<th>TTFT</th>" in html and "stopped by user" in html


def check_static_copy(static, demo: str, trickle: str) -> None:
    columns = static.locator(".ling-compare .ling-column")
    expect(columns).to_have_count(2)
    expect(columns.nth(0)).to_contain_text("Compare spring gardens")  # the demo quotes the prompt
    expect(columns.nth(0).locator("h2")).to_be_visible()
    expect(columns.nth(1)).to_contain_text("w1 w2 w3")
    expect(columns.nth(1)).to_contain_text("stopped by user")
    rows = static.locator("table.ling-table tbody tr")
    expect(static.locator("table.ling-table thead")).to_contain_text("TTFT")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(demo)
    expect(rows.nth(0)).to_contain_text("stop")
    expect(rows.nth(1)).to_contain_text(trickle)
    expect(rows.nth(1)).to_contain_text("stopped by user")
