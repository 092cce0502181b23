"""The reply log from a notebook's kernel: what `%%ling` records, `%ling log`, and the tests' own log."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from kernel_client import Kernel, magics_kernel

from ling_notebook import record

KEY = "sk-record-kernel-7d1e-secret"
NOTEBOOK = "work/analysis.ipynb"


@pytest.fixture
def log(tmp_path, monkeypatch):
    """A log of this test's, and the notebook path Jupyter Server gives the kernels it starts."""
    path = tmp_path / "replies.sqlite"
    monkeypatch.setenv("LING_LOG", str(path))
    monkeypatch.setenv("JPY_SESSION_NAME", NOTEBOOK)
    return path


@pytest.fixture
def kernel(model_server, log):
    k = magics_kernel(model_server.url, KEY)
    yield k
    k.shutdown()


def run_cell(kernel: Kernel, code: str, cell_id: str) -> list[dict]:
    """Run a cell as JupyterLab would (with a cellId) and wait until every reply it started has ended."""
    msg = kernel.client.session.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                                        "user_expressions": {}, "allow_stdin": False,
                                                        "stop_on_error": True})
    msg["metadata"]["cellId"] = cell_id
    kernel.client.shell_channel.send(msg)
    msg_id = msg["header"]["msg_id"]
    kernel.read_until(lambda: any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                                  and m["parent_header"].get("msg_id") == msg_id for m in kernel.messages))
    kernel.run("from ling_notebook.reply import _running\nfor _r in list(_running): _r.wait(20)\n"
               "import ling_notebook.record; ling_notebook.record.flush()")
    return [m for m in kernel.messages if m["parent_header"].get("msg_id") == msg_id]


def printed(outputs: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")


def test_the_tests_never_write_to_the_users_log(reply_log):
    assert os.environ["LING_LOG"] == reply_log and "ling-notebook" not in reply_log


def test_a_cell_is_recorded_with_its_notebook_cell_and_conversation(kernel, log):
    run_cell(kernel, "%%ling --chat notes\nHello log", "c1")
    (row,) = record.rows(str(log))
    assert (row["notebook"], row["cell"], row["conversation"]) == (NOTEBOOK, "cell:c1", "notes")
    assert row["text"] == "Hello log"
    assert json.loads(row["request"])["messages"] == [{"role": "user", "content": "Hello log"}]
    assert KEY.encode() not in b"".join(p.read_bytes() for p in log.parent.iterdir())


def test_ling_log_says_where_and_turns_the_log_off_and_on(kernel, log, tmp_path):
    assert printed(kernel.run("%ling log")) == f"ling: replies are recorded in {log} (LING_LOG).\n"
    assert printed(kernel.run("%ling log off")) == "ling: replies are not recorded (%ling log on records them).\n"
    run_cell(kernel, "%%ling\nNot recorded", "c1")
    assert not log.exists()
    other = tmp_path / "other.sqlite"
    assert printed(kernel.run(f"%ling log {other}")) == f"ling: replies are recorded in {other} (configured).\n"
    run_cell(kernel, "%%ling\nRecorded", "c2")
    assert [row["text"] for row in record.rows(str(other))] == ["Recorded"]
    outputs = kernel.run("%ling config")
    (table,) = [m["content"]["data"]["text/html"] for m in outputs if m["msg_type"] == "display_data"]
    assert f"<td>log</td><td>{other}</td><td>configured</td>" in table


def test_a_corrupt_log_warns_once_in_the_notebook_and_replies_go_on(kernel, log):
    log.write_bytes(b"not a database " * 100)
    first = run_cell(kernel, "%%ling\nOne", "c1")
    second = run_cell(kernel, "%%ling\nTwo", "c2")
    warnings = [m["content"]["text"] for m in kernel.messages if m["msg_type"] == "stream"
                and "ling: the reply log" in m["content"]["text"]]
    assert len(warnings) == 1 and any(m["msg_type"] == "display_data" for m in first + second)
    with pytest.raises(sqlite3.DatabaseError):
        record.rows(str(log))
