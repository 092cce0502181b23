"""Math in JupyterLab: a derivation renders as MathML while it streams and in the static copy (light and
dark, after a reload, in an nbconvert export), a hostile formula stays its source; `%%ling --code` puts the
reply's code in a new cell below (JupyterLab and Notebook 7). Headless Chromium against the built-in model
server (test/echo streams the prompt back)."""

from __future__ import annotations

import json

import pytest
from lab_driver import FRONT_ENDS, jupyter
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LOAD = "%load_ext ling_notebook"
# The prompt is filled ({expr}): TeX braces are doubled here, and echoed back single.
DERIVATION = r"""## Gradient of the squared loss

For $L(\theta) = \frac{{1}}{{2}} \lVert X\theta - y \rVert^2$ the gradient is

$$
\nabla_\theta L = X^\top (X\theta - y)
$$

and setting it to zero gives the normal equations \(X^\top X \theta = X^\top y\), so

\[
\hat\theta = (X^\top X)^{{-1}} X^\top y .
\]

Prices stay text: it costs $5 and $10. A hostile formula stays its source: $\href{{javascript:alert(1)}}{{x}}$.
"""

# Every attribute of the output, and whatever could run: nothing may carry a javascript: URL.
DANGER = """(cell) => [...cell.querySelectorAll('.jp-OutputArea *')].flatMap((el) => [
    ...(['script', 'iframe', 'img'].includes(el.localName) ? [el.localName] : []),
    ...[...el.attributes].filter((a) => /javascript:/i.test(a.value) || a.name.startsWith('on'))
        .map((a) => `${el.localName}@${a.name}`)])"""


def wait_for_live_math(nb, index: int) -> None:
    """Until formulas show as MathML in the live view while the reply still streams."""
    nb.page.wait_for_function(
        """(cell) => {
            const widget = cell.querySelector('.ling-widget');
            return widget?.dataset.status === 'streaming' && widget.querySelectorAll('.ling-body math').length >= 2;
        }""",
        arg=nb.cell(index).element_handle(),
    )


def change_theme(nb, theme: str) -> None:
    nb.page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    light = "true" if "Light" in theme else "false"
    nb.page.wait_for_function("(light) => document.body.dataset.jpThemeLight === light", arg=light)
    expect(nb.page.locator("#jupyterlab-splash")).to_have_count(0)


@pytest.mark.parametrize("front_end", FRONT_ENDS, indirect=True)
def test_a_derivation_renders_as_mathml_live_and_in_the_static_copy(notebook, artifacts, lab, tmp_path):
    source = f"%%ling -m test/echo?rate=25\n{DERIVATION}"
    nb = notebook(LOAD, source, source)
    nb.run_and_wait(0)
    nb.run(1)

    # Live: formulas are MathML while the reply still streams; one not closed yet is its source.
    wait_for_live_math(nb, 1)
    nb.screenshot(artifacts, "math-01-live")
    assert nb.cell(1).evaluate(DANGER) == []
    # For a screenshot: the display formula in \[...\] while it is still open (its source), if the reply
    # has not ended by then.
    nb.page.wait_for_function(
        """(cell) => {
            const widget = cell.querySelector('.ling-widget');
            return !widget || widget.querySelector('.ling-body').innerText.includes('\\\\hat');
        }""",
        arg=nb.cell(1).element_handle(), polling="raf",
    )
    nb.screenshot(artifacts, "math-01-live-open-formula")

    final = nb.static_copy(1)
    expect(final).to_contain_text("finish: stop")
    expect(final.locator("math")).to_have_count(4)
    expect(final.locator('math[display="block"]')).to_have_count(2)
    expect(final).to_contain_text("it costs $5 and $10.")
    error = final.locator("code.ling-math-error")
    expect(error).to_have_text(r"$\href{javascript:alert(1)}{x}$")
    expect(error).to_have_attribute("title", r"Not allowed in a reply: \href")
    assert nb.cell(1).evaluate(DANGER) == []
    nb.screenshot(artifacts, "math-02-done-light")

    change_theme(nb, "JupyterLab Dark")
    nb.screenshot(artifacts, "math-03-done-dark")
    nb.run(2)
    wait_for_live_math(nb, 2)
    nb.cell(2).evaluate("(cell) => cell.scrollIntoView({block: 'start'})")
    expect(nb.output(2).locator("math").first).to_be_visible()
    nb.page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    nb.screenshot(artifacts, "math-04-live-dark")
    expect(nb.static_copy(2).locator("math")).to_have_count(4)
    change_theme(nb, "JupyterLab Light")

    nb.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    assert "<math" in json.dumps(json.loads(nb.path.read_text())["cells"][1]["outputs"])
    nb.page.reload()
    nb.wait_for_kernel()
    expect(nb.static_copy(1).locator("math")).to_have_count(4)
    assert nb.cell(1).evaluate(DANGER) == []

    jupyter("nbconvert", "--to", "html", "--output-dir", str(tmp_path), str(nb.path))
    exported = (tmp_path / f"{nb.path.stem}.html").read_text()
    assert exported.count('<math display="block">') == 4 and "mathjax_ignore" in exported  # two cells, two each
    assert 'href="javascript' not in exported.replace(" ", "")


@pytest.mark.parametrize("front_end", FRONT_ENDS, indirect=True)
def test_code_goes_into_a_new_cell_below(notebook, artifacts):
    code = "print('written by ling')\nanswer = 42"
    nb = notebook(LOAD, f"%%ling -m test/echo --code\nHere:\n\n```python\n{code}\n```\n", "after = 1")
    nb.run_and_wait(0)
    nb.run_and_wait(1)
    expect(nb.panel.locator(".jp-Cell")).to_have_count(4)
    expect(nb.cell(2).locator(".jp-InputArea-editor")).to_contain_text("print('written by ling')")
    expect(nb.cell(2).locator(".jp-InputArea-editor")).to_contain_text("answer = 42")
    expect(nb.cell(2).locator(".jp-InputArea-prompt")).to_have_text("[ ]:")  # not run
    expect(nb.cell(3).locator(".jp-InputArea-editor")).to_contain_text("after = 1")
    nb.screenshot(artifacts, "code-01-new-cell")
