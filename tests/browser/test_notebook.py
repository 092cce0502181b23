"""What a person sees in JupyterLab while a reply streams, when it ends, after Stop, on errors, after a
reload and in an nbconvert export, checked in headless Chromium against the built-in model server. The
streaming, Stop, hostile-output, reload and two-views scenarios run in Notebook 7 too.

While a reply streams, its output is the live widget (`.ling-widget`); when it ends, the kernel
replaces it with a static HTML copy made by ling_notebook.render (`.ling-static`).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from lab_driver import FAKE_KEY, FRONT_ENDS, jupyter
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LOAD = "%load_ext ling_notebook"
# The scenarios that also run in Notebook 7.
both_front_ends = pytest.mark.parametrize("front_end", FRONT_ENDS, indirect=True)

# Installed on a cell before it runs: notes, on every DOM change, what the live view shows, so a test
# can assert on states that last only a few frames (a code block highlighted just before the end).
RECORDER = """(cell) => {
    const seen = { statuses: [], lengths: [], text: '', heading: false, item: false, code: false,
                   highlighted: false, danger: [], pwned: [] };
    const danger = (root) => [...root.querySelectorAll('script, img[onerror], a[href], [onerror], iframe')]
        .filter((el) => el.localName !== 'a'
            || /^\\s*(javascript|vbscript|data):/i.test(el.getAttribute('href') || ''))
        .map((el) => el.outerHTML.slice(0, 200));
    const look = () => {
        const output = cell.querySelector('.jp-OutputArea');
        if (output) seen.danger.push(...danger(output));
        if (window.__pwned !== undefined) seen.pwned.push(String(window.__pwned));
        const widget = cell.querySelector('.ling-widget');
        if (!widget) return;
        const status = widget.dataset.status;
        if (seen.statuses[seen.statuses.length - 1] !== status) seen.statuses.push(status);
        if (status !== 'streaming') return;
        const body = widget.querySelector('.ling-body');
        seen.text = body.innerText;
        const length = seen.text.length;
        if (length !== seen.lengths[seen.lengths.length - 1]) seen.lengths.push(length);
        seen.heading ||= !!body.querySelector('h1, h2, h3');
        seen.item ||= !!body.querySelector('li');
        seen.code ||= !!body.querySelector('pre code');
        seen.highlighted ||= !!body.querySelector('pre code span[class^="hljs-"]');
    };
    new MutationObserver(look).observe(cell, { subtree: true, childList: true, characterData: true,
                                              attributes: true });
    cell.__lingSeen = seen;
}"""


def record(nb, index: int) -> None:
    nb.cell(index).evaluate(RECORDER)


def seen(nb, index: int) -> dict:
    return nb.cell(index).evaluate("(cell) => cell.__lingSeen")


@both_front_ends
def test_offline_demo_streams_rendered_markdown(notebook, artifacts):
    nb = notebook(LOAD, "%%ling -m ling-offline-demo?rate=60\nTell me about spring gardens")
    nb.run_and_wait(0)
    record(nb, 1)
    nb.run(1, keyboard=True)

    # Read the rendered text at three growing lengths, each while the view still says "streaming".
    lengths = [0]
    for _ in range(3):
        length = nb.page.wait_for_function(
            """([cell, previous]) => {
                const widget = cell.querySelector('.ling-widget');
                if (!widget) return cell.querySelector('.ling-static') ? -1 : false;  // -1: ended
                const length = widget.querySelector('.ling-body').innerText.length;
                return widget.dataset.status === 'streaming' && length > previous ? length : false;
            }""",
            arg=[nb.cell(1).element_handle(), lengths[-1]],
        ).json_value()
        assert length > lengths[-1], f"the reply ended before its text was seen growing: {lengths}"
        lengths.append(length)
    expect(nb.widget(1).locator(".ling-status")).to_contain_text("ling-offline-demo")
    expect(nb.widget(1).locator(".ling-stop")).to_be_visible()
    # For the screenshot: the moment the code block is highlighted, if the reply has not ended by then.
    nb.page.wait_for_function(
        """(cell) => {
            const widget = cell.querySelector('.ling-widget');
            return !widget || !!widget.querySelector('.ling-body pre code span[class^="hljs-"]');
        }""",
        arg=nb.cell(1).element_handle(),
    )
    nb.screenshot(artifacts, "01-demo-streaming")

    final = nb.static_copy(1)
    expect(final).to_contain_text("finish: stop")
    expect(nb.widget(1)).to_have_count(0)
    live = seen(nb, 1)
    assert live["statuses"][:1] in (["waiting"], ["streaming"]) and "streaming" in live["statuses"]
    # Markdown syntax can shrink the rendered text for a moment (`**bold` turns bold), so: grows overall.
    print("rendered lengths while streaming:", live["lengths"])
    assert len(set(live["lengths"])) >= 3 and live["lengths"][-1] > live["lengths"][0] + 100
    # Markdown was rendered live, and the code block was highlighted once its fence closed.
    assert live["heading"] and live["item"] and live["code"] and live["highlighted"], live

    expect(final.locator("h2")).to_contain_text("About “Tell me about spring gardens”")
    expect(final.locator("li").first).to_be_visible()
    expect(final.locator("pre code")).to_contain_text("topic = 'Tell me about spring gardens'")
    expect(final.locator("table")).to_contain_text("ling-offline-demo")
    footer = final.locator(".ling-status")
    expect(footer).to_contain_text("ling-offline-demo")
    expect(footer).to_contain_text(re.compile(r"\d+ prompt \+ \d+ completion = \d+ tokens"))
    expect(footer).to_contain_text("finish: stop")
    nb.screenshot(artifacts, "01-demo-done")


@both_front_ends
def test_stop_keeps_the_words_and_closes_the_connection(notebook, artifacts, model_server):
    prompt = "stop scenario 4f2a"
    nb = notebook(LOAD, f"%%ling -m test/stall?after=5&rate=0\n{prompt}")
    nb.run_and_wait(0)
    record(nb, 1)
    nb.run(1)
    widget = nb.widget(1)
    expect(nb.body(1)).to_have_text(re.compile(r"w1 w2 w3 w4 w5"))
    expect(widget).to_have_attribute("data-status", "streaming")
    nb.page.evaluate("""() => document.addEventListener('click', () => { window.__clickAt = Date.now(); },
                                                      { capture: true, once: true })""")

    before = len(seen(nb, 1)["statuses"])
    clicked = time.time()
    widget.locator(".ling-stop").click()

    final = nb.static_copy(1)
    expect(final).to_contain_text("stopped")
    expect(final).to_contain_text("w1 w2 w3 w4 w5")
    expect(nb.widget(1)).to_have_count(0)
    statuses = seen(nb, 1)["statuses"]
    # The view said "stopping" itself at the click, before the kernel's "stopped" came back.
    assert statuses[before - 1 : before + 1] == ["streaming", "stopping"], (statuses, before)

    request_record = model_server.wait_for(
        lambda r: r.disconnected_at is not None and any(prompt in str(m.get("content")) for m in r.messages),
        timeout=10,
    )
    # The role chunk and the 5 words went out, and never an ending.
    assert request_record.chunks_sent >= 6 and not request_record.completed
    eof = request_record.disconnected_at
    click_event = nb.page.evaluate("() => window.__clickAt") / 1000
    report = (f"stop latency: test clicks -> server sees EOF {(eof - clicked) * 1000:.0f} ms; "
              f"browser click event -> server sees EOF {(eof - click_event) * 1000:.0f} ms\n")
    print(report, end="")
    (artifacts / f"stop-latency-{nb.front_end}.txt").write_text(report)
    nb.screenshot(artifacts, "02-stop")


HOSTILE = (  # one paragraph each, so every one is parsed as what it tries to be
    "Hostile reply:\n\n"
    "<script>window.__pwned=1</script>\n\n"
    '<img src=x onerror="window.__pwned=2">\n\n'
    "[click](javascript:window.__pwned=3)\n\n"
    '<a href="javascript:window.__pwned=4">a</a>\n\n'
    "[CLICK](JaVaScRiPt:window.__pwned=5) end of hostile reply"
)


@both_front_ends
def test_hostile_model_output_never_runs(notebook, artifacts):
    nb = notebook(LOAD, f"%%ling -m test/echo?rate=30\n{HOSTILE}")
    nb.run_and_wait(0)
    record(nb, 1)
    nb.run(1)
    # For the screenshot: the hostile lines on screen while streaming (the recorder checks every frame).
    nb.page.wait_for_function(
        """(cell) => {
            const widget = cell.querySelector('.ling-widget');
            return !widget || widget.querySelector('.ling-body').innerText.includes('window.__pwned=4');
        }""",
        arg=nb.cell(1).element_handle(),
    )
    nb.screenshot(artifacts, "03-hostile-streaming")
    final = nb.static_copy(1)
    expect(final).to_contain_text("end of hostile reply")
    expect(final).to_contain_text("finish: stop")

    live = seen(nb, 1)
    assert "streaming" in live["statuses"] and len(live["lengths"]) >= 3, live  # it was seen streaming
    assert live["danger"] == [] and live["pwned"] == [], live
    assert '<img src=x onerror="window.__pwned=2">' in live["text"]  # shown as text while streaming
    output = nb.output(1)
    for selector in ["script", "img[onerror]", "[onerror]", "iframe", "a[href^='javascript' i]",
                     "a[href*='script:' i]"]:
        expect(output.locator(selector)).to_have_count(0)
    expect(final).to_contain_text("<script>window.__pwned=1</script>")

    url = nb.page.url
    for text in ["click", "CLICK", "a"]:
        links = final.get_by_text(text, exact=True)
        for i in range(links.count()):
            links.nth(i).click()
    assert nb.page.evaluate("() => window.__pwned") is None
    assert nb.page.url == url
    print("links in the final copy:", final.locator("a").evaluate_all("(as) => as.map((a) => a.outerHTML)"))
    nb.screenshot(artifacts, "03-hostile-done")


def test_errors_are_explained_and_partial_text_stays(notebook, artifacts):
    nb = notebook(
        LOAD,
        "%%ling --no-history -m test/http-401\nerror scenario",
        "%%ling --no-history -m test/error-mid?after=5&rate=20\nerror scenario",
        "%%ling --no-history -m test/drop?after=5&rate=20\nerror scenario",
    )
    nb.run_and_wait(0)
    for index in (1, 2, 3):
        nb.run(index)

    unauthorized = nb.static_copy(1)
    expect(unauthorized.locator(".ling-error")).to_contain_text("LING_API_KEY")
    expect(unauthorized.locator(".ling-error")).to_contain_text("401")

    mid = nb.static_copy(2)
    words = mid.locator("p", has_text="w1 w2 w3 w4 w5")
    error = mid.locator(".ling-error")
    expect(error).to_contain_text("Error:")
    expect(words).to_be_visible()
    assert words.bounding_box()["y"] + words.bounding_box()["height"] <= error.bounding_box()["y"]

    dropped = nb.static_copy(3)
    expect(dropped.locator("p", has_text="w1 w2 w3 w4 w5")).to_be_visible()
    expect(dropped.locator(".ling-error")).to_contain_text("incomplete")
    for index in (1, 2, 3):
        expect(nb.static_copy(index).locator(".ling-status")).to_contain_text("error")
    assert FAKE_KEY not in nb.page.content()
    nb.screenshot(artifacts, "04-errors")


@both_front_ends
def test_a_saved_reply_survives_a_reload_and_an_export(notebook, artifacts, lab, tmp_path):
    nb = notebook(LOAD, "%%ling -m test/echo\nPersistence check: <script>window.__pwned=7</script> keep me")
    nb.run_and_wait(0)
    nb.run(1)
    expect(nb.static_copy(1)).to_contain_text("finish: stop")
    nb.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    saved = json.loads(nb.path.read_text())
    assert "Persistence check" in json.dumps(saved["cells"][1]["outputs"])

    nb.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    nb.page.reload()
    final = nb.static_copy(1)
    expect(final).to_contain_text("Persistence check: <script>window.__pwned=7</script> keep me")
    expect(final).to_contain_text("finish: stop")
    expect(nb.panel).not_to_contain_text("Error displaying widget")
    assert nb.page.evaluate("() => window.__pwned") is None
    nb.screenshot(artifacts, "05-reloaded")

    jupyter("nbconvert", "--to", "html", "--output-dir", str(tmp_path), str(nb.path))
    html = (tmp_path / f"{nb.path.stem}.html").read_text()
    assert "Persistence check: " in html and "keep me" in html
    assert "window.__pwned=7" in html and "<script>window.__pwned" not in html


# Installed before the page's own scripts: counts the `renderer` requests the page sends to kernels.
COUNT_RENDERER_REQUESTS = """(() => {
    window.__rendererRequests = 0;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
        const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
        if (text.includes('"type":"renderer"')) window.__rendererRequests += 1;
        return send.call(this, data);
    };
})()"""


@both_front_ends
def test_after_a_reload_mid_stream_the_page_loads_the_renderer_once_and_both_views_catch_up(notebook, artifacts):
    nb = notebook(LOAD, "%%ling --no-history -m test/trickle?tokens=600&rate=20\nfirst",
                  "%%ling --no-history -m test/trickle?tokens=600&rate=20\nsecond")
    nb.run_and_wait(0)
    nb.run(1)
    nb.run(2)
    expect(nb.body(1)).to_contain_text("w3")
    expect(nb.body(2)).to_contain_text("w3")
    nb.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    deadline = time.monotonic() + 20
    while "widget-view" not in nb.path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # the save is asynchronous and has no event the test can wait on
    nb.page.add_init_script(COUNT_RENDERER_REQUESTS)
    nb.page.reload()
    nb.wait_for_kernel()
    # Both views come back from the kernel at once, before the page has a renderer: one request serves both,
    # and each catches up on what streamed meanwhile (its hello brings a snapshot) and goes on.
    for index in (1, 2):
        expect(nb.widget(index)).to_have_attribute("data-status", "streaming")
        expect(nb.body(index)).to_contain_text(re.compile(r"^\s*w1 w2 w3"))
    before = len(nb.body(1).inner_text())
    nb.page.wait_for_function("([cell, before]) => cell.querySelector('.ling-body').innerText.length > before",
                              arg=[nb.cell(1).element_handle(), before])
    assert nb.page.evaluate("() => window.__rendererRequests") == 1
    nb.screenshot(artifacts, "08-reloaded-mid-stream")


@both_front_ends
def test_a_second_view_opened_mid_stream_shows_the_same_text(notebook, artifacts):
    nb = notebook(
        'import ling_notebook\nr = ling_notebook.stream("go", model="test/trickle?tokens=120&rate=30")',
        "r",
    )
    nb.run(0)
    expect(nb.body(0)).to_contain_text("w3")
    nb.run(1)
    expect(nb.widget(1)).to_have_attribute("data-status", "streaming")
    both = nb.page.wait_for_function(
        """([first, second]) => {
            const text = (cell) => cell.querySelector('.ling-widget')?.querySelector('.ling-body').innerText;
            const status = (cell) => cell.querySelector('.ling-widget')?.dataset.status;
            const a = text(first), b = text(second);
            return status(first) === 'streaming' && status(second) === 'streaming' && a && a === b ? a : false;
        }""",
        arg=[nb.cell(0).element_handle(), nb.cell(1).element_handle()],
    ).json_value()
    assert both.startswith("w1 w2 w3")  # what arrived before the second view opened is there too
    nb.screenshot(artifacts, "06-two-views-streaming")

    first, second = nb.static_copy(0), nb.static_copy(1)
    expect(first).to_contain_text("finish: stop")
    expect(second).to_contain_text("finish: stop")
    assert first.inner_text() == second.inner_text()
    assert "w1 w2" in first.inner_text() and "w120" in first.inner_text()
    nb.screenshot(artifacts, "06-two-views-done")


def test_streaming_goes_on_while_another_cell_runs(notebook, artifacts):
    nb = notebook(LOAD, "%%ling -m test/trickle?tokens=150&rate=30\ngo", "import time; time.sleep(3)")
    nb.run_and_wait(0)
    nb.run(1)
    expect(nb.body(1)).to_contain_text("w2")
    nb.run(2)
    samples = nb.page.wait_for_function(
        """([stream, sleeper]) => {
            const samples = (stream.__lengths ||= []);
            if (!sleeper.querySelector('.jp-InputArea-prompt').textContent.includes('*')) {
                return { busy: false, samples };
            }
            const length = stream.querySelector('.ling-body')?.innerText.length ?? -1;
            if (length > (samples[samples.length - 1] ?? -1)) samples.push(length);
            return samples.length >= 3 ? { busy: true, samples } : false;
        }""",
        arg=[nb.cell(1).element_handle(), nb.cell(2).element_handle()],
    ).json_value()
    assert samples["busy"], f"the sleeping cell ended before the reply was seen growing: {samples}"
    assert samples["samples"][0] > 0
    # For the screenshot: a good part of the reply, while the other cell still sleeps (if it still does).
    nb.page.wait_for_function(
        """([stream, sleeper]) => !sleeper.querySelector('.jp-InputArea-prompt').textContent.includes('*')
            || stream.querySelector('.ling-body')?.innerText.includes('w40')""",
        arg=[nb.cell(1).element_handle(), nb.cell(2).element_handle()],
    )
    nb.screenshot(artifacts, "07-streaming-while-sleeping")
    expect(nb.prompt(2)).to_have_text(re.compile(r"\[\d+\]"))
    final = nb.static_copy(1)
    expect(final).to_contain_text("w150")
    expect(final).to_contain_text("finish: stop")


@both_front_ends
def test_a_wait_cell_streams_while_it_runs(notebook, artifacts):
    # The first reply of the page: its view gets the renderer and the text while the kernel is busy in the cell.
    nb = notebook(LOAD, "%%ling --wait -m test/trickle?tokens=150&rate=30\ngo")
    nb.run_and_wait(0)
    nb.run(1)
    samples = nb.page.wait_for_function(
        """(cell) => {
            const samples = (cell.__lengths ||= []);
            if (!cell.querySelector('.jp-InputArea-prompt').textContent.includes('*')) {
                return { busy: false, samples };
            }
            const length = cell.querySelector('.ling-body')?.innerText.length ?? -1;
            if (length > (samples[samples.length - 1] ?? -1)) samples.push(length);
            return samples.length >= 3 ? { busy: true, samples } : false;
        }""",
        arg=nb.cell(1).element_handle(),
    ).json_value()
    assert samples["busy"], f"the cell ended before its reply was seen growing: {samples}"
    expect(nb.widget(1).locator(".ling-stop")).to_be_hidden()  # the busy kernel could not take the click in
    nb.screenshot(artifacts, "21-wait-streaming")
    final = nb.static_copy(1)
    expect(final).to_contain_text("w150")
    expect(nb.prompt(1)).to_have_text(re.compile(r"\[\d+\]"))
