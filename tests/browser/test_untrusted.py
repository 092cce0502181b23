"""Hostile model output is inert wherever a person can see it: in the live view while it streams, in the
static copy that replaces it, in `%ling history`, after save + reload (the notebook trusted, and a copy
untrusted), in Notebook 7, and in the `nbconvert --to html` export opened in Chromium.

The built-in server's `test/echo` model sends the prompt back, so the payload below is exactly what the
"model" says. Each family of the payload sets `window.__pwned` to its own name if it ever runs. Also
saves screenshots of the static copy (light and dark theme, trusted and untrusted, Notebook 7, nbconvert)
under artifacts/browser/ for a person to look at.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab_driver import Notebook, jupyter
from playwright.sync_api import Locator, Page, expect

from ling_notebook.render import COPY_MIME

pytestmark = pytest.mark.browser

FAMILIES = [
    # The four that got raw HTML past the hand-written escaper (issue 10):
    "```\r\nfenced with CRLF\r\n```\r\n<img src=x onerror=\"window.__pwned='crlf-fence'\">",
    "```\rfenced with CR\r```\r<img src=x onerror=\"window.__pwned='cr-fence'\">",
    "`a code span\nacross two lines` <img src=x onerror=\"window.__pwned='span'\">",
    "```\ncode\n```\t\n<img src=x onerror=\"window.__pwned='fence-tab'\">",
    "[r]: javascript:window.__pwned='reference'\n\n[click me][r]",
    # Others an attacker would try:
    "<script>window.__pwned='script'</script>",
    "<details open ontoggle=\"window.__pwned='toggle'\">x</details>",
    "<svg><animate onbegin=\"window.__pwned='svg'\" attributeName=x dur=1s></svg>",
    "[entity](&#106;avascript:window.__pwned='entity') [percent](java%09script:window.__pwned='percent') "
    "<javascript:window.__pwned='autolink'>",
    "![image](javascript:window.__pwned='image') ![beacon](http://127.0.0.1:9/beacon.png)",
    "$\\href{javascript:window.__pwned='mathjax'}{math}$ and $$\\unicode{<img src=x onerror=alert(1)>}$$",
    "<style>.jp-OutputArea, body { display: none }</style><!-- a comment -->",
    "```python\ndef still_works():\n    return 'a highlighted block'  # with a comment\n```",
    "| family | result |\n| :-- | --: |\n| table | rendered |",
]
PAYLOAD = "\n\n".join(FAMILIES)
# HTML put in a saved copy by hand: what the kernel never writes, but a notebook from elsewhere can hold.
CRAFTED = ("<script>window.__pwned='crafted-script'</script>"
           "<p class=\"ling-crafted\" onclick=\"window.__pwned='crafted-click'\">crafted</p>"
           "<a href=\"javascript:window.__pwned='crafted-link'\">link</a>"
           "<a class=\"ling-crafted\" href=\"https://example.org/\" target=\"w\">named window</a>")
SHOWN_AS_TEXT = ["onerror=\"window.__pwned='crlf-fence'\"", "onerror=\"window.__pwned='span'\"",
                 "onerror=\"window.__pwned='fence-tab'\"", "[r]: javascript:window.__pwned='reference'",
                 "<script>window.__pwned='script'</script>", "ontoggle=\"window.__pwned='toggle'\""]

# Everything in `root` that could run script or load something: event-handler attributes, script-capable
# URLs (after percent-decoding, ignoring the characters browsers skip), elements that load or run, and
# MathML carrying a link, style or class.
DANGER = """(root) => {
    const found = [];
    const noise = /[\\u0000-\\u0020\\u007f-\\u00a0\\u200b-\\u200f\\u2028\\u2029\\ufeff]/g;
    for (const el of root.querySelectorAll('*')) {
        for (const attr of el.attributes) {
            if (/^on/i.test(attr.name)) found.push(`${el.localName}[${attr.name}]`);
            if (/^(href|src|action|formaction|xlink:href|data|srcdoc)$/i.test(attr.name)) {
                let url = attr.value;
                try { url = decodeURIComponent(url); } catch {}
                const scheme = /^([^:/?#]*):/.exec(url.replace(noise, ''));
                if (scheme && !['http', 'https', 'mailto'].includes(scheme[1].toLowerCase())) {
                    found.push(`${el.localName}[${attr.name}=${attr.value}]`);
                }
            }
        }
        if (['script', 'iframe', 'object', 'embed', 'img', 'svg', 'form', 'base', 'link', 'meta']
                .includes(el.localName)) found.push(el.localName);
        // Formulas are MathML now: presentation only, never a link, a style or a class (issue 21).
        if (el.namespaceURI === 'http://www.w3.org/1998/Math/MathML'
                && ['href', 'style', 'class'].some((name) => el.hasAttribute(name))) found.push(`${el.localName}!`);
        if (el.localName === 'style' && !el.textContent.trim().startsWith('.ling-static{')) found.push('style');
    }
    return found;
}"""

# Installed on a cell before it runs: checks its output on every DOM change, so a handler that lives for
# one frame of the live view is caught too.
RECORDER = """(cell, danger) => {
    const check = new Function(`return (${danger})`)();
    const seen = { danger: [], pwned: [], statuses: [], text: '' };
    const look = () => {
        for (const output of cell.querySelectorAll('.jp-OutputArea-output')) seen.danger.push(...check(output));
        if (window.__pwned !== undefined) seen.pwned.push(String(window.__pwned));
        const widget = cell.querySelector('.ling-widget');
        if (!widget) return;
        if (seen.statuses[seen.statuses.length - 1] !== widget.dataset.status) {
            seen.statuses.push(widget.dataset.status);
        }
        seen.text = widget.querySelector('.ling-body').innerText;
    };
    new MutationObserver(look).observe(cell, { subtree: true, childList: true, characterData: true,
                                              attributes: true });
    cell.__lingSeen = seen;
}"""


def assert_inert(page: Page, root: Locator) -> None:
    """Nothing dangerous in the rendered outputs under `root` (not the page's own chrome: icons are SVG)."""
    outputs = root.locator(".jp-OutputArea-output")
    expect(outputs.first).to_be_attached()  # after a reload, cells further down render a moment later
    for i in range(outputs.count()):
        assert outputs.nth(i).evaluate(DANGER) == []
    assert page.evaluate("() => window.__pwned") is None


def assert_shown_as_text(copy: Locator) -> None:
    text = copy.text_content()  # not inner_text: chunks off screen are not rendered (content-visibility)
    for shown in SHOWN_AS_TEXT:
        assert shown in text, shown
    expect(copy.locator("pre code .ling-k").first).to_have_text("def")  # the code block is highlighted
    expect(copy.locator("td.ling-right")).to_have_text("rendered")


def set_theme(page: Page, theme: str) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', { theme })", theme)
    page.wait_for_function("(theme) => document.body.dataset.jpThemeName === theme"
                           " && !document.querySelector('#jupyterlab-splash')", arg=theme)


def cell_trusted(nb: Notebook, index: int) -> bool:
    return nb.page.evaluate(
        "(i) => window.jupyterapp.shell.currentWidget.content.model.cells.get(i).trusted", index)


def test_hostile_output_is_inert_everywhere(notebook, artifacts: Path, lab, tmp_path):
    nb = notebook(f"%load_ext ling_notebook\npayload = {PAYLOAD!r}",
                  "%%ling -m test/echo?rate=100\n{payload}",
                  "%ling history",
                  "%%ling --no-history -m test/reasoning?reasoning=8&tokens=8\nHow it looks with reasoning",
                  "%%ling --no-history -m test/error-mid?after=8&rate=0\nHow it looks with an error")
    nb.run_and_wait(0)
    for index in (1, 2):
        nb.cell(index).evaluate(RECORDER, DANGER)

    # Live view, then the static copy that replaces it.
    nb.run(1)
    copy = nb.static_copy(1)
    expect(copy.locator(".ling-status")).to_contain_text("finish: stop")
    live = nb.cell(1).evaluate("(cell) => cell.__lingSeen")
    assert "streaming" in live["statuses"], live
    assert live["danger"] == [] and live["pwned"] == [], live
    assert "onerror=\"window.__pwned='span'\"" in live["text"]  # the live view showed it as text
    assert_inert(nb.page, nb.output(1))
    assert_shown_as_text(copy)
    copy.screenshot(path=str(artifacts / "untrusted-01-static-copy-lab-light.png"))

    # %ling history: the prompt and the reply, both hostile.
    nb.run_and_wait(2)
    history = nb.static_copy(2)
    expect(history.locator(".ling-role")).to_have_text(["user", "assistant"])
    assert nb.cell(2).evaluate("(cell) => cell.__lingSeen")["danger"] == []
    assert_inert(nb.page, nb.output(2))
    assert history.text_content().count("onerror=\"window.__pwned='span'\"") == 2

    # For the screenshots: replies with reasoning (closed) and with an error, in both themes.
    nb.run_and_wait(3)
    nb.run_and_wait(4)
    expect(nb.static_copy(3).locator(".ling-status")).to_contain_text("finish: stop")
    expect(nb.static_copy(4).locator(".ling-error")).to_contain_text("Error:")
    nb.cell(4).scroll_into_view_if_needed()
    nb.page.screenshot(path=str(artifacts / "untrusted-02-reasoning-error-lab-light.png"))
    set_theme(nb.page, "JupyterLab Dark")
    nb.cell(4).scroll_into_view_if_needed()
    nb.page.screenshot(path=str(artifacts / "untrusted-02-reasoning-error-lab-dark.png"))
    copy.screenshot(path=str(artifacts / "untrusted-02-static-copy-lab-dark.png"))
    set_theme(nb.page, "JupyterLab Light")

    # Save (the lab signs the notebook, so it reopens trusted) and reload without a kernel.
    nb.save()
    nb.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    nb.page.reload()
    expect(nb.static_copy(1).locator(".ling-status")).to_contain_text("finish: stop")
    assert cell_trusted(nb, 1)
    for index in (1, 2):
        assert_inert(nb.page, nb.output(index))
    assert_shown_as_text(nb.static_copy(1))
    nb.static_copy(1).screenshot(path=str(artifacts / "untrusted-03-static-copy-lab-reloaded-trusted.png"))

    # The same outputs in a notebook nobody signed, one of them crafted by hand (HTML no kernel of ours
    # makes): the extension draws the copies (COPY_MIME), through JupyterLab's sanitizer first, and they
    # still read well.
    saved = json.loads(nb.path.read_text())
    saved["cells"][0]["source"] += "\n# an unsigned copy"  # another digest: not in the signature store
    (output,) = saved["cells"][1]["outputs"]
    assert output["data"][COPY_MIME] == {}
    output["data"]["text/html"] = "".join(output["data"]["text/html"]) + CRAFTED
    untrusted = Notebook(nb.page, lab, f"{nb.name}-untrusted")
    untrusted.path.write_text(json.dumps(saved))
    untrusted.open()
    expect(untrusted.static_copy(1).locator(".ling-status")).to_contain_text("finish: stop")
    assert not cell_trusted(untrusted, 1)
    expect(untrusted.output(1).locator(f'[data-mime-type="{COPY_MIME}"] .ling-static')).to_be_attached()
    expect(untrusted.output(1).locator("p.ling-crafted")).to_have_text("crafted")
    named = untrusted.output(1).locator("a.ling-crafted")  # no window it opens can reach this page
    expect(named).to_have_attribute("target", "_blank")
    expect(named).to_have_attribute("rel", "noopener noreferrer")
    for index in (1, 2):
        assert_inert(nb.page, untrusted.output(index))
    untrusted.static_copy(1).screenshot(path=str(artifacts / "untrusted-04-static-copy-lab-untrusted.png"))
    lab.shutdown_kernels()

    # Notebook 7, served by the same server.
    nb.page.goto(f"{lab.url}/notebooks/{nb.path.name}?token={lab.token}")
    nb7 = nb.page.locator(".jp-Cell").nth(1).locator(".ling-static")
    expect(nb7.locator(".ling-status")).to_contain_text("finish: stop")
    expect(nb.page.locator(".jp-Cell").nth(1).locator(f'[data-mime-type="{COPY_MIME}"] .ling-static')).to_be_attached()
    for index in (1, 2):
        assert_inert(nb.page, nb.page.locator(".jp-Cell").nth(index))
    assert_shown_as_text(nb7)
    nb7.screenshot(path=str(artifacts / "untrusted-05-static-copy-notebook7.png"))
    lab.shutdown_kernels()

    # The nbconvert export, opened in Chromium, light and dark.
    for theme in ("light", "dark"):
        out = tmp_path / theme
        jupyter("nbconvert", "--to", "html", f"--HTMLExporter.theme={theme}", "--output-dir", str(out), str(nb.path))
        exported = out / f"{nb.path.stem}.html"
        nb.page.goto(exported.as_uri(), wait_until="domcontentloaded")
        copies = nb.page.locator(".jp-OutputArea-output .ling-static")
        expect(copies).to_have_count(4)
        assert_inert(nb.page, nb.page.locator("body"))
        assert_shown_as_text(copies.first)
        copies.first.screenshot(
            path=str(artifacts / f"untrusted-06-static-copy-nbconvert-{theme}.png"))
    nb.page.wait_for_load_state("load")
    assert nb.page.evaluate("() => window.__pwned") is None
