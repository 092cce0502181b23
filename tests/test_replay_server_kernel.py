"""A notebook's `%%ling` cells re-run offline against `ling-notebook serve --replay`, and give the same replies."""

from __future__ import annotations

import ast

from kernel_client import RECORD_KEY, magics_kernel
from test_record_kernel import run_cell

from ling_notebook.server import ModelServer

CELLS = (("c1", "%%ling -o first\nOne two"), ("c2", "%%ling -o second --temperature 0.5\nThree"))


def texts(kernel) -> list[str]:
    out = kernel.run("print(repr([first.text, second.text, first.status, second.status]))")
    return ast.literal_eval("".join(m["content"]["text"] for m in out if m["msg_type"] == "stream"))


def test_a_notebook_re_runs_offline_against_the_replay_server_with_the_same_replies(record_kernel, model_server,
                                                                                    record_log, monkeypatch):
    for cell_id, code in CELLS:
        run_cell(record_kernel, code, cell_id)
    recorded = texts(record_kernel)
    assert recorded[2:] == ["done", "done"] and recorded[0] != recorded[1]
    monkeypatch.setenv("LING_LOG", "off")  # a fresh machine (CI): no log of its own, nothing to resume
    with ModelServer(replay=str(record_log)) as replaying:
        offline = magics_kernel(replaying.url, RECORD_KEY)  # LING_BASE_URL points at the replay server
        try:
            model_server.clear()
            for cell_id, code in CELLS:
                run_cell(offline, code, cell_id)
            assert texts(offline) == recorded
            assert model_server.requests == [] and len(replaying.requests) == 2
            # the second cell's request carried the first turn, as it did when it was recorded
            assert [m["content"] for m in replaying.requests[1].messages] == ["One two", recorded[0], "Three"]
        finally:
            offline.shutdown()
