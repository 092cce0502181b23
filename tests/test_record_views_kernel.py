"""What the reply log adds to what a notebook shows: costs in `%ling usage`, "continues N earlier turns"."""

from __future__ import annotations

from decimal import Decimal

from kernel_client import RECORD_KEY, magics_kernel
from test_record_kernel import run_cell

from ling_notebook import record
from ling_notebook.cost import money

PRICES = '{"test/echo": {"input": 0.25, "output": 2}}'


def html_of(outputs: list[dict]) -> str:
    (html,) = [m["content"]["data"]["text/html"] for m in outputs if m["msg_type"] == "display_data"]
    return html


def test_usage_shows_what_the_session_and_the_log_cost_when_prices_are_set(record_kernel, record_log):
    run_cell(record_kernel, "%%ling\nOne two three four", "c1")
    run_cell(record_kernel, "%%ling\nFive six", "c2")
    run_cell(record_kernel, "%%ling -m 'test/length?tokens=3' --chat side\nX", "c3")
    unpriced = html_of(record_kernel.run("%ling usage"))
    assert "cost" not in unpriced

    record_kernel.run(f"ling_notebook.configure(prices={PRICES})")
    rows = record.rows(str(record_log))
    echo = [row for row in rows if row["model"] == "test/echo"]
    spent = sum(Decimal(row["prompt_tokens"]) / 4 + 2 * row["completion_tokens"] for row in echo) / 1_000_000
    prompt, completion = (sum(row[name] for row in echo) for name in ("prompt_tokens", "completion_tokens"))
    session, logged = html_of(record_kernel.run("%ling usage")).split("The reply log (")
    assert "<th>cost</th>" in session and "<th>cost</th>" in logged
    assert f"<td>test/echo</td><td>2</td><td>{prompt}</td><td>{completion}</td><td>{money(spent)}</td>" in session
    assert "<td>test/length?tokens=3</td><td>1</td><td>1</td><td>3</td><td>–</td>" in session  # no price
    # A total row: every request and token, and what the priced models cost.
    assert f"<td>total</td><td>3</td><td>{prompt + 1}</td><td>{completion + 3}</td></tr>" in unpriced
    assert (f"<td>total</td><td>3</td><td>{prompt + 1}</td><td>{completion + 3}</td>"
            f"<td>{money(spent)} (priced models only)</td>") in session
    assert (f"<td>total</td><td></td><td></td><td>3</td><td>{prompt + 1}</td><td>{completion + 3}</td>"
            f"<td>{money(spent)} (priced models only)</td>") in logged
    day = rows[0]["time"][:10]
    assert (f"<td>{day}</td><td>test/echo</td><td>default</td><td>2</td><td>{prompt}</td><td>{completion}</td>"
            f"<td>{money(spent)}</td>") in logged
    session, logged = html_of(record_kernel.run(f"%ling usage --since {day} --notebook")).split("The reply log (")
    assert "this notebook" in logged and f"<td>{money(spent)}</td>" in logged


def test_the_first_cell_after_a_restart_says_it_continues_the_earlier_turns(record_kernel, model_server, record_log):
    for cell_id, prompt in (("c1", "One"), ("c2", "Two")):
        run_cell(record_kernel, f"%%ling\n{prompt}", cell_id)
    record_kernel.shutdown()
    record_kernel = magics_kernel(model_server.url, RECORD_KEY)
    try:
        record_kernel.messages.clear()
        run_cell(record_kernel, "%%ling\nThree", "c3")
        (opened,) = [m for m in record_kernel.messages if m["msg_type"] == "comm_open"
                     and "notes" in m["content"]["data"]["state"]]
        assert opened["content"]["data"]["state"]["notes"] == ["continues 2 earlier turns"]  # the live view's
        copies = [m["content"]["data"]["text/html"] for m in record_kernel.messages
                  if m["msg_type"] == "update_display_data"]
        assert len(copies) == 1 and "finish: stop · continues 2 earlier turns</span>" in copies[0]
        record_kernel.messages.clear()
        run_cell(record_kernel, "%%ling\nFour", "c4")  # only the cell that resumed says so
        copies = [m["content"]["data"]["text/html"] for m in record_kernel.messages
                  if m["msg_type"] == "update_display_data"]
        assert len(copies) == 1 and "earlier turn" not in copies[0]
    finally:
        record_kernel.shutdown()
