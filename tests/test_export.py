"""Export from the reply log (export.py) and the `ling-notebook log` command line: list, --grep, show, export."""

from __future__ import annotations

import pytest

from ling_notebook import config, export, record, render
from ling_notebook.cli import main
from ling_notebook.fill import fill
from ling_notebook.reply import Reply
from ling_notebook.tools import toolbox

NOTEBOOK = "work/analysis.ipynb"


@pytest.fixture
def log(tmp_path, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", NOTEBOOK)
    return tmp_path / "replies.sqlite"


def ask(server, log, prompt: str, cell: str, chat: str = "notes", model: str = "test/echo",
        history: list[dict] | None = None, **kwargs) -> Reply:
    """A turn of conversation `chat`, asked from `cell` of NOTEBOOK, ended and written to `log`."""
    settings = config.resolve(base_url=server.url, model=model, api_key="sk-export-test-0042", max_retries=0,
                              log=str(log))
    with record.asked_in(conversation=chat, cell=cell):
        reply = Reply([*(history or []), {"role": "user", "content": prompt}], settings, **kwargs).start()
    reply.wait(10)
    assert record.flush()
    return reply


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@pytest.fixture
def chat(model_server, log):
    """Conversation 'notes': a prompt with braces, a turn with a tool call; and one turn elsewhere."""
    first = ask(model_server, log, "Fill `{code}` but not {this}", "cell:c1")
    second = ask(model_server, log, 'call add {"a": 1, "b": 2}', "cell:c2", model="test/tools",
                 history=[{"role": "user", "content": first.text}, {"role": "assistant", "content": first.text}],
                 tools=toolbox([add]))
    ask(model_server, log, "Elsewhere", "cell:c9", chat="other")
    return [first, second]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_an_exported_notebook_shows_each_reply_as_the_live_package_saves_it(chat, log):
    nbformat = pytest.importorskip("nbformat")  # a test tool: not there for `./dev oldest`
    logged = export.replies(str(log), [reply.id for reply in chat])
    nb = export.notebook(logged, "notes")
    nbformat.validate(nbformat.from_dict(nb))
    load, *cells = nb["cells"]
    assert load["source"] == "%load_ext ling_notebook"
    for cell, live, row in zip(cells, chat, record.rows(str(log)), strict=False):
        line, prompt = cell["source"].split("\n", 1)
        assert line == "%%ling --chat notes" and fill(prompt, {}) == live.messages[-1]["content"]
        (output,) = cell["outputs"]
        assert output["data"] == render.reply_bundle(live)  # the tool call's card included
        facts, expected = output["metadata"]["ling_notebook"], render.reply_metadata(live)["ling_notebook"]
        assert facts.pop("time") == row["time"] and expected.pop("time")
        assert facts == expected and facts["reply"] == live.id
    assert "Tool add · done" in cells[1]["outputs"][0]["data"]["text/html"]


def test_an_exported_notebook_shows_the_replies_after_nbconvert(chat, log, tmp_path):
    html_exporter = pytest.importorskip("nbconvert").HTMLExporter

    path = tmp_path / "notes.ipynb"
    export.write(export.replies(str(log), [reply.id for reply in chat]), "ipynb", str(path), "notes")
    html, _ = html_exporter().from_filename(str(path))
    assert "Fill <code>{code}</code> but not {this}" in html and "Tool results: add -&gt; 3" in html


def test_markdown_has_each_prompt_then_its_reply_under_its_status_line(chat, log):
    text = export.markdown(export.replies(str(log), [reply.id for reply in chat]), "notes")
    assert text.startswith(f"# Conversation 'notes'\n\nNotebook {NOTEBOOK} · 2 turn(s) from the reply log\n\n")
    assert "## User\n\nFill `{code}` but not {this}\n\n## test/echo · done" in text
    # What the tool was sent and gave back is an indented code block: never read as Markdown.
    assert "Tool call:\n\n    add · done\n    arguments:\n    {\n      \"a\": 1," in text
    assert text.endswith("\n    result:\n    3\n\nTool results: add -> 3")


def test_markdown_quotes_the_reasoning_and_says_how_a_reply_ended(model_server, log):
    reasoned = ask(model_server, log, "Think", "cell:c1", model="test/reasoning?reasoning=2&tokens=2")
    failed = ask(model_server, log, "Fail", "cell:c2", model="test/error-mid?after=2")
    text = export.markdown(export.replies(str(log), [reasoned.id, failed.id]), "notes")
    assert "\n\n> Reasoning:\n>\n>  r1 r2\n\n w1 w2\n\n" in text
    assert f"## {render.status_line(failed)}" in text and f"Error: {failed.error}" in text


def test_the_command_line_exports_a_notebooks_conversation_and_refuses_to_overwrite(chat, log, tmp_path, capsys):
    nbformat = pytest.importorskip("nbformat")
    path = tmp_path / "notes.md"
    assert run(capsys, "log", "export", "notes", "--to", "md", str(path), "--log", str(log)) == (
        0, f"Exported conversation 'notes' of {NOTEBOOK}, 2 turn(s), to {path}.\n", "")
    assert path.read_text().startswith("# Conversation 'notes'")
    path.write_text("mine")
    status, _, err = run(capsys, "log", "export", "notes", "--to", "md", str(path), "--log", str(log))
    assert status == 1 and err == f"ling-notebook: {path} exists: choose another path, or add --force to replace it.\n"
    assert path.read_text() == "mine"
    assert run(capsys, "log", "export", "notes", "--to", "ipynb", str(path), "--force", "--log", str(log))[0] == 0
    nbformat.validate(nbformat.read(path, as_version=4))


def test_the_command_line_refuses_bad_input_in_one_line(chat, log, tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "x.md")
    for argv, message in [
        (["export", "nope", "--to", "md", out], "no conversation 'nope' to export; known: 'notes', 'other'."),
        (["export", "notes", "--to", "pdf", out], "cannot export to 'pdf': --to takes md (Markdown) or ipynb"),
        (["show", "zz"], "'zz' is not a reply id: ids are hexadecimal"),
        (["show", "0" * 32], "0 replies have an id starting with"),
    ]:
        status, printed, err = run(capsys, "log", *argv, "--log", str(log))
        assert (status, printed) == (1, "") and err.startswith(f"ling-notebook: {message}") and err.count("\n") == 1
    missing = tmp_path / "none.sqlite"
    assert run(capsys, "log", "--log", str(missing)) == (1, "", f"ling-notebook: no reply log at {missing}\n")
    monkeypatch.setenv("LING_LOG", "off")
    assert "the reply log is off (LING_LOG=off)" in run(capsys, "log")[2]


def test_a_conversation_in_two_notebooks_is_exported_from_the_one_named(chat, model_server, log, monkeypatch,
                                                                          tmp_path, capsys):
    monkeypatch.setenv("JPY_SESSION_NAME", "other.ipynb")
    ask(model_server, log, "Same name, other notebook", "cell:c1")
    out = tmp_path / "x.md"
    status, _, err = run(capsys, "log", "export", "notes", "--to", "md", str(out), "--log", str(log))
    assert status == 1 and f"is in the notebooks {NOTEBOOK}, other.ipynb: choose one with --notebook NB" in err
    run(capsys, "log", "export", "notes", "--to", "md", str(out), "--notebook", "other.ipynb", "--log", str(log))
    assert "Same name, other notebook" in out.read_text() and "Fill" not in out.read_text()


def test_log_lists_the_latest_replies_one_a_line(chat, log, capsys, monkeypatch):
    monkeypatch.setenv("LING_LOG", str(log))  # as the package chooses the log
    status, out, _ = run(capsys, "log")
    header, *lines = out.splitlines()
    assert status == 0 and header.split() == ["id", "time", "(UTC)", "notebook", "conversation", "model", "status",
                                              "tokens", "prompt"]
    rows = record.rows(str(log))
    assert [line.split()[0] for line in lines] == [row["id"][:8] for row in rows]
    assert lines[0].split()[3:8] == [NOTEBOOK, "notes", "test/echo", "done",
                                     f"{rows[0]['prompt_tokens']}+{rows[0]['completion_tokens']}"]
    assert lines[0].endswith("Fill `{code}` but not {this}") and lines[2].endswith("Elsewhere")
    assert len(run(capsys, "log", "-n", "1")[1].splitlines()) == 2


def test_log_grep_searches_prompts_and_replies_in_any_case(chat, log, capsys):
    # The second turn's request holds the first prompt as history: only the turn that asked it is found.
    status, out, _ = run(capsys, "log", "--grep", "FILL `{CODE}`", "--log", str(log))
    assert status == 0 and [line.split()[0] for line in out.splitlines()[1:]] == [chat[0].id[:8]]
    out = run(capsys, "log", "--grep", "tool results", "--log", str(log))[1]
    assert [line.split()[0] for line in out.splitlines()[1:]] == [chat[1].id[:8]]
    assert run(capsys, "log", "--grep", "nowhere", "--log", str(log))[1] == "No reply in the log contains that text.\n"


def test_log_show_prints_the_request_the_reply_its_usage_and_status(chat, log, capsys):
    reply = chat[1]
    status, out, _ = run(capsys, "log", "show", reply.id[:6], "--log", str(log))
    assert status == 0 and out.startswith(f"reply {reply.id} · ")
    assert f"notebook {NOTEBOOK} · cell cell:c2 · conversation notes\n" in out
    assert f"\n{render.status_line(reply)}\n" in out and "completion =" in out
    assert ("request:\n  [user] Fill `{code}` but not {this}\n  [assistant] Fill `{code}` but not {this}\n"
            '  [user] call add {"a": 1, "b": 2}\n  [assistant] [calls add({"a": 1, "b": 2})]\n  [tool] 3\n') in out
    assert out.endswith("reply:\nTool call:\n\n    add · done\n    arguments:\n    {\n      \"a\": 1,\n      \"b\": 2\n"
                        "    }\n    result:\n    3\n\nTool results: add -> 3\n")


def test_model_text_reaches_the_terminal_without_control_sequences(model_server, log, tmp_path, capsys):
    hostile = "Clip\x1b]52;c;ZXZpbA==\x07 me\x9b2J"
    reply = ask(model_server, log, hostile, "cell:c1", chat="x\x1b[2Jy")
    out = run(capsys, "log", "--log", str(log))[1] + run(capsys, "log", "show", reply.id, "--log", str(log))[1]
    out += run(capsys, "log", "export", "x\x1b[2Jy", "--to", "md", str(tmp_path / "x.md"), "--log", str(log))[1]
    assert "Clip]52;c;ZXZpbA== me2J" in out and not any(c in out for c in "\x1b\x07\x9b")


def test_markdown_keeps_what_the_server_said_as_text_never_html(model_server, log):
    failed = ask(model_server, log, "Fail", "cell:c2", model="test/error-mid?after=2")
    (logged,) = export.replies(str(log), [failed.id])
    logged.error = logged.model = '<img src=x onerror="alert(1)">'  # a hostile server's error and model name
    text = export.markdown([logged], "notes")
    assert "<img" not in text and text.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") == 2
