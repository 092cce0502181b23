"""What the reply log adds to what a notebook shows: costs in `%ling usage`, "continues N earlier turns"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from kernel_client import magics_kernel
from test_record_kernel import KEY, NOTEBOOK, run_cell

from ling_notebook import record
from ling_notebook.cost import money

PRICES = '{"test/echo": {"input": 0.25, "output": 2}}'


@pytest.fixture
def log(tmp_path, monkeypatch):
    path = tmp_path / "replies.sqlite"
    monkeypatch.setenv("LING_LOG", str(path))
    monkeypatch.setenv("JPY_SESSION_NAME", NOTEBOOK)
    return path


@pytest.fixture
def kernel(model_server, log):
    k = magics_kernel(model_server.url, KEY)
    yield k
    k.shutdown()


def html_of(outputs: list[dict]) -> str:
    (html,) = [m["content"]["data"]["text/html"] for m in outputs if m["msg_type"] == "display_data"]
    return html


def test_usage_shows_what_the_session_and_the_log_cost_when_prices_are_set(kernel, log):
    run_cell(kernel, "%%ling\nOne two three four", "c1")
    run_cell(kernel, "%%ling\nFive six", "c2")
    run_cell(kernel, "%%ling -m 'test/length?tokens=3' --chat side\nX", "c3")
    assert "cost" not in html_of(kernel.run("%ling usage"))

    kernel.run(f"ling_notebook.configure(prices={PRICES})")
    rows = record.rows(str(log))
    echo = [row for row in rows if row["model"] == "test/echo"]
    spent = sum(Decimal(row["prompt_tokens"]) / 4 + 2 * row["completion_tokens"] for row in echo) / 1_000_000
    prompt, completion = (sum(row[name] for row in echo) for name in ("prompt_tokens", "completion_tokens"))
    session, logged = html_of(kernel.run("%ling usage")).split("The reply log (")
    assert "<th>cost</th>" in session and "<th>cost</th>" in logged
    assert f"<td>test/echo</td><td>2</td><td>{prompt}</td><td>{completion}</td><td>{money(spent)}</td>" in session
    assert "<td>test/length?tokens=3</td><td>1</td><td>1</td><td>3</td><td>–</td>" in session  # no price
    day = rows[0]["time"][:10]
    assert (f"<td>{day}</td><td>test/echo</td><td>default</td><td>2</td><td>{prompt}</td><td>{completion}</td>"
            f"<td>{money(spent)}</td>") in logged
    session, logged = html_of(kernel.run(f"%ling usage --since {day} --notebook")).split("The reply log (")
    assert "this notebook" in logged and f"<td>{money(spent)}</td>" in logged


def test_the_first_cell_after_a_restart_says_it_continues_the_earlier_turns(kernel, model_server, log):
    for cell_id, prompt in (("c1", "One"), ("c2", "Two")):
        run_cell(kernel, f"%%ling\n{prompt}", cell_id)
    kernel.shutdown()
    kernel = magics_kernel(model_server.url, KEY)
    try:
        kernel.messages.clear()
        run_cell(kernel, "%%ling\nThree", "c3")
        (opened,) = [m for m in kernel.messages if m["msg_type"] == "comm_open"
                     and "notes" in m["content"]["data"]["state"]]
        assert opened["content"]["data"]["state"]["notes"] == ["continues 2 earlier turns"]  # the live view's
        copies = [m["content"]["data"]["text/html"] for m in kernel.messages if m["msg_type"] == "update_display_data"]
        assert len(copies) == 1 and "finish: stop · continues 2 earlier turns</span>" in copies[0]
        kernel.messages.clear()
        run_cell(kernel, "%%ling\nFour", "c4")  # only the cell that resumed says so
        copies = [m["content"]["data"]["text/html"] for m in kernel.messages if m["msg_type"] == "update_display_data"]
        assert len(copies) == 1 and "earlier turn" not in copies[0]
    finally:
        kernel.shutdown()
