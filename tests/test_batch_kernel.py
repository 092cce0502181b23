"""Batches in a real kernel against the built-in server: order, the concurrency limit, failures, Stop all,
Retry, pandas alignment, the --batch magic, and what reaches the browser (one widget, then a summary)."""

from __future__ import annotations

import os
import time

import pytest
from kernel_client import Kernel

from ling_notebook.server.records import peak_open


@pytest.fixture(scope="module")
def kernel(model_server):
    env = {**os.environ, "LING_BASE_URL": model_server.url, "LING_MODEL": "test/echo"}
    env.pop("LING_API_KEY", None)
    k = Kernel(env=env)
    k.run("%load_ext ling_notebook\nimport ling_notebook, pandas as pd")
    yield k
    k.shutdown()


@pytest.fixture
def server(model_server, kernel):
    model_server.clear()
    kernel.messages.clear()
    return model_server


def chats(server) -> list:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def batch_widgets(kernel: Kernel) -> list[str]:
    """The batch progress widgets the kernel opened (each anywidget also opens a layout model)."""
    return [m["content"]["comm_id"] for m in kernel.messages if m["msg_type"] == "comm_open"
            and m["content"]["data"]["state"].get("_anywidget_id", "").endswith("BatchWidget")]


def test_results_come_in_input_order_exactly_and_never_more_than_concurrency_requests_are_open(kernel, server):
    # Longer prompts take longer to echo, so replies end out of input order.
    kernel.run("prompts = [('word ' * (1 + (i * 7) % 13)).strip() + f' #{i}' for i in range(30)]\n"
               "b = ling_notebook.batch(prompts, model='test/echo?rate=300', concurrency=4)")
    assert kernel.value("b.wait(60) == prompts")
    assert kernel.value("[b.status, b.counts, b.errors]") == [
        "done", {"done": 30, "failed": 0, "running": 0, "queued": 0, "stopped": 0}, {}]
    records = chats(server)
    # Never more than the limit; more than one at a time (how many overlap depends on the machine's load).
    assert len(records) == 30 and 1 < peak_open(records) <= 4
    ends = [r.finished_at for r in sorted(records, key=lambda r: r.started_at)]
    assert ends != sorted(ends), "replies should have ended out of order for this test to mean something"
    assert all(r.body["messages"] == [{"role": "user", "content": r.body["messages"][-1]["content"]}]
               for r in records), "each item is one user message: no history"


def test_failed_items_carry_their_errors_and_the_rest_complete(kernel, server):
    kernel.run("b = ling_notebook.batch(['one', 'fail two', 'three', 'fail four'], model='test/picky?status=400',"
               " system='Be brief.', concurrency=2, retries=0)\nb.wait(30)")
    assert kernel.value("b.results") == ["one", None, "three", None]
    errors = kernel.value("{str(k): v for k, v in b.errors.items()}")
    assert set(errors) == {"1", "3"} and all("HTTP 400" in e for e in errors.values())
    assert kernel.value("[b.status, b.counts['done'], b.counts['failed']]") == ["partial", 2, 2]
    assert chats(server)[0].body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_a_429_is_retried_after_the_servers_retry_after(kernel, server):
    kernel.run("b = ling_notebook.batch(['a', 'b'], model='test/flaky?after=1', concurrency=2)\nb.wait(30)")
    assert kernel.value("b.results") == ["a", "b"]
    by_prompt: dict[str, list] = {}
    for r in chats(server):
        by_prompt.setdefault(r.body["messages"][-1]["content"], []).append(r)
    for first, second in by_prompt.values():
        assert second.started_at - first.finished_at >= 0.9  # retry-after: 1 was honoured


def test_stop_closes_every_open_connection_and_starts_nothing_more(kernel, server):
    kernel.run("b = ling_notebook.batch([f'p{i}' for i in range(20)], model='test/trickle?tokens=400&rate=20',"
               " concurrency=4)")
    deadline = time.monotonic() + 10
    while sum(r.chunks_sent > 1 for r in chats(server)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    kernel.run("b.stop()\nb.wait(10)")
    open_ones = chats(server)
    assert len(open_ones) == 4
    deadline = time.monotonic() + 5
    while not all(r.disconnected_at for r in chats(server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(r.disconnected_at and not r.completed for r in chats(server))
    assert kernel.value("[b.status, b.counts]") == [
        "stopped", {"done": 0, "failed": 0, "running": 0, "queued": 16, "stopped": 4}]
    time.sleep(0.5)
    assert len(chats(server)) == 4, "no queued item may start after Stop all"
    assert kernel.value("b.results") == [None] * 20
    assert kernel.value("[len(r.text) > 0 for r in b.replies[:20] if r is not None]") == [True] * 4


def test_retry_completes_the_failed_items_in_the_same_batch(kernel, server):
    kernel.run("b = ling_notebook.batch(['ok 1', 'fail 2', 'ok 3'], model='test/picky?status=400&fails=1',"
               " retries=0)\nb.wait(30)")
    assert kernel.value("[b.results, b.status]") == [["ok 1", None, "ok 3"], "partial"]
    kernel.run("b.retry().wait(30)")
    assert kernel.value("[b.results, b.status, b.errors]") == [["ok 1", "fail 2", "ok 3"], "done", {}]
    assert len(chats(server)) == 4  # only the failed item was sent again


def test_to_pandas_is_aligned_with_the_dataframes_index(kernel, server):
    kernel.run("df = pd.DataFrame({'review': ['good', 'bad', 'fail meh']}, index=['x', 'y', 'z'])\n"
               "b = ling_notebook.batch('Review: {review}', data=df, model='test/picky?status=400', retries=0)\n"
               "b.wait(30)\nframe = b.to_pandas()\ndf['answer'] = b.results")
    assert kernel.value("list(frame.index)") == ["x", "y", "z"]
    assert kernel.value("frame['text'].tolist()[:2]") == ["Review: good", "Review: bad"]
    assert kernel.value("frame['status'].tolist()") == ["done", "done", "failed"]
    assert kernel.value("frame['error'].notna().tolist()") == [False, False, True]
    assert kernel.value("[int(x) for x in frame['completion_tokens'][:2]]") == [3, 3]
    assert kernel.value("df['answer'].tolist()[:2]") == ["Review: good", "Review: bad"]
    assert kernel.value("df['answer'].isna().tolist()") == [False, False, True]


def test_the_magic_fills_item_for_a_list_and_columns_for_rows(kernel, server):
    kernel.run("questions = ['sky', 'sea']; tone = 'short'")
    kernel.run("%%ling --batch questions --concurrency 2 -o b1\nAnswer ({tone}) about {item}; keep `{item}`")
    assert kernel.value("b1.wait(30)") == ["Answer (short) about sky; keep `{item}`",
                                           "Answer (short) about sea; keep `{item}`"]
    kernel.run("rows = [{'name': 'Ada', 'age': 36}, {'name': 'Alan', 'age': 41}]")
    kernel.run('%%ling --batch rows -s "Be kind." -o b2\n{name} is {age}')
    assert kernel.value("b2.wait(30)") == ["Ada is 36", "Alan is 41"]
    assert kernel.value("type(b2).__name__") == "Batch"
    assert all(r.body["messages"][0]["content"] == "Be kind." for r in chats(server)[-2:])


def test_the_magic_explains_a_missing_column_and_sends_nothing(kernel, server):
    outputs = kernel.run("%%ling --batch rows\n{nme} is here")
    err = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert "ling: Row 0: name 'nme' is not defined" in err and "Each row has: name, age" in err
    assert chats(server) == []


def test_one_widget_for_the_whole_batch_then_a_static_sanitized_summary(kernel, server):
    kernel.run("hostile = ['<img src=x onerror=alert(1)>'] + [f'item {i}' for i in range(49)]\n"
               "b = ling_notebook.batch(hostile, concurrency=8)\nb.wait(30)")
    (comm,) = batch_widgets(kernel)
    state = kernel.state(comm)
    assert state["progress"]["counts"]["done"] == 50
    (summary,) = [d["data"] for d in kernel.displays() if "text/html" in d["data"]]
    assert "text/markdown" not in summary
    html = summary["text/html"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "50 done" in html and "item 8" in html and "and 40 more items" in html


def test_stop_all_from_the_view(kernel, server):
    kernel.run("b = ling_notebook.batch([f'p{i}' for i in range(6)], model='test/trickle?tokens=400&rate=20',"
               " concurrency=2)")
    (comm,) = batch_widgets(kernel)
    server.wait_for(lambda r: r.chunks_sent > 1, timeout=10)
    kernel.send_to_widget(comm, {"type": "stop"})
    kernel.run("b.wait(10)")
    assert kernel.value("[b.status, b.counts['stopped'], b.counts['queued']]") == ["stopped", 2, 4]
    assert len(chats(server)) == 2


def test_retry_failed_from_the_view_requeues_them_while_the_batch_runs(kernel, server):
    kernel.run("slow = 'ok ' * 150\n"
               "b = ling_notebook.batch(['fail 1', 'fail 2', slow, slow + '!'], concurrency=4, retries=0,"
               " model='test/picky?status=400&fails=1&rate=50')\n"
               "import time\nwhile b.counts['failed'] < 2: time.sleep(0.02)")
    (comm,) = batch_widgets(kernel)
    kernel.send_to_widget(comm, {"type": "retry"})
    assert kernel.value("b.wait(30)[:2]") == ["fail 1", "fail 2"]
    assert kernel.value("[b.status, b.counts['done'], b.errors]") == ["done", 4, {}]
    assert len(chats(server)) == 6 and batch_widgets(kernel) == [comm]


def test_retry_after_the_end_shows_a_new_live_view_where_it_is_called_and_the_failure_stays(kernel, server):
    first = kernel.run("b = ling_notebook.batch(['fail 1', 'ok'], model='test/picky?status=400&fails=1', "
                       "retries=0)\nb.wait(30)")
    kernel.messages.clear()
    again = kernel.run("b.retry().wait(30)")
    assert kernel.value("[b.status, b.results]") == ["done", ["fail 1", "ok"]]
    (old_id,) = {m["content"]["transient"]["display_id"] for m in first if m["msg_type"] == "display_data"}
    (new_id,) = {m["content"]["transient"]["display_id"] for m in again if m["msg_type"] == "display_data"}
    assert new_id != old_id, "the retry's live view is a new output in the cell that calls retry()"
    assert len(batch_widgets(kernel)) == 1
    assert kernel.displays(old_id) == [], "the earlier summary, with its failure, is left as it was"
    (earlier,) = [m["content"]["data"]["text/html"] for m in first if m["msg_type"] == "update_display_data"]
    assert "1 failed" in earlier and "HTTP 400" in earlier
    assert "2 done" in kernel.displays(new_id)[-1]["data"]["text/html"]


def test_a_batch_where_every_item_failed_is_failed(kernel, server):
    kernel.run("b = ling_notebook.batch(['fail 1', 'fail 2'], model='test/picky?status=400', retries=0)\nb.wait(30)")
    assert kernel.value("b.status") == "failed"
    (summary,) = [d["data"]["text/html"] for d in kernel.displays() if "text/html" in d["data"]]
    assert "· failed</p>" in summary and "partial" not in summary


def test_one_status_word_and_one_missing_value_marker_after_stop_all(kernel, server):
    kernel.run("b = ling_notebook.batch([f'p{i}' for i in range(4)], model='test/trickle?tokens=400&rate=20',"
               " concurrency=1)")
    server.wait_for(lambda r: r.chunks_sent > 1, timeout=10)
    kernel.run("b.stop()\nb.wait(10)\nframe = b.to_pandas()")
    assert kernel.value("b.counts") == {"done": 0, "failed": 0, "running": 0, "queued": 3, "stopped": 1}
    assert kernel.value("frame['status'].tolist()") == ["stopped", "queued", "queued", "queued"]
    (summary,) = [d["data"]["text/html"] for d in kernel.displays() if "text/html" in d["data"]]
    assert "3 queued" in summary and "not run" not in summary and summary.count("<td>queued</td>") == 3
    # Every missing value is pd.NA, in every column: no None, no NaN.
    assert kernel.value("sorted({type(x).__name__ for c in frame for x in frame[c] if pd.isna(x)})") == ["NAType"]
    assert kernel.value("[str(t) for t in frame.dtypes]") == ["string", "string", "string", "Int64", "Int64",
                                                             "string"]


def test_the_summary_shows_readable_excerpts_of_markdown_answers(kernel, server):
    kernel.run("b = ling_notebook.batch(['What is a tide pool?', 'Why is the sky blue?'],"
               " model='ling-offline-demo')\nb.wait(30)")
    (summary,) = [d["data"]["text/html"] for d in kernel.displays() if "text/html" in d["data"]]
    answers = summary.split("<tbody>")[1]
    assert "A demo answer about “What is a tide pool?”." in answers
    assert not any(marker in answers for marker in ("##", "**", "*Offline", "`", "| ---"))


def test_runs_of_a_batch_leave_no_model_of_their_own_open(kernel, server):
    kernel.run("ling_notebook.batch(['first'], model='test/echo').wait(10)")  # our shared Layout exists now
    kernel.messages.clear()
    kernel.run("b = ling_notebook.batch(['fail 1', 'ok'], model='test/picky?status=400&fails=1', retries=0)\n"
               "b.wait(30)\nb.retry().wait(30)")
    opened = [m["content"] for m in kernel.messages if m["msg_type"] == "comm_open"]
    assert [c["data"]["state"]["_model_name"] for c in opened] == ["AnyModel", "AnyModel"]  # one per run
    closed = {m["content"]["comm_id"] for m in kernel.messages if m["msg_type"] == "comm_close"}
    assert {c["comm_id"] for c in opened} <= closed  # each closed at the end of its run


def test_retry_with_nothing_to_run_again_shows_no_view(kernel, server):
    kernel.run("b = ling_notebook.batch(['ok'], model='test/echo')\nb.wait(30)")
    kernel.messages.clear()
    again = kernel.run("b.retry() is b")
    assert not [m for m in again if m["msg_type"] in ("display_data", "comm_open")]
    assert kernel.value("b.status") == "done" and batch_widgets(kernel) == []
