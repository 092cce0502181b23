"""Outside Jupyter, `stream()` prints tokens as they arrive, `batch()` a progress line, and Ctrl-C stops."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from ling_notebook.display import TerminalPrinter
from ling_notebook.render import bundle
from ling_notebook.terminal import printable


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


def test_pointing_the_base_url_at_the_built_in_server_is_enough(model_server):
    # No model configured: the default model's name is sent, and the demo answers in its place.
    script = "import ling_notebook\nr = ling_notebook.stream('Hi there')\nprint('STATUS', r.status)"
    out, err = run_python(script, model_server).communicate(timeout=60)
    assert "*Offline demo model, answering for `Ling-2.6-flash`" in out and "STATUS done" in out, err


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


# Escape sequences a model (or a server's error) might send: the clipboard (OSC 52), the window title,
# erase line / screen, a one-character C1 CSI, a backspace, a lone CR that would overwrite the line.
HOSTILE = "A\x1b]52;c;aGk=\x07B\x1b[2K\x1b]0;title\x1b\\C\x9b2JD\x08E\rF\x7fG\x00H\tI\r\nJ"
SHOWN = "A]52;c;aGk=B[2K]0;title\\C2JDEFGH\tI\nJ"  # what is left: the printable text, tabs and newlines


def controls(text: str) -> set[str]:
    return {c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0}


def test_escape_sequences_from_the_model_are_not_written_to_the_terminal(model_server):
    # test/echo sends the prompt back in 4-character pieces, so the sequences arrive cut in two.
    script = ("import ling_notebook\n"
              f"r = ling_notebook.stream({HOSTILE!r}, model='test/echo')\n"
              "print('TEXT', repr(r.text))")
    out, err = run_python(script, model_server).communicate(timeout=60)
    assert out.startswith(SHOWN + "\nTEXT "), err
    assert f"TEXT {HOSTILE!r}" in out  # the reply itself keeps what the model sent
    assert not controls(out + err)


def test_escape_sequences_in_a_server_error_are_not_written_to_the_terminal(model_server):
    script = "import ling_notebook\nling_notebook.stream('go', model='test/http-404?\\x1b]0;title\\x07')"
    out, err = run_python(script, model_server).communicate(timeout=60)
    assert "Model 'test/http-404?]0;title' was not found" in err and not controls(out + err)


def test_a_comparison_printout_has_no_escape_sequences(model_server):
    script = ("import ling_notebook\n"
              f"ling_notebook.compare({HOSTILE!r}, models=['test/echo', 'test/echo?rate=0'])")
    out, err = run_python(script, model_server).communicate(timeout=60)
    assert out.count(SHOWN) == 2 and "=== test/echo?rate=0 ===" in out, err
    assert not controls(out + err)


def test_batch_errors_on_the_progress_line_have_no_escape_sequences(model_server):
    script = ("import ling_notebook\n"
              "ling_notebook.batch(['a', 'b'], model='test/http-404?\\x1b[2K\\x9b1A', retries=0)")
    out, err = run_python(script, model_server).communicate(timeout=60)
    assert "ling-notebook: item 0: Model 'test/http-404?[2K1A' was not found" in err
    assert not controls(out + err)


@given(st.text(), st.text())
def test_printable_drops_exactly_the_controls_piece_by_piece(a, b):
    cleaned = printable(a + b)
    assert not controls(cleaned)
    assert cleaned == "".join(c for c in a + b if not controls(c))
    assert cleaned == printable(a) + printable(b)  # a stream cleaned piece by piece reads the same


def test_dim_and_reset_are_our_own_codes_added_around_cleaned_text(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    printer, reply = TerminalPrinter(), SimpleNamespace(error=None)
    printer.on_delta(reply, "", HOSTILE)
    printer.on_delta(reply, HOSTILE, "")
    printer.on_end(reply)
    assert sys.stdout.getvalue() == f"\x1b[2m{SHOWN}\x1b[0m\n\n{SHOWN}\n"


def test_the_plain_text_offered_to_front_ends_without_html_is_cleaned():
    assert bundle("<p>x</p>", HOSTILE)["text/plain"] == SHOWN
