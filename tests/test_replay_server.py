"""`ling-notebook serve --replay`: the reply log's complete replies, served to the `openai` client over real HTTP."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from ling_notebook import config, record
from ling_notebook.reply import Reply
from ling_notebook.server import ModelServer

KEY = "sk-replay-test-8d2f"


def ask(server: ModelServer, model: str, prompt: str, log: Path, **kwargs) -> Reply:
    settings = config.resolve(base_url=server.url, model=model, api_key=KEY, max_retries=0, log=str(log))
    reply = Reply([{"role": "user", "content": prompt}], settings, **kwargs).start()
    reply.wait(10)
    return reply


@pytest.fixture
def log(tmp_path) -> Path:
    return tmp_path / "replies.sqlite"


@pytest.fixture
def replaying(log, model_server) -> Iterator[tuple[ModelServer, Reply]]:
    """A replay server on a log holding one complete reply (reasoning, text, usage), and that reply."""
    reply = ask(model_server, "test/reasoning?reasoning=3&tokens=5", "Tell me, please", log,
                params={"temperature": 0.2})
    assert record.flush()
    with ModelServer(replay=str(log)) as server:
        yield server, reply


def client(server: ModelServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="anything", max_retries=0)


def test_a_logged_reply_is_streamed_again_with_its_usage_last(replaying):
    server, reply = replaying
    chunks = list(client(server).chat.completions.create(
        model="test/reasoning?reasoning=3&tokens=5", messages=[{"role": "user", "content": "Tell me, please"}],
        temperature=0.2, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
                        for c in chunks if c.choices)
    assert (text, reasoning) == (reply.text, reply.reasoning) and len(chunks) > 5  # in pieces, as it came
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump(exclude_none=True) == vars(reply.usage)
    assert all(c.usage is None for c in chunks[:-1])


def test_a_logged_reply_is_answered_whole_when_not_streamed(replaying):
    server, reply = replaying
    completion = client(server).chat.completions.create(
        model="test/reasoning?reasoning=3&tokens=5", messages=[{"role": "user", "content": "Tell me, please"}],
        temperature=0.2)
    (choice,) = completion.choices
    assert (completion.object, choice.message.content, choice.finish_reason) == ("chat.completion", reply.text, "stop")
    assert choice.message.model_extra["reasoning_content"] == reply.reasoning
    assert completion.usage.model_dump(exclude_none=True) == vars(reply.usage)


def test_a_request_with_no_record_gets_an_error_naming_the_model_and_the_prompts_start(replaying):
    server, _ = replaying
    long = "Tell me, please,\x07 about\n\nthe history of the printing press in Europe " + KEY
    for model, prompt, temperature in (("test/reasoning?reasoning=3&tokens=5", "Tell me, please", 0.3),
                                       ("Ling-2.6-flash", long, 0.2)):
        with pytest.raises(openai.BadRequestError) as caught:
            client(server).chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                                   temperature=temperature)
        error = caught.value.body
        assert error["code"] == "no_logged_reply" and f"model {model!r}" in error["message"]
    assert "prompt 'Tell me, please, about the history of th…'" in error["message"]
    assert KEY not in json.dumps(error)


def test_a_reply_with_tool_calls_is_replayed_round_by_round(model_server, log):
    from ling_notebook.tools import toolbox

    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        return a + b

    prompt = 'call add {"a": 1, "b": 2}\ncall add {"a": 3, "b": 4}'
    first = ask(model_server, "test/tools?rounds=2", prompt, log, tools=toolbox([add]))
    assert first.status == "done" and first.rounds == 3
    assert record.flush()
    with ModelServer(replay=str(log)) as server:
        settings = config.resolve(base_url=server.url, model="test/tools?rounds=2", api_key=KEY, max_retries=0,
                                  log="off")
        again = Reply([{"role": "user", "content": prompt}], settings, tools=toolbox([add])).start()
        assert again.wait(10) == first.text and again.status == "done"
        assert [(c.name, c.arguments_text, c.result) for c in again.tool_calls] == [
            (c.name, c.arguments_text, c.result) for c in first.tool_calls]
        assert again.usage == first.usage and len(server.requests) == 3
        unstreamed = Reply([{"role": "user", "content": prompt}], settings, tools=toolbox([add]), stream=False)
        assert unstreamed.start().wait(10) == first.text


def test_a_reply_logged_while_the_server_runs_is_served_and_the_models_are_the_logs(model_server, log):
    ask(model_server, "test/echo", "early", log)
    assert record.flush()
    with ModelServer(replay=str(log)) as server:
        ask(model_server, "test/length?tokens=3", "later", log)
        assert record.flush()
        again = ask(server, "test/length?tokens=3", "later", Path("off"))
        assert (again.text, again.finish_reason) == (" w1 w2 w3", "length")
        assert [m.id for m in client(server).models.list()] == ["test/echo", "test/length?tokens=3"]


def test_only_complete_replies_are_served(model_server, log):
    failed = ask(model_server, "test/error-mid", "broken", log)
    assert failed.status == "error" and record.flush()
    with ModelServer(replay=str(log)) as server:
        again = ask(server, "test/error-mid", "broken", Path("off"))
        assert again.status == "error" and "no complete reply" in again.error


def test_the_command_line_refuses_a_missing_log_and_a_log_that_is_off(tmp_path):
    missing = subprocess.run([sys.executable, "-m", "ling_notebook.cli", "serve", "--port", "0", "--replay",
                              str(tmp_path / "none.sqlite")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "cannot read the reply log" in missing.stderr
    off = subprocess.run([sys.executable, "-m", "ling_notebook.cli", "serve", "--replay"], capture_output=True,
                         text=True, timeout=60, env={**__import__("os").environ, "LING_LOG": "off"})
    assert off.returncode == 2 and "--replay needs a reply log" in off.stderr


def test_the_replay_key_and_the_kernels_key_are_one_notion(model_server, log):
    reply = ask(model_server, "test/echo", "same", log, params={"temperature": 0.5, "extra_body": {"top_k": 3},
                                                              "seed": None})
    settings = dataclasses.replace(reply.settings, base_url="http://127.0.0.1:9/v1")
    body_key = record.same_request_key("test/echo", [{"role": "user", "content": "same"}],
                                       {"temperature": 0.5, "top_k": 3})
    assert body_key == record.same_request_key(settings.model, reply.messages, reply._params)
    assert record.request_key(reply) != body_key  # the kernel's key names the server too
