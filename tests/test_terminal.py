"""Outside Jupyter, `stream()` prints tokens as they arrive, `batch()` a progress line, and Ctrl-C stops."""

from __future__ import annotations

import signal
import subprocess
import sys


def run_python(code: str, server) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={"PATH": "/usr/bin:/bin", "LING_BASE_URL": server.url})


def test_tokens_go_to_stdout_as_they_arrive(model_server):
    script = ("import ling_notebook\n"
              "r = ling_notebook.stream('one two three', model='test/echo')\n"
              "print('STATUS', r.status)")
    out, err = run_python(script, model_server).communicate(timeout=60)
    assert out == "one two three\nSTATUS done\n", err


def test_ctrl_c_stops_the_stream_and_keeps_the_text(model_server):
    model_server.clear()
    script = ("import ling_notebook\n"
              "r = ling_notebook.stream('go', model='test/stall?after=3&rate=0')\n"
              "print('STATUS', r.status, repr(r.text))")
    process = run_python(script, model_server)
    assert process.stdout.read(len(" w1 w2 w3")) == " w1 w2 w3"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert "STATUS stopped ' w1 w2 w3'" in out and "[stopped]" in err
    assert model_server.wait_for(lambda r: r.disconnected_at is not None).model.startswith("test/stall")


def test_errors_go_to_stderr(model_server):
    script = "import ling_notebook\nling_notebook.stream('go', model='test/http-404')"
    out, err = run_python(script, model_server).communicate(timeout=60)
    assert "Model 'test/http-404' was not found" in err


def test_a_batch_shows_a_progress_line_on_stderr_and_returns_its_results(model_server):
    script = ("import ling_notebook\n"
              "b = ling_notebook.batch('say {item}', data=['a', 'b', 'c'], model='test/echo', concurrency=2)\n"
              "print('RESULTS', b.results, b.status)")
    out, err = run_python(script, model_server).communicate(timeout=60)
    assert "RESULTS ['say a', 'say b', 'say c'] done" in out
    assert "[batch done] 3/3 done" in err


def test_ctrl_c_stops_every_item_of_a_batch(model_server):
    model_server.clear()
    script = ("import ling_notebook\n"
              "b = ling_notebook.batch([f'p{i}' for i in range(10)], model='test/stall?after=1&rate=0',"
              " concurrency=3)\n"
              "print('STATUS', b.status, b.counts)")
    process = run_python(script, model_server)
    model_server.wait_for(lambda r: sum(x.chunks_sent > 1 for x in model_server.requests) >= 3, timeout=20)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert "STATUS stopped" in out and "'stopped': 3" in out and "'queued': 7" in out, err
    records = [r for r in model_server.requests if r.path.endswith("/completions")]
    assert len(records) == 3
    assert all(model_server.wait_for(lambda r, n=r.id: r.id == n and r.disconnected_at) for r in records)
