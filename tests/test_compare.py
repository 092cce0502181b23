"""`ling_notebook.compare` outside Jupyter: the `Comparison` object, and the printout in a terminal."""

from __future__ import annotations

import asyncio
import signal

import pytest
from test_terminal import run_python

import ling_notebook
from ling_notebook import Comparison, ConfigurationError

WORDS = "".join(f" w{i}" for i in range(1, 31))


@pytest.fixture
def server(model_server, monkeypatch):
    monkeypatch.setenv("LING_BASE_URL", model_server.url)
    model_server.clear()
    return model_server


def test_a_comparison_is_a_sequence_of_replies_in_the_order_of_the_models(server, capsys):
    models = ["test/echo", "test/flood?tokens=30&rate=0", "test/http-404"]
    cmp = ling_notebook.compare("same prompt", models=models, temperature=0.4, max_tokens=64)
    assert isinstance(cmp, Comparison) and len(cmp) == 3 and cmp.models == models
    assert [r.model for r in cmp] == models and cmp.replies == list(cmp) and cmp[1] is cmp.replies[1]
    assert cmp.wait(timeout=30) == ["same prompt", WORDS, ""]
    assert asyncio.run(_awaited(cmp)) == ["same prompt", WORDS, ""]
    assert [r.status for r in cmp] == ["done", "done", "error"] and cmp.status == "partial"
    bodies = sorted((r.body for r in server.requests), key=lambda b: models.index(b["model"]))
    assert [b["model"] for b in bodies] == models
    for body in bodies:
        rest = {k: v for k, v in body.items() if k != "model"}
        assert rest == {k: v for k, v in bodies[0].items() if k != "model"}
        assert body["messages"] == [{"role": "user", "content": "same prompt"}] and body["temperature"] == 0.4


async def _awaited(cmp: Comparison) -> list[str]:
    return await cmp


def test_status_is_done_only_when_every_reply_is_done(server, capsys):
    cmp = ling_notebook.compare("hi", models=["test/echo", "test/echo"], system="Be brief.")
    assert cmp.status == "done" and cmp.wait() == ["hi", "hi"]
    assert server.requests[0].body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_the_terminal_gets_each_reply_under_its_model_then_the_summary(server, capsys):
    ling_notebook.compare("hello there", models=["test/echo", "test/length?tokens=3"])
    out = capsys.readouterr().out
    assert out.index("=== test/echo ===\nhello there") < out.index("=== test/length?tokens=3 ===\n w1 w2 w3")
    table = out[out.index("model "):].splitlines()
    assert table[0].split() == ["model", "TTFT", "tokens/s", "prompt", "tokens", "completion", "tokens",
                                "finish", "elapsed"]
    assert table[2].startswith("test/echo") and " stop " in table[2]
    assert table[3].startswith("test/length?tokens=3") and " length " in table[3]


def test_no_stream_sends_plain_requests(server, capsys):
    cmp = ling_notebook.compare("hi", models=["test/echo", "test/echo"], stream=False)
    assert cmp.wait() == ["hi", "hi"] and all(r.body["stream"] is False for r in server.requests)


@pytest.mark.parametrize("models", [["test/echo"], [f"m{i}" for i in range(7)], "test/echo"])
def test_two_to_six_models(models, server):
    with pytest.raises(ConfigurationError, match="models"):
        ling_notebook.compare("hi", models=models)
    assert server.requests == []


def test_ctrl_c_stops_every_reply_and_prints_what_arrived(model_server):
    model_server.clear()
    script = ("import threading, time, ling_notebook\n"
              "from ling_notebook.reply import _running\n"
              "def ready():  # says when both replies hold their words and the streams stall\n"
              "    while sorted(r.text for r in list(_running)) != [' w1 w2', ' w1 w2 w3']: time.sleep(0.01)\n"
              "    print('READY', flush=True)\n"
              "threading.Thread(target=ready, daemon=True).start()\n"
              "cmp = ling_notebook.compare('go', models=['test/stall?after=3&rate=0', 'test/stall?after=2&rate=0'])\n"
              "print('STATUS', cmp.status, [r.status for r in cmp])")
    process = run_python(script, model_server)
    assert process.stdout.readline() == "READY\n"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert "[stopped]" in err
    assert "=== test/stall?after=3&rate=0 ===\n w1 w2 w3" in out and "=== test/stall?after=2&rate=0 ===\n w1 w2" in out
    assert "STATUS partial ['stopped', 'stopped']" in out and out.count("stopped by user") == 2
    model_server.wait_for(lambda _: all(r.disconnected_at for r in model_server.requests))
