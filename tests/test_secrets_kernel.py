"""Secrets in a real kernel against the built-in server's `test/http-401` model: a pasted key with a line
break, a URL with a user name, password and query key, a header value, and an unreachable server.

No secret, in any escaped form, may be in an iopub message, an error (with `%xmode Verbose`, which shows
the variables of every frame), a saved notebook or a log line.
"""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from kernel_client import Kernel
from secret_forms import leaked
from test_secrets_shown import HEADER_KEY, PASSWORD, QUERY_KEY, USER, unreachable_url, with_credentials

TRAILING = "sk-pasted-4d2c-91ef-trailing\n"
INNER = "sk-pasted-4d2c-91ef\ninner-half-7a3b"
PLAIN = "sk-kernel-creds-1f3a-77d0"
HEADERS = "extra_headers={'X-Gateway-Key': os.environ['GATEWAY_KEY']}"  # not in the cell's code: that is the user's

CELLS = [
    "%load_ext ling_notebook\n%xmode Verbose\nimport logging, os, ling_notebook\n"
    "logging.basicConfig(level=logging.DEBUG)  # everything logged, ours and openai's, reaches a log",
    "%%ling -m test/http-401\nHello",
    "from ling_notebook.reply import _running\nfor _r in list(_running): _r.wait(20)",
    f"r = ling_notebook.stream('Hello', model='test/http-401', {HEADERS})\nr.wait(20)\n"
    "print(r.error, repr(r), repr(r.view), repr(r.settings), r.view.error)\nr",
    "%ling config",
    "%ling models",
    f"u = ling_notebook.stream('Hello', base_url=os.environ['UNREACHABLE_URL'], max_retries=0, {HEADERS})\n"
    "u.wait(20)\nprint(u.error, repr(u), repr(u.settings))\nu",
]


def execute(kernel: Kernel, code: str) -> list[dict]:
    """Run a cell to its end, errors allowed (a refused key may raise); return its iopub messages."""
    msg_id = kernel.client.execute(code)
    kernel.read_until(lambda: any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                                  and m["parent_header"].get("msg_id") == msg_id for m in kernel.messages))
    return [m for m in kernel.messages if m["parent_header"].get("msg_id") == msg_id]


OUTPUTS = ("stream", "display_data", "update_display_data", "execute_result", "error")


def as_output(message: dict) -> dict:
    """An iopub message as a saved output (an update replaces a display's data: keep each one)."""
    kind = message["msg_type"].removeprefix("update_")
    return nbformat.v4.output_from_msg({**message, "header": {"msg_type": kind}})


def saved_notebook(kernel: Kernel, runs: list[list[dict]]) -> str:
    """The notebook a front end would save: each cell's outputs and the widgets' state."""
    nb = nbformat.v4.new_notebook()
    for code, messages in zip(CELLS, runs, strict=True):
        cell = nbformat.v4.new_code_cell(code)
        cell.outputs = [as_output(m) for m in messages if m["msg_type"] in OUTPUTS]
        nb.cells.append(cell)
    widgets = {comm: {"model_name": "AnyModel", "model_module": "anywidget", "model_module_version": "*",
                      "state": kernel.state(comm)} for comm in kernel.widget_comms()}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json":
                              {"version_major": 2, "version_minor": 0, "state": widgets}}
    return nbformat.writes(nb)


@pytest.mark.parametrize("key, url_has_credentials", [(TRAILING, False), (INNER, False), (PLAIN, True)],
                         ids=["trailing-newline", "inner-newline", "url-credentials"])
def test_no_secret_shows_anywhere(model_server, tmp_path, key, url_has_credentials):
    log_path = tmp_path / "kernel.log"
    url = with_credentials(model_server.url) if url_has_credentials else model_server.url
    env = {**os.environ, "LING_BASE_URL": url, "LING_API_KEY": key, "GATEWAY_KEY": HEADER_KEY,
           "UNREACHABLE_URL": with_credentials(unreachable_url())}
    env.pop("ANT_LING_API_KEY", None)
    with log_path.open("w") as log:
        kernel = Kernel(env=env, stdout=log, stderr=log)
        try:
            runs = [execute(kernel, code) for code in CELLS]
            notebook = saved_notebook(kernel, runs)
            iopub = [json.dumps(m, default=str) for m in kernel.history]
            errors = [m["content"] for m in kernel.history if m["msg_type"] == "error"]
        finally:
            kernel.shutdown()
    shown = "\n".join(iopub)
    for secret in (key, USER, PASSWORD, QUERY_KEY, HEADER_KEY):
        assert leaked(shown, secret) == [], f"{secret!r} in an iopub message"
        assert leaked(notebook, secret) == [], f"{secret!r} in the saved notebook"
        assert leaked(log_path.read_text(), secret) == [], f"{secret!r} in the kernel's log"
    assert leaked(repr(model_server.requests), key) == [], "in the server's records"
    if key != INNER:  # the request was sent, and the connection error quotes the URL without its credentials
        assert "Could not connect to http://127.0.0.1:" in shown and "/v1?api-key=***" in shown
    if url_has_credentials:  # the SDK puts the path after the query: the server answers 404, quoting the URL
        assert "was not found at http://127.0.0.1:" in shown
    elif key == TRAILING:  # the stripped key was sent: the server answered 401, and the error says where to look
        assert "rejected the API key (HTTP 401" in shown and "Check the key in LING_API_KEY" in shown
        assert model_server.wait_for(lambda r: r.model == "test/http-401").carried_key(key.strip())
    else:  # refused before anything was sent, naming the variable, in one line (no traceback, however verbose)
        assert "The API key in the environment variable LING_API_KEY contains a line break" in shown
        assert errors and all(len(error["traceback"]) == 1 for error in errors)
        assert errors[0]["traceback"][0].startswith("ling: The API key in the environment variable")
