"""The reply log from a notebook's kernel: what `%%ling` records, `%ling log`, and the tests' own log."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from kernel_client import RECORD_KEY, RECORD_NOTEBOOK, Kernel, magics_kernel

from ling_notebook import record


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


def test_a_cell_is_recorded_with_its_notebook_cell_and_conversation(record_kernel, record_log):
    run_cell(record_kernel, "%%ling --chat notes\nHello log", "c1")
    (row,) = record.rows(str(record_log))
    assert (row["notebook"], row["cell"], row["conversation"]) == (RECORD_NOTEBOOK, "cell:c1", "notes")
    assert row["text"] == "Hello log"
    assert json.loads(row["request"])["messages"] == [{"role": "user", "content": "Hello log"}]
    assert RECORD_KEY.encode() not in b"".join(p.read_bytes() for p in record_log.parent.iterdir())


def test_ling_log_says_where_and_turns_the_log_off_and_on(record_kernel, record_log, tmp_path):
    assert printed(record_kernel.run("%ling log")) == f"ling: replies are recorded in {record_log} (LING_LOG).\n"
    assert (printed(record_kernel.run("%ling log off"))
            == "ling: replies are not recorded (%ling log on records them).\n")
    run_cell(record_kernel, "%%ling\nNot recorded", "c1")
    assert not record_log.exists()
    other = tmp_path / "other.sqlite"
    assert printed(record_kernel.run(f"%ling log {other}")) == f"ling: replies are recorded in {other} (configured).\n"
    run_cell(record_kernel, "%%ling\nRecorded", "c2")
    assert [row["text"] for row in record.rows(str(other))] == ["Recorded"]
    outputs = record_kernel.run("%ling config")
    (table,) = [m["content"]["data"]["text/html"] for m in outputs if m["msg_type"] == "display_data"]
    assert f"<td>log</td><td>{other}</td><td>configured</td>" in table


def test_a_corrupt_log_warns_once_in_the_notebook_and_replies_go_on(record_kernel, record_log):
    record_log.write_bytes(b"not a database " * 100)
    first = run_cell(record_kernel, "%%ling\nOne", "c1")
    second = run_cell(record_kernel, "%%ling\nTwo", "c2")
    warnings = [m["content"]["text"] for m in record_kernel.messages if m["msg_type"] == "stream"
                and "ling: the reply log" in m["content"]["text"]]
    assert len(warnings) == 1 and any(m["msg_type"] == "display_data" for m in first + second)
    with pytest.raises(sqlite3.DatabaseError):
        record.rows(str(record_log))


def final_metadata(kernel: Kernel, outputs: list[dict]) -> list[dict]:
    """The provenance of the static copies that replaced a cell's outputs (update_display may come on
    another thread's parent message: it is found by display id)."""
    ids = {m["content"].get("transient", {}).get("display_id") for m in outputs if m["msg_type"] == "display_data"}
    return [m["content"]["metadata"]["ling_notebook"] for m in kernel.messages
            if m["msg_type"] == "update_display_data" and m["content"]["transient"]["display_id"] in ids]


def test_each_static_copy_carries_its_provenance_but_no_key_nor_message(record_kernel, record_log):
    outputs = run_cell(record_kernel,
                       '%%ling --chat notes -t 0.3 --extra \'{"extra_headers": {"X-Token": "hdr-5ecret-77"}}\''
                       "\nSecret prompt text", "c1")
    (facts,) = final_metadata(record_kernel, outputs)
    (row,) = record.rows(str(record_log))
    assert facts["reply"] == row["id"] and facts["model"] == "test/echo" and facts["status"] == "done"
    assert facts["params"] == {"temperature": 0.3, "extra_headers": {"X-Token": "***"}}
    assert facts["usage"]["completion_tokens"] > 0 and facts["finish_reason"] == "stop"
    assert facts["conversation"] == "notes" and facts["tools"] == [] and facts["version"] == ling_version()
    assert facts["ttft"] > 0 and facts["duration"] >= facts["ttft"] and facts["time"].endswith("Z")
    # The reply's own Markdown rides along for the extension's Copy (test/echo answers with the prompt);
    # nothing else holds a message.
    assert facts["markdown"] == ["Secret prompt text"]
    shown = json.dumps({name: value for name, value in facts.items() if name != "markdown"})
    assert "Secret prompt" not in shown
    assert RECORD_KEY not in json.dumps(facts) and "hdr-5ecret" not in json.dumps(facts)

    outputs = run_cell(record_kernel, "%%ling -m test/echo -m 'test/trickle?tokens=3&rate=0'\nCompare", "c2")
    (facts,) = final_metadata(record_kernel, outputs)
    assert [column["model"] for column in facts["comparison"]] == ["test/echo", "test/trickle?tokens=3&rate=0"]
    assert all(column["status"] == "done" for column in facts["comparison"])

    outputs = run_cell(record_kernel,
                       "items = ['a', 'b', 'c']\nb = ling_notebook.batch('Say {item}', data=items)\nb.wait(20)", "c3")
    (facts,) = final_metadata(record_kernel, outputs)
    assert (facts["batch"], facts["model"], facts["counts"]["done"], facts["status"]) == (3, "test/echo", 3, "done")


def ling_version() -> str:
    from ling_notebook import __version__

    return __version__


def test_a_notebook_saved_after_a_run_keeps_the_provenance(model_server, record_log, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("LING_BASE_URL", model_server.url)
    monkeypatch.setenv("LING_MODEL", "test/echo")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%load_ext ling_notebook"),
                                         nbformat.v4.new_code_cell("%%ling -o r\nSaved with its provenance"),
                                         nbformat.v4.new_code_cell("r.wait(20);")])
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.write(nb, tmp_path / "run.ipynb")
    (output,) = nbformat.read(tmp_path / "run.ipynb", as_version=4).cells[1].outputs  # the static copy
    facts = output["metadata"]["ling_notebook"]
    assert "Saved with its provenance" in output["data"]["text/html"]
    assert (facts["model"], facts["status"], facts["conversation"]) == ("test/echo", "done", "default")
    assert facts["reply"] in {row["id"] for row in record.rows(str(record_log))}


def sent(server) -> list[list[dict]]:
    return [r.body["messages"] for r in server.requests if r.path.endswith("/chat/completions")]


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def restarted(kernel: Kernel, model_server) -> Kernel:
    kernel.shutdown()
    return magics_kernel(model_server.url, RECORD_KEY)


def test_after_a_restart_a_cell_continues_the_conversation_the_notebook_shows(record_kernel, model_server, record_log):
    for cell_id, prompt in (("c1", "One"), ("c2", "Two"), ("c3", "Three")):
        run_cell(record_kernel, f"%%ling\n{prompt}", cell_id)
    run_cell(record_kernel, "%%ling --chat other\nElsewhere", "c9")
    record_kernel = restarted(record_kernel, model_server)
    try:
        # A chat box on a conversation resumed from the log shows its earlier turn.
        shown = run_cell(record_kernel, "import ling_notebook\nling_notebook.chat('other')", "c8")
        assert not [m for m in shown if m["msg_type"] == "error"]
        (box,) = [m["content"] for m in shown if m["msg_type"] == "display_data"]
        assert "Elsewhere" in box["data"]["text/plain"]
        model_server.clear()
        outputs = run_cell(record_kernel, "%%ling\nThree again", "c3")  # only the last cell is run again
        assert sent(model_server) == [
            [user("One"), assistant("One"), user("Two"), assistant("Two"), user("Three again")]]
        assert "continues 3 earlier turn(s) of conversation 'default'" in printed(outputs)
        model_server.clear()
        run_cell(record_kernel, "%%ling\nFour", "c4")  # a new cell follows the turn that replaced c3's
        assert sent(model_server)[0][-3:] == [user("Three again"), assistant("Three again"), user("Four")]
        model_server.clear()
        run_cell(record_kernel, "%%ling --new\nFresh", "c5")
        assert sent(model_server) == [[user("Fresh")]]
        record_kernel = restarted(record_kernel, model_server)  # --new holds after a restart too
        model_server.clear()
        run_cell(record_kernel, "%%ling\nAfter", "c6")
        assert sent(model_server) == [[user("Fresh"), assistant("Fresh"), user("After")]]
        record_kernel.run("%ling reset")
        record_kernel = restarted(record_kernel, model_server)
        model_server.clear()
        run_cell(record_kernel, "%%ling\nAlone", "c7")
        assert sent(model_server) == [[user("Alone")]]
    finally:
        record_kernel.shutdown()


def test_without_the_notebooks_path_nothing_is_resumed_and_history_says_why(model_server, record_log, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME")
    kernel = magics_kernel(model_server.url, RECORD_KEY)
    try:
        run_cell(kernel, "%%ling\nOne", "c1")
        kernel = restarted(kernel, model_server)
        assert "does not know this notebook's path" in printed(kernel.run("%ling history"))
        model_server.clear()
        run_cell(kernel, "%%ling\nTwo", "c2")
        assert sent(model_server) == [[user("Two")]]
    finally:
        kernel.shutdown()


def test_usage_adds_up_requests_and_tokens_per_model_in_the_session_and_the_log(record_kernel, model_server,
                                                                                record_log):
    run_cell(record_kernel, "%%ling\nOne two three four", "c1")
    run_cell(record_kernel, "%%ling -m 'test/length?tokens=3' --chat side\nX", "c2")
    (first, second) = record.rows(str(record_log))
    outputs = record_kernel.run("%ling usage")
    (html,) = [m["content"]["data"]["text/html"] for m in outputs if m["msg_type"] == "display_data"]
    session, logged = html.split("The reply log (")
    assert (f"<td>test/echo</td><td>1</td><td>{first['prompt_tokens']}</td><td>{first['completion_tokens']}</td>"
            in session and "<td>test/length?tokens=3</td><td>1</td>" in session)
    day = first["time"][:10]
    assert f"<td>{day}</td><td>test/echo</td><td>default</td><td>1</td>" in logged
    assert f"<td>{day}</td><td>test/length?tokens=3</td><td>side</td><td>1</td>" in logged
    outputs = record_kernel.run("%ling usage --since 2999-01-01 --notebook")
    (html,) = [m["content"]["data"]["text/html"] for m in outputs if m["msg_type"] == "display_data"]
    assert "since 2999-01-01, this notebook" in html and "<td>default</td>" not in html.split("The reply log")[1]
    assert "--since takes a date" in "".join(m["content"]["text"] for m in record_kernel.run("%ling usage --since May")
                                             if m["msg_type"] == "stream")


def test_run_all_with_replay_after_a_restart_sends_nothing_and_shows_the_same_replies(record_kernel, model_server,
                                                                                      record_log):
    for cell_id, prompt in (("c1", "One"), ("c2", "Two")):
        run_cell(record_kernel, f"%%ling\n{prompt}", cell_id)
    record_kernel = restarted(record_kernel, model_server)
    try:
        record_kernel.run("ling_notebook.configure(replay=True)")
        model_server.clear()
        again = [run_cell(record_kernel, f"%%ling\n{prompt}", cell_id)
                 for cell_id, prompt in (("c1", "One"), ("c2", "Two"))]
        assert model_server.requests == []
        copies = [final_metadata(record_kernel, outputs) for outputs in again]
        assert [facts["reply"] for (facts,) in copies] == [row["id"] for row in record.rows(str(record_log))]
        assert all(facts["replayed_from"] and facts["model"] == "test/echo" for (facts,) in copies)
        html = [m["content"]["data"]["text/html"] for m in record_kernel.messages
                if m["msg_type"] == "update_display_data"]
        assert len(html) == 2 and all("replayed from " in page for page in html) and "Two" in html[1]
    finally:
        record_kernel.shutdown()
