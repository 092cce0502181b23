"""The end of a reply, seen in JupyterLab and Notebook 7 with the ling-notebook extension: the static copy that
replaces the live view keeps its header where the view had it and offers Copy there (the reply's Markdown) and on
each code block, while the saved notebook holds no button; and a `%%ling` cell's body is highlighted as Markdown.
"""

from __future__ import annotations

import json

import pytest
from lab_driver import FRONT_ENDS, Notebook
from playwright.sync_api import Page, expect

from ling_notebook import render
from ling_notebook.server.scenarios import markdown_pieces

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("front_end", FRONT_ENDS, indirect=True)]

LOAD = "%load_ext ling_notebook"
LONG_TOKENS = 22_000  # about 72,000 characters of test/markdown
PROMPT = "# Spring\n\nSome **bold** words, then code:\n\n```python\nprint('hi')\n```\n\nThe end of the reply."
# Every text the page puts on the clipboard, in order (the clipboard itself needs a user's permission): as a
# string (writeText), or as a ClipboardItem whose text is still a promise when written (js/copy.ts copyLater).
CLIPBOARD = """
navigator.clipboard.writeText = async (text) => { (window.__copied ||= []).push(text); };
navigator.clipboard.write = async (items) => {
  for (const item of items) (window.__copied ||= []).push(await (await item.getType("text/plain")).text());
};"""
# Where the header, its Copy and the first line of the text are, in the cell's output.
BOXES = """(cell) => {
    const root = cell.querySelector('.ling-widget, .ling-static');
    if (!root) return { kind: null };
    const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect();
                          return { x: r.x, y: r.y, width: r.width, height: r.height }; };
    return { kind: root.classList.contains('ling-static') ? 'static' : 'live',
             header: box(root.querySelector('.ling-status')), copy: box(root.querySelector('.ling-status .ling-copy')),
             heading: box(root.querySelector('.ling-body h1')) };
}"""


def set_theme(page: Page, theme: str) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', { theme })", theme)
    page.wait_for_function("(theme) => document.body.dataset.jpThemeName === theme"
                           " && !document.querySelector('#jupyterlab-splash')", arg=theme)


def copied(nb: Notebook) -> list[str]:
    return nb.page.evaluate("() => window.__copied || []")


def assert_same_place(before: dict, after: dict, what: str) -> None:
    for key in ("x", "y", "width", "height"):
        assert abs(before[what][key] - after[what][key]) <= 1, (what, key, before, after)


def test_a_finished_reply_keeps_its_header_in_place_and_offers_copy_there(notebook, artifacts):
    nb = notebook(LOAD, f"%%ling --no-history -m test/echo?rate=10\n{PROMPT}")
    nb.page.add_init_script(CLIPBOARD)
    nb.page.reload()
    nb.wait_for_kernel()
    nb.run_and_wait(0)
    nb.run(1)
    # While it streams: the heading and Copy are shown.
    live = nb.page.wait_for_function(
        f"(cell) => {{ const b = ({BOXES})(cell); return b.kind === 'live' && b.heading && b.copy && b; }}",
        arg=nb.cell(1).element_handle()).json_value()
    nb.screenshot(artifacts, "copy-01-live")

    copy = nb.static_copy(1)
    expect(copy.locator(".ling-status .ling-copy")).to_have_text("Copy")
    final = nb.cell(1).evaluate(BOXES)
    assert final["kind"] == "static"
    for what in ("header", "copy", "heading"):  # nothing moves at the end
        assert_same_place(live, final, what)

    copy.locator(".ling-status .ling-copy").click()
    expect(copy.locator(".ling-status .ling-copy")).to_have_text("Copied")
    copy.locator("pre").hover()
    copy.locator("pre .ling-code-copy").click()
    assert copied(nb) == [PROMPT, "print('hi')"]

    for theme, name in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
        set_theme(nb.page, theme)
        copy.locator("pre").hover()
        nb.screenshot(artifacts, f"copy-02-ended-{name}")
    set_theme(nb.page, "JupyterLab Light")

    # The page has the buttons; the notebook has the sanitized copy and the Markdown in its metadata.
    nb.save()
    (output,) = json.loads(nb.path.read_text())["cells"][1]["outputs"]
    kept = output["metadata"]["ling_notebook"]
    assert kept["markdown"] == [PROMPT] and kept["status"] == "done"  # the Markdown, with the provenance
    saved_html = "".join(output["data"]["text/html"])
    assert "ling-static" in saved_html and "<button" not in saved_html

    # Reopened from the file, the copy offers Copy again.
    nb.open()
    expect(nb.static_copy(1).locator(".ling-status .ling-copy")).to_have_count(1)


def test_each_column_of_a_comparison_copy_offers_copy_where_the_live_column_had_it(notebook, artifacts):
    prompt = "Echoed by **both** models, each in its own column."
    # The second column's answer is long: the copy's metadata holds its Markdown compressed, which the page
    # inflates for Copy (render.copy_metadata, js/copies.ts).
    long_answer = "".join(piece for _, piece in markdown_pieces(LONG_TOKENS))
    assert len(long_answer) > render.DEFLATE_FROM
    nb = notebook(LOAD, f"%%ling --no-history -m test/echo?rate=12 -m test/markdown?tokens={LONG_TOKENS}&rate=0"
                        f"\n{prompt}")
    nb.page.add_init_script(CLIPBOARD)
    nb.page.reload()
    nb.wait_for_kernel()
    nb.run_and_wait(0)
    nb.run(1)
    columns = nb.output(1).locator(".ling-compare .ling-column")
    expect(columns).to_have_count(2)
    for column in (columns.first, columns.nth(1)):  # each column's Copy shows once its text starts
        expect(column.locator(".ling-copy")).to_be_visible()
    headers = """(cell) => [...cell.querySelectorAll('.ling-column > .ling-status')].map((header) => {
        const r = header.getBoundingClientRect(), c = header.querySelector('.ling-copy').getBoundingClientRect();
        return [r.x, r.y, r.width, c.x, c.y]; })"""
    live = nb.cell(1).evaluate(headers)

    static = nb.static_copy(1)
    expect(static.locator(".ling-column .ling-copy")).to_have_count(2)
    ended = nb.cell(1).evaluate(headers)
    assert all(abs(a - b) <= 1 for x, y in zip(live, ended, strict=True) for a, b in zip(x, y, strict=True)), (
        live, ended)
    static.locator(".ling-column .ling-copy").first.click()
    expect(static.locator(".ling-column .ling-copy").first).to_have_text("Copied")
    static.locator(".ling-column .ling-copy").nth(1).click()
    expect(static.locator(".ling-column .ling-copy").nth(1)).to_have_text("Copied")
    assert copied(nb) == [prompt, long_answer]
    nb.screenshot(artifacts, "copy-03-comparison-ended")


def test_a_ling_cell_is_highlighted_as_markdown_and_a_python_cell_as_python(notebook, artifacts):
    nb = notebook("%%ling -m demo\n# A heading\n\nSome **bold** text; def and import are words here.",
                  "def f():\n    import os")
    looks = """(index) => {
        const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
        const probe = document.createElement('span');
        cell.node.append(probe);
        const colour = (name) => { probe.style.color = `var(${name})`; return getComputedStyle(probe).color; };
        const keyword = colour('--jp-mirror-editor-keyword-color');
        const header = colour('--jp-mirror-editor-header-color');
        probe.remove();
        const spans = [...cell.node.querySelectorAll('.cm-content span')];
        const styled = (word, test) => spans.some((s) => s.textContent.includes(word) && test(getComputedStyle(s)));
        return { mime: cell.model.mimeType,
                 keywordDef: styled('def', (s) => s.color === keyword),
                 keywordImport: styled('import', (s) => s.color === keyword),
                 bold: styled('bold', (s) => Number(s.fontWeight) >= 600),
                 heading: styled('A heading', (s) => s.color === header) };
    }"""
    nb.page.wait_for_function(f"() => ({looks})(0).heading")
    ling, python = nb.page.evaluate(looks, 0), nb.page.evaluate(looks, 1)
    assert ling == {"mime": "text/x-ipythongfm", "keywordDef": False, "keywordImport": False, "bold": True,
                    "heading": True}
    assert python["mime"] == "text/x-ipython" and python["keywordDef"] and python["keywordImport"]
    nb.screenshot(artifacts, "cellmode-01-ling-cell")

    # The notebook gives every code cell its kernel's type again when the kernel's language info changes.
    nb.page.evaluate("""() => {
        const model = window.jupyterapp.shell.currentWidget.content.model;
        model.setMetadata('language_info', { ...model.getMetadata('language_info'), version: '0.0' });
    }""")
    assert nb.page.evaluate(looks, 0)["mime"] == "text/x-ipythongfm"
    assert nb.page.evaluate(looks, 1)["mime"] == "text/x-ipython"

    # Typing decides: the Python cell becomes a prompt, the prompt becomes Python again.
    nb.page.evaluate("""() => {
        const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
        cells.get(1).sharedModel.updateSource(0, 0, '%%ling\\n');
        cells.get(0).sharedModel.updateSource(0, 2, '');
    }""")
    assert nb.page.evaluate(looks, 1)["mime"] == "text/x-ipythongfm"
    assert nb.page.evaluate(looks, 0)["mime"] == "text/x-ipython"
