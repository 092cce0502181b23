"""Batches in JupyterLab: the progress bar advances, Stop all, Retry failed, and the summary after a reload."""

from __future__ import annotations

import json
import re

import pytest
from lab_driver import jupyter
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

IMPORT = "import ling_notebook"


def live(nb, index: int):
    return nb.output(index).locator(".ling-batch-live")


def summary(nb, index: int):
    return nb.output(index).locator(".ling-static .ling-batch")


def done_share(nb, index: int) -> float:
    width = live(nb, index).locator(".ling-seg-done").evaluate("el => el.style.width")
    return float(width.rstrip("%") or 0)


def test_the_bar_advances_then_a_summary_replaces_it(notebook, artifacts):
    nb = notebook(IMPORT, "questions = [f'Question {i}: ' + 'why is the sky blue? ' * 6 for i in range(40)]\n"
                          "b = ling_notebook.batch(questions, model='test/echo?rate=40', concurrency=4)")
    nb.run_and_wait(0)
    nb.run(1)
    view = live(nb, 1)
    expect(view.locator(".ling-batch-counts")).to_contain_text("running")
    expect(view.locator(".ling-batch-item").first).to_contain_text("Question")
    first = done_share(nb, 1)
    nb.page.wait_for_function(
        """(first) => { const seg = document.querySelector('.ling-batch-live .ling-seg-done');
                        return seg && parseFloat(seg.style.width || '0') > first + 5; }""", arg=first)
    expect(view.locator(".ling-batch-stats")).to_contain_text("tokens/s")
    expect(view.locator(".ling-batch-stats")).to_contain_text("ETA")
    nb.screenshot(artifacts, "batch-01-running")

    expect(summary(nb, 1)).to_contain_text("40 done", timeout=60_000)
    expect(live(nb, 1)).to_have_count(0)
    expect(summary(nb, 1).locator("tbody tr")).to_have_count(10)
    nb.screenshot(artifacts, "batch-02-summary")


def test_stop_all_closes_every_connection_and_shows_a_stopped_summary(notebook, artifacts, model_server):
    nb = notebook(IMPORT, "b = ling_notebook.batch([f'stop-batch {i}' for i in range(12)],"
                          " model='test/trickle?tokens=500&rate=20', concurrency=3)")
    nb.run_and_wait(0)
    model_server.clear()
    nb.run(1)
    view = live(nb, 1)
    expect(view.locator(".ling-batch-counts")).to_contain_text("3 running")
    expect(view.locator(".ling-batch-item").first).to_contain_text("w")
    view.locator(".ling-batch-stop").click()
    expect(summary(nb, 1)).to_contain_text("stopped")
    expect(summary(nb, 1)).to_contain_text("3 stopped")
    expect(summary(nb, 1)).to_contain_text("9 queued")  # the word of counts and to_pandas()
    records = [r for r in model_server.requests if r.path.endswith("/chat/completions")]
    assert len(records) == 3
    for r in records:
        model_server.wait_for(lambda x, n=r.id: x.id == n and x.disconnected_at is not None, timeout=10)
    nb.screenshot(artifacts, "batch-03-stopped")


def test_retry_failed_runs_the_failed_items_again(notebook, artifacts):
    nb = notebook(IMPORT, "slow = 'ok ' * 200\n"
                          "b = ling_notebook.batch(['fail one', 'fail two', slow, slow + '!'], retries=0,"
                          " model='test/picky?status=400&fails=1&rate=40', concurrency=4)")
    nb.run_and_wait(0)
    nb.run(1)
    view = live(nb, 1)
    expect(view.locator(".ling-batch-counts")).to_contain_text("2 failed")
    expect(view.locator(".ling-batch-error")).to_contain_text("HTTP 400")
    nb.screenshot(artifacts, "batch-04-failed")
    view.locator(".ling-batch-retry").click()
    expect(summary(nb, 1)).to_contain_text("4 done", timeout=60_000)
    expect(summary(nb, 1)).to_contain_text("fail one")
    expect(summary(nb, 1)).not_to_contain_text("failed")


def test_the_summary_survives_a_reload_and_an_export(notebook, artifacts, tmp_path):
    nb = notebook(IMPORT, "b = ling_notebook.batch(['<img src=x onerror=\"window.__pwned=1\">', 'plain'],"
                          " model='test/echo')")
    nb.run_and_wait(0)
    nb.run(1)
    expect(summary(nb, 1)).to_contain_text("2 done")
    nb.save()
    saved = json.loads(nb.path.read_text())
    assert "2 done" in json.dumps(saved["cells"][1]["outputs"])

    nb.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    nb.page.reload()
    expect(summary(nb, 1)).to_contain_text("2 done")
    expect(summary(nb, 1)).to_contain_text('<img src=x onerror="window.__pwned=1">')
    expect(nb.panel).not_to_contain_text("Error displaying widget")
    assert nb.page.evaluate("() => window.__pwned") is None
    nb.screenshot(artifacts, "batch-05-reloaded")

    jupyter("nbconvert", "--to", "html", "--output-dir", str(tmp_path), str(nb.path))
    html = (tmp_path / f"{nb.path.stem}.html").read_text()
    assert "2 done" in html and re.search(r"&lt;img src=x onerror=(&quot;|\")window.__pwned=1", html)
    assert "<img src=x" not in html


def set_theme(page: Page, theme: str) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', { theme })", theme)
    page.wait_for_function("(theme) => document.body.dataset.jpThemeName === theme"
                           " && !document.querySelector('#jupyterlab-splash')", arg=theme)


def test_summaries_status_lines_and_errors_read_cleanly_in_light_and_dark(notebook, artifacts):
    nb = notebook("%load_ext ling_notebook\nimport ling_notebook",
                  "b = ling_notebook.batch(['What is a tide pool?', 'Why is the sky blue?', 'fail this one'],"
                  " model='test/picky?status=400', retries=0)\n"
                  "demo = ling_notebook.batch(['What is a tide pool?', 'Why is the sky blue?'],"
                  " model='ling-offline-demo?rate=2000')",
                  "%%ling --no-stream --no-history -m ling-offline-demo\nWhat is a tide pool?",
                  "%%ling --no-history -m ling-offline-demo?rate=400\nWhy is the sky blue?",
                  "%%ling --tempreature 0.3\nhi")
    for index in range(5):
        nb.run_and_wait(index)
    expect(nb.output(1).locator(".ling-static .ling-batch")).to_have_count(2)
    demo = nb.output(1).locator(".ling-static .ling-batch").nth(1)
    expect(demo).to_contain_text("A demo answer about “What is a tide pool?”.")
    answers = demo.locator("tbody").inner_text()
    assert not any(marker in answers for marker in ("##", "**", "*Offline", "| ---")), answers
    expect(nb.output(1).locator(".ling-static .ling-batch").first).to_contain_text("1 failed")
    no_stream = nb.static_copy(2).locator(".ling-status")
    expect(no_stream).to_contain_text("total ")
    expect(no_stream).not_to_contain_text("tokens/s")
    expect(no_stream).not_to_contain_text("first token")
    expect(nb.static_copy(3).locator(".ling-status")).to_contain_text("tokens/s", timeout=30_000)
    expect(nb.output(4)).to_contain_text("ling: unknown option --tempreature (did you mean --temperature?)")
    for theme, name in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
        set_theme(nb.page, theme)
        nb.output(1).screenshot(path=str(artifacts / f"batch-06-summaries-{name}.png"))
        for index in (2, 3):
            nb.static_copy(index).locator(".ling-status").screenshot(
                path=str(artifacts / f"status-line-{'no-stream' if index == 2 else 'streamed'}-{name}.png"))
        nb.output(4).screenshot(path=str(artifacts / f"error-line-{name}.png"))
