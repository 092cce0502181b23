"""Outside Jupyter, `stream()` prints tokens as they arrive and Ctrl-C stops the request."""

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
