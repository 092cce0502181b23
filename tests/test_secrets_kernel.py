"""A pasted key with a line break, in a real kernel against the built-in server's `test/http-401` model.

The key, in any escaped form, must be in no iopub message, no error, no saved notebook and no log line.
"""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from kernel_client import Kernel
from secret_forms import leaked

TRAILING = "sk-pasted-4d2c-91ef-trailing\n"
INNER = "sk-pasted-4d2c-91ef\ninner-half-7a3b"

CELLS = [
    "%load_ext ling_notebook\nimport logging, ling_notebook\n"
    "logging.basicConfig(level=logging.DEBUG)  # everything logged, ours and openai's, reaches a log",
    "%%ling -m test/http-401\nHello",
    "from ling_notebook.reply import _running\nfor _r in list(_running): _r.wait(20)",
    "r = ling_notebook.stream('Hello', model='test/http-401')\nr.wait(20)\n"
    "print(r.error, repr(r), repr(r.view), repr(r.settings), r.view.error)\nr",
    "%ling config",
    "%ling models",
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


@pytest.mark.parametrize("key", [TRAILING, INNER], ids=["trailing-newline", "inner-newline"])
def test_a_pasted_key_shows_nowhere(model_server, tmp_path, key):
    log_path = tmp_path / "kernel.log"
    env = {**os.environ, "LING_BASE_URL": model_server.url, "LING_API_KEY": key}
    env.pop("ANT_LING_API_KEY", None)
    with log_path.open("w") as log:
        kernel = Kernel(env=env, stdout=log, stderr=log)
        try:
            runs = [execute(kernel, code) for code in CELLS]
            notebook = saved_notebook(kernel, runs)
            iopub = [json.dumps(m, default=str) for m in kernel.history]
        finally:
            kernel.shutdown()
    shown = "\n".join(iopub)
    assert leaked(shown, key) == [], "in an iopub message"
    assert leaked(notebook, key) == [], "in the saved notebook"
    assert leaked(log_path.read_text(), key) == [], "in the kernel's log"
    assert leaked(repr(model_server.requests), key) == [], "in the server's records"
    if key == TRAILING:  # the stripped key was sent: the server answered 401, and the error says where to look
        assert "rejected the API key (HTTP 401" in shown and "Check the key in LING_API_KEY" in shown
        assert model_server.wait_for(lambda r: r.model == "test/http-401").carried_key(key.strip())
    else:  # refused before anything was sent, naming the variable
        assert "The API key in the environment variable LING_API_KEY contains a line break" in shown
