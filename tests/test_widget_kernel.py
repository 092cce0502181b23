"""The widget in a real ipykernel, against the built-in server, seen from the iopub channel."""

from __future__ import annotations

import base64
import json
import os
import re
import zlib

import pytest
from kernel_client import Kernel

from ling_notebook.render import COPY_MIME

KEY = "sk-kernel-test-7b1f9d0e-secret"


@pytest.fixture(scope="module")
def kernel(model_server):
    env = {**os.environ, "LING_BASE_URL": model_server.url, "LING_API_KEY": KEY}
    k = Kernel(env=env)
    k.run("import ling_notebook")
    yield k
    k.shutdown()


def start(kernel: Kernel, call: str) -> str:
    """Run a cell that starts a reply as `r`; return the widget's comm id."""
    before = set(kernel.widget_comms())
    kernel.run(f"r = {call}")
    (comm,) = [c for c in kernel.widget_comms() if c not in before and kernel.state(c).get("_esm") is not None]
    return comm


def wait_ended(kernel: Kernel, comm: str, timeout: float = 30) -> dict:
    kernel.read_until(lambda: kernel.state(comm).get("status") in ("done", "stopped", "error"), timeout)
    kernel.read_until(lambda: bool(kernel.displays()), timeout)
    return kernel.state(comm)


def joined(kernel: Kernel, comm: str) -> str:
    return "".join(d["content"] for d in kernel.custom(comm, "delta"))


def test_a_flood_is_coalesced_into_few_messages(kernel):
    kernel.messages.clear()
    comm = start(kernel, "ling_notebook.stream('go', model='test/flood?tokens=10000&rate=0')")
    state = wait_ended(kernel, comm)
    expected = "".join(f" w{i}" for i in range(1, 10001))
    deltas = kernel.custom(comm, "delta")
    elapsed = kernel.value("r.elapsed")
    assert state["status"] == "done" and joined(kernel, comm) == expected
    assert f"<p>{expected.strip()}</p>" in kernel.displays()[0]["data"]["text/html"]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    # one message per 40 ms frame at most (plus the first, sent at once), never one per token
    assert len(deltas) <= elapsed / 0.04 + 2
    assert state["usage"]["completion_tokens"] == 10000 and state["finish_reason"] == "stop"


def test_the_text_is_not_sent_again_when_the_reply_ends(kernel):
    kernel.messages.clear()
    comm = start(kernel, "ling_notebook.stream('go', model='test/flood?tokens=3000&rate=0')")
    state = wait_ended(kernel, comm)
    assert "text" not in state  # the deltas and the static copy carry it, once each
    (update,) = kernel.displays()
    assert len(update["data"]["text/plain"]) < 2100 and "more characters" in update["data"]["text/plain"]


def test_the_final_output_is_a_static_html_copy(kernel):
    kernel.messages.clear()
    comm = start(kernel, "ling_notebook.stream('<img src=x onerror=alert(1)> hi', model='test/echo')")
    wait_ended(kernel, comm)
    (update,) = kernel.displays()
    # No Markdown for another renderer to re-read; the mark that has the extension draw the HTML.
    assert update["data"].pop(COPY_MIME) == {} and set(update["data"]) == {"text/html", "text/plain"}
    page = update["data"]["text/html"]
    assert "&lt;img src=x onerror=alert(1)&gt; hi" in page and "<img" not in page
    assert "test/echo" in page and "finish: stop" in page
    assert update["data"]["text/plain"] == "<img src=x onerror=alert(1)> hi"


def test_the_copy_packed_as_it_is_built_is_the_bundle_and_metadata_of_the_reply(kernel):
    # packed.py writes the message itself, a slice at a time: cut into 5-character slices here, the copy of
    # a reply with quotes, backslashes, control characters and non-ASCII text must arrive as IPython's would.
    kernel.messages.clear()
    kernel.run("import ling_notebook.packed; ling_notebook.packed.SLICE = 5")
    prompt = ('# Tit\\"le\\n\\n*said* \\"é\\" \\\\ back\\tslash \\u2028 😀 `co\\"de`\\n\\n'
              '```py\\nx = \\"1\\"\\n```\\n') * 3
    try:
        comm = start(kernel, f"ling_notebook.stream(\"{prompt}\", model='test/echo')")
        wait_ended(kernel, comm)
    finally:
        kernel.run("ling_notebook.packed.SLICE = 1 << 16")
    assert kernel.value("ling_notebook.packed._publisher() is not None")  # ipykernel's: packed here, not by IPython
    (update,) = kernel.displays()
    expected = kernel.value("{'data': ling_notebook.render.reply_bundle(r), "
                            "'metadata': ling_notebook.render.reply_metadata(r)}")
    assert update["data"] == expected["data"] and update["metadata"] == expected["metadata"]
    assert "😀" in update["metadata"]["ling_notebook"]["markdown"][0] and "<h1" in update["data"]["text/html"]


def test_a_long_reply_with_curly_quotes_is_kept_as_utf8_and_its_copy_holds_its_markdown_compressed(kernel):
    kernel.messages.clear()
    comm = start(kernel, "ling_notebook.stream('go', model='test/markdown?tokens=25000&rate=0')")
    wait_ended(kernel, comm)
    assert kernel.value("type(r.kept()).__name__") == "bytes"  # half the size of its str
    text = kernel.value("r.text")
    (update,) = kernel.displays()
    (markdown,) = update["metadata"]["ling_notebook"]["markdown"]
    assert len(text) > 65536 and "“" in text and set(markdown) == {"deflate"}
    assert zlib.decompress(base64.b64decode(markdown["deflate"])).decode() == text
    # Read as a str now (r.text above), the text renders in windows of characters, not of UTF-8 bytes: the same
    # HTML, but for where the chunks (divs of a few blocks each) are cut.
    bundle = kernel.value("ling_notebook.render.reply_bundle(r)")
    between = '</div><div class="ling-chunk">'
    assert update["data"]["text/html"].replace(between, "") == bundle["text/html"].replace(between, "")
    assert update["data"]["text/plain"] == bundle["text/plain"]
    assert update["metadata"] == kernel.value("ling_notebook.render.reply_metadata(r)")  # packed a piece at a time
    last = re.findall(r"## About “(part \d+ of a long answer)”", text)[-1]
    assert f"About “{last}”" in update["data"]["text/html"]


def test_stop_from_the_front_end_closes_the_connection_and_keeps_the_text(kernel, model_server):
    kernel.messages.clear()
    model_server.clear()
    comm = start(kernel, "ling_notebook.stream('go', model='test/stall?after=4&rate=0')")
    kernel.read_until(lambda: joined(kernel, comm) == " w1 w2 w3 w4")
    kernel.send_to_widget(comm, {"type": "stop"})
    state = wait_ended(kernel, comm)
    assert state["status"] == "stopped" and joined(kernel, comm) == " w1 w2 w3 w4"
    assert model_server.wait_for(lambda r: r.disconnected_at is not None).chunks_sent >= 4
    assert "w4" in kernel.displays()[0]["data"]["text/html"]


def test_a_view_that_says_hello_mid_stream_gets_a_snapshot(kernel):
    kernel.messages.clear()
    comm = start(kernel, "ling_notebook.stream('go', model='test/stall?after=3&rate=0')")
    kernel.read_until(lambda: joined(kernel, comm) == " w1 w2 w3")
    kernel.send_to_widget(comm, {"type": "hello"})
    kernel.read_until(lambda: bool(kernel.custom(comm, "snapshot")))
    (snapshot,) = kernel.custom(comm, "snapshot")
    assert snapshot["text"] == " w1 w2 w3" and snapshot["seq"] == kernel.custom(comm, "delta")[-1]["seq"]
    kernel.run("r.stop()")
    wait_ended(kernel, comm)


def test_a_reply_ships_only_the_stub_and_a_view_that_asks_gets_the_renderer(kernel):
    kernel.messages.clear()
    comm = start(kernel, "ling_notebook.stream('go', model='test/stall?after=3&rate=0')")
    (opened,) = [m for m in kernel.messages if m["msg_type"] == "comm_open" and m["content"]["comm_id"] == comm]
    # The comm_open carries the small stub, not markdown-it, DOMPurify and highlight.js, and no stylesheet.
    assert len(json.dumps(opened["content"])) < 6_000 and "_css" not in opened["content"]["data"]["state"]
    kernel.send_to_widget(comm, {"type": "renderer"})
    kernel.read_until(lambda: bool(kernel.custom(comm, "renderer")))
    (renderer,) = kernel.custom(comm, "renderer")
    assert "markdown-it" in renderer["js"] and "DOMPurify" in renderer["js"] and ".ling-widget" in renderer["css"]
    stub = opened["content"]["data"]["state"]["_esm"]
    assert len(renderer["hash"]) == 16 and f'"{renderer["hash"]}"' in stub  # the stub accepts this build only
    kernel.run("r.stop()")
    wait_ended(kernel, comm)


def test_replies_after_the_first_open_one_comm_each(kernel):
    kernel.run("r = ling_notebook.stream('go', model='test/echo'); r.wait(10)")
    kernel.messages.clear()
    kernel.run("r = ling_notebook.stream('go', model='test/echo'); r.wait(10)")
    opened = [m for m in kernel.messages if m["msg_type"] == "comm_open"]
    assert [m["content"]["data"]["state"]["_model_name"] for m in opened] == ["AnyModel"]


def test_an_error_mid_stream_keeps_the_partial_text(kernel):
    kernel.messages.clear()
    comm = start(kernel, "ling_notebook.stream('go', model='test/error-mid?after=5&rate=0')")
    state = wait_ended(kernel, comm)
    assert state["status"] == "error" and joined(kernel, comm) == " w1 w2 w3 w4 w5"
    assert "simulated" in state["error"]
    page = kernel.displays()[0]["data"]["text/html"]
    assert "w5" in page and '<p class="ling-error">Error: ' in page


def test_streaming_goes_on_while_another_cell_sleeps(kernel):
    kernel.messages.clear()
    comm = start(kernel, "ling_notebook.stream('go', model='test/trickle?tokens=40&rate=40')")
    before = len(kernel.custom(comm, "delta"))
    kernel.run("import time; time.sleep(1.5)")
    during = len(kernel.custom(comm, "delta")) - before
    assert during >= 10  # ~1.5 s of a 40 tokens/s stream arrived while the cell slept
    assert wait_ended(kernel, comm)["status"] == "done"


def test_wait_returns_the_complete_text_in_the_next_cell(kernel):
    kernel.messages.clear()
    kernel.run("r = ling_notebook.stream('go', model='test/trickle?tokens=20&rate=100')")
    assert kernel.value("r.wait(timeout=20)") == "".join(f" w{i}" for i in range(1, 21))
    assert kernel.value("r.status") == "done"


def test_no_message_carries_the_api_key(kernel):
    kernel.messages.clear()
    comm = start(kernel, "ling_notebook.stream('go', model='test/http-401')")
    state = wait_ended(kernel, comm)
    assert state["status"] == "error" and "LING_API_KEY" in state["error"]
    assert len(kernel.history) > 100  # every test of this module ran in this kernel
    assert KEY not in json.dumps(kernel.history, default=str)
