"""The reply log (record.py): every reply that ends becomes one row, secrets never; a log that fails warns once."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from secret_forms import leaked

from ling_notebook import config, record, render
from ling_notebook import reply as reply_module
from ling_notebook.reply import Reply

KEY = "sk-record-Q7'x\"y/z +end&"
HEADER = "hdr-secret-0a1b2c3d"
QUERY = "qry-secret-9f8e7d6c"
STALL = "test/stall?after=2&rate=0"


def ask(server, model: str, prompt: str = "go", log: Path | str = "off", **kwargs) -> Reply:
    settings = config.resolve(base_url=server.url, model=model, api_key="sk-record-test-5150", max_retries=0,
                              log=str(log))
    return Reply([{"role": "user", "content": prompt}], settings, **kwargs)


def until(condition, what: str) -> None:
    """Wait for something the stream thread does (a bound, not a timed assertion)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.005)


def logged(path: Path) -> list[sqlite3.Row]:
    assert record.flush()
    return record.rows(str(path))


def test_every_ending_is_one_row_with_what_arrived(model_server, tmp_path):
    log = tmp_path / "replies.sqlite"
    done = ask(model_server, "test/echo", "hello there", log, params={"temperature": 0.5}).start()
    unstreamed = ask(model_server, "test/echo", "not streamed", log, stream=False).start()
    failed = ask(model_server, "test/error-mid", "fail", log).start()
    for reply in (done, unstreamed, failed):
        reply.wait(10)
    stopped = ask(model_server, STALL, "stop me", log).start()
    until(lambda: stopped.text, "the stalled reply's first words")
    stopped.stop()
    stopped.wait(10)
    never_sent = ask(model_server, "test/echo", "never", log)
    never_sent.stop()

    rows = {row["id"]: row for row in logged(log)}
    assert set(rows) == {r.id for r in (done, unstreamed, failed, stopped, never_sent)}
    row = rows[done.id]
    assert (row["status"], row["text"], row["finish_reason"]) == ("done", "hello there", "stop")
    assert row["model"] == "test/echo"
    assert json.loads(row["request"]) == {"model": "test/echo", "params": {"temperature": 0.5}, "stream": True,
                                          "messages": [{"role": "user", "content": "hello there"}]}
    assert row["server"] == model_server.url and row["version"] and row["time"].endswith("Z")
    assert row["completion_tokens"] == done.usage.completion_tokens and row["ttft"] > 0 and row["duration"] > 0
    assert json.loads(rows[unstreamed.id]["request"])["stream"] is False and rows[unstreamed.id]["ttft"] is None
    assert rows[failed.id]["status"] == "error" and rows[failed.id]["error"] == failed.error and rows[failed.id]["text"]
    assert (rows[stopped.id]["status"], rows[stopped.id]["text"]) == ("stopped", stopped.text) and stopped.text
    assert rows[never_sent.id]["status"] == "stopped" and rows[never_sent.id]["parts"] is None
    with sqlite3.connect(log) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == record.SCHEMA_VERSION



def test_a_text_kept_as_utf8_is_logged_from_the_same_bytes_unless_a_secret_must_go(model_server, tmp_path):
    log = tmp_path / "replies.sqlite"
    prompt = "“quoted” words " * 1500
    plain = ask(model_server, "test/echo", prompt, log).start()
    leaking = ask(model_server, "test/echo", prompt + "sk-record-test-5150", log).start()
    for reply in (plain, leaking):
        until(lambda reply=reply: reply.ended, "the reply's end")  # not wait(), which reads the text as a str
    assert isinstance(plain.kept(), bytes) and isinstance(leaking.kept(), bytes)
    text_at = record._COLUMNS.index("text")
    assert record._row(plain, time.time())[text_at] is plain.kept()  # bound as it is: no second copy
    rows = {row["id"]: row for row in logged(log)}
    assert rows[plain.id]["text"] == plain.text == prompt
    assert rows[leaking.id]["text"] == prompt + "***"


def test_a_reply_counts_as_running_until_its_row_is_on_its_way(model_server, tmp_path, monkeypatch):
    # Whoever waits for the running replies and then flushes the log (the kernel tests' `run_cell`) must find
    # the row of a reply that was ending meanwhile.
    log = tmp_path / "replies.sqlite"
    ending, looked = threading.Event(), threading.Event()
    queue_row = record.ended

    def ended(reply: Reply) -> None:  # the reply's end, stopped just before its row is queued
        ending.set()
        looked.wait(10)
        queue_row(reply)

    monkeypatch.setattr(record, "ended", ended)
    reply = ask(model_server, "test/echo", "still running", log).start()
    assert ending.wait(10)
    try:
        assert reply in list(reply_module._running)
    finally:
        looked.set()
    reply.wait(10)
    assert [row["text"] for row in logged(log)] == ["still running"]

def test_a_reply_counts_as_running_until_its_views_have_published_their_copies(model_server):
    # Whoever waits for the running replies (the kernel tests' `run_cell`, to find each static copy) must not
    # miss a reply that has ended but whose view is still publishing its copy on the end thread.
    publishing, published = threading.Event(), threading.Event()

    class SlowCopy:
        def on_status(self, reply: Reply) -> None: ...
        def on_delta(self, reply: Reply, content: str, reasoning: str) -> None: ...

        def on_end(self, reply: Reply) -> None:
            publishing.set()
            published.wait(10)

    reply = ask(model_server, "test/echo", "copy me")
    reply.add_listener(SlowCopy())
    reply.start()
    assert publishing.wait(10)
    try:
        assert reply.ended and reply in list(reply_module._running)
    finally:
        published.set()
    assert reply.wait(10) == "copy me"
    until(lambda: reply not in list(reply_module._running), "the reply settled")

    # A view attached after the end (a chat box's feed, a second display) counts as well until its copy is out.
    publishing.clear()
    published.clear()
    reply.add_listener(SlowCopy())
    assert publishing.wait(10)
    try:
        assert reply in list(reply_module._running)
    finally:
        published.set()
    until(lambda: reply not in list(reply_module._running), "the late view's copy is out")


def test_a_logged_text_is_stored_as_text_and_leaves_no_utf8_copy_inside_the_reply(model_server, tmp_path):
    # CPython keeps a non-ASCII str's UTF-8 form inside it once a C library asks for it (sys.getsizeof counts
    # it): logging a reply must not make its text carry a second copy for the rest of its life.
    log = tmp_path / "replies.sqlite"
    reply = ask(model_server, "test/echo", "“quoted” — " + "é" * 200, log).start()
    reply.wait(10)
    size = sys.getsizeof(reply.text)
    (row,) = logged(log)
    assert row["text"] == reply.text and sys.getsizeof(reply.text) == size
    with sqlite3.connect(log) as connection:
        assert connection.execute("SELECT typeof(text), typeof(reasoning) FROM replies").fetchone() == ("text", "text")
        assert connection.execute("SELECT count(*) FROM replies WHERE text LIKE '%quoted%'").fetchone()[0] == 1


def test_the_log_is_chosen_or_turned_off_by_setting_environment_and_default(monkeypatch, tmp_path):
    monkeypatch.delenv("LING_LOG")
    monkeypatch.setenv("LING_BASE_URL", "http://127.0.0.1:9/v1")  # no key needed
    assert config.resolve().log == config.DEFAULT_LOG and "ling-notebook" in config.DEFAULT_LOG
    monkeypatch.setenv("LING_LOG", "off")
    assert config.resolve().log == "off"
    monkeypatch.setenv("LING_LOG", str(tmp_path / "a.sqlite"))
    assert config.resolve().log == str(tmp_path / "a.sqlite")
    try:
        config.configure(log=False)
        assert config.resolve().log == "off"
        assert ("log", "off", "configured") in config.describe()
    finally:
        config.configure(log=None)
    assert config.resolve(log="~/b.sqlite").log == os.path.expanduser("~/b.sqlite")


def test_a_reply_with_the_log_off_writes_nothing(model_server, tmp_path):
    ask(model_server, "test/echo").start().wait(10)
    assert record.flush() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spoil", ["read-only folder", "no folder", "corrupt file", "newer schema"])
def test_a_log_that_cannot_be_written_warns_once_and_replies_go_on(model_server, tmp_path, capfd, spoil):
    log = tmp_path / "folder" / "replies.sqlite"
    log.parent.mkdir()
    if spoil == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes in read-only folders")
        log.parent.chmod(0o500)
    elif spoil == "no folder":  # what a read-only folder is to root, who may write in one
        log.parent.rmdir()
        log.parent.write_text("a file where the folder should be")
    elif spoil == "corrupt file":
        log.write_bytes(b"this is not a database, " * 100)
    else:
        with sqlite3.connect(log) as connection:
            connection.execute(f"PRAGMA user_version = {record.SCHEMA_VERSION + 1}")
    try:
        replies = [ask(model_server, "test/echo", f"reply {i}", log).start() for i in range(3)]
        for i, reply in enumerate(replies):
            assert reply.wait(10) == f"reply {i}"
            assert record.flush()
    finally:
        log.parent.chmod(0o700)
    err = capfd.readouterr().err
    assert err.count("ling: the reply log") == 1 and str(log) in err and "replies go on" in err


def test_a_locked_log_warns_and_later_replies_are_written_once_it_is_free(model_server, tmp_path, capfd, monkeypatch):
    log = tmp_path / "replies.sqlite"
    ask(model_server, "test/echo", "first", log).start().wait(10)
    assert len(logged(log)) == 1
    monkeypatch.setattr(record, "BUSY_TIMEOUT", 0.05)
    record._writer._connections.pop(str(log)).close()  # opened again, with the short timeout
    holder = sqlite3.connect(log, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    ask(model_server, "test/echo", "while locked", log).start().wait(10)
    assert record.flush()
    holder.execute("ROLLBACK")
    holder.close()
    ask(model_server, "test/echo", "after", log).start().wait(10)
    assert [row["text"] for row in logged(log)] == ["first", "after"]
    assert capfd.readouterr().err.count("ling: the reply log") == 1


def test_two_processes_writing_one_log_at_once_lose_nothing(model_server, tmp_path):
    log = tmp_path / "replies.sqlite"
    script = textwrap.dedent(f"""
        from ling_notebook import config, record
        from ling_notebook.reply import Reply
        settings = config.resolve(base_url={model_server.url!r}, model="test/echo", log={str(log)!r})
        replies = [Reply([{{"role": "user", "content": f"{{n}}"}}], settings).start() for n in range(50)]
        for reply in replies:
            reply.wait(30)
        assert record.flush(60)
    """)
    kernels = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    assert [kernel.wait(120) for kernel in kernels] == [0, 0]
    rows = record.rows(str(log))
    assert len(rows) == 100 and len({row["id"] for row in rows}) == 100
    assert sorted(row["text"] for row in rows) == sorted([str(n) for n in range(50)] * 2)


def test_no_form_of_any_credential_is_in_the_file(model_server, tmp_path):
    log = tmp_path / "replies.sqlite"
    url = model_server.url.replace("http://", f"http://user:{QUERY}@")
    settings = config.resolve(base_url=url, model="test/echo", api_key=KEY, max_retries=0, log=str(log))
    prompt = f"my key is {KEY} and {json.dumps(KEY)}, header {HEADER}"
    reply = Reply([{"role": "user", "content": prompt}], settings,
                  params={"extra_headers": {"X-Secret": HEADER}, "extra_query": {"token": QUERY}}).start()
    assert reply.wait(10) == prompt  # the model says the key back: the text is redacted too
    assert logged(log)
    written = b"".join(path.read_bytes() for path in tmp_path.iterdir()).decode("utf-8", "replace")
    assert "my key is" in written and "X-Secret" in written
    for secret in (KEY, HEADER, QUERY):
        assert leaked(written, secret) == [], secret



def test_half_a_surrogate_pair_in_a_prompt_is_written_as_a_replacement_character(model_server, tmp_path):
    log = tmp_path / "replies.sqlite"
    ask(model_server, "test/echo", "a\ud83db", log).start().wait(10)
    (row,) = logged(log)
    assert json.loads(row["request"])["messages"][0]["content"] == "a\ufffdb" and row["text"] == "a\ufffdb"


def test_a_replay_answers_a_logged_request_from_the_log_without_sending_it(model_server, tmp_path):
    log = tmp_path / "replies.sqlite"
    first = ask(model_server, "test/reasoning?reasoning=3&tokens=4", "same", log, params={"temperature": 0}).start()
    first.wait(10)
    settings = config.resolve(base_url=model_server.url, model="test/reasoning?reasoning=3&tokens=4",
                              api_key="sk-record-test-5150", max_retries=0, log=str(log), replay=True)
    model_server.clear()
    again = Reply([{"role": "user", "content": "same"}], settings, params={"temperature": 0}).start()
    assert again.wait(10) == first.text and again.reasoning == first.reasoning and again.status == "done"
    assert model_server.requests == [] and again.id == first.id and again.replayed == logged(log)[0]["time"]
    assert (again.usage, again.finish_reason, again.model) == (first.usage, first.finish_reason, first.model)
    assert "replayed from " in render.status_line(again)
    assert len(logged(log)) == 1 and record.provenance(again)["ling_notebook"]["reply"] == first.id

    other = Reply([{"role": "user", "content": "same"}], settings, params={"temperature": 1}).start()
    other.wait(10)  # other options: another request
    failed = ask(model_server, "test/error-mid", "broken", log).start()
    failed.wait(10)
    retried = Reply([{"role": "user", "content": "broken"}], dataclasses.replace(settings, model="test/error-mid"))
    retried.start().wait(10)  # only a complete reply is replayed
    assert len(model_server.requests) == 3 and other.replayed is None and retried.replayed is None


def test_a_reply_with_tool_calls_keeps_them_in_its_row_and_names_its_tools(model_server, tmp_path):
    from ling_notebook.tools import toolbox

    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        return a + b

    log = tmp_path / "replies.sqlite"
    reply = ask(model_server, "test/tools", 'call add {"a": 1, "b": 2}', log, tools=toolbox([add])).start()
    assert reply.wait(10) == "Tool results: add -> 3"
    (row,) = logged(log)
    (call,) = json.loads(row["parts"])
    assert (call["name"], call["arguments"], call["result"], call["state"]) == ("add", '{"a": 1, "b": 2}', "3", "done")
    assert record.provenance(reply)["ling_notebook"]["tools"] == ["add"]
    assert ask(model_server, "test/echo", "no tools", log).start().wait(10) and logged(log)[-1]["parts"] is None


def test_a_turn_with_tool_calls_is_resumed_with_its_calls_and_results(model_server, tmp_path, monkeypatch):
    from ling_notebook.conversation import Conversation
    from ling_notebook.tools import toolbox

    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        return a + b

    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/tools.ipynb")
    log = tmp_path / "replies.sqlite"
    prompt = 'call add {"a": 1, "b": 2}'
    with record.asked_in(conversation="default", cell="cell:c1"):
        reply = ask(model_server, "test/tools", prompt, log, tools=toolbox([add])).start()
    reply.wait(10)
    assert record.flush()
    ((cell, asked, recorded),) = record.read_turns(str(log), "/home/me/tools.ipynb", "default")
    assert (cell, asked, recorded.exchange, recorded.final_text) == ("cell:c1", prompt, reply.exchange,
                                                                     reply.final_text)
    live, resumed = Conversation("default"), Conversation("default")
    live.record("cell:c1", prompt, reply)
    resumed.record(cell, asked, recorded)
    assert resumed.messages_before("cell:c2", "next") == live.messages_before("cell:c2", "next")
