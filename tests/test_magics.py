"""%%ling and %ling in a real kernel against the built-in server: what reaches the request, and what the user sees."""

from __future__ import annotations

import json

import pytest
from kernel_client import Kernel, magics_kernel

KEY = "sk-magic-test-4e2a-secret"


@pytest.fixture(scope="module")
def kernel(model_server):
    k = magics_kernel(model_server.url, KEY)
    yield k
    k.shutdown()


@pytest.fixture
def server(model_server):
    model_server.clear()
    return model_server


def cell(kernel: Kernel, line: str, body: str, cell_id: str | None = None) -> list[dict]:
    """Run a %%ling cell as JupyterLab would (with a cellId) and wait until its reply ended."""
    code = f"%%ling {line}\n{body}"
    msg_id = kernel.client.execute(code) if cell_id is None else _execute_with_cell_id(kernel, code, cell_id)
    kernel.read_until(lambda: any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                                  and m["parent_header"].get("msg_id") == msg_id for m in kernel.messages))
    outputs = [m for m in kernel.messages if m["parent_header"].get("msg_id") == msg_id]
    kernel.run("from ling_notebook.reply import _running\nfor _r in list(_running): _r.wait(20)")
    return outputs


def _execute_with_cell_id(kernel: Kernel, code: str, cell_id: str) -> str:
    msg = kernel.client.session.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                                        "user_expressions": {}, "allow_stdin": False,
                                                        "stop_on_error": True})
    msg["metadata"]["cellId"] = cell_id
    kernel.client.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def stderr(outputs: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in outputs
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")


def sent(server) -> list[dict]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


def test_every_option_reaches_the_request(kernel, server):
    cell(kernel, '-m test/echo -s "Be terse." -t 0.2 --top-p 0.9 --max-tokens 50 --no-history '
                 '--extra \'{"enable_thinking": true}\'', "Hello there")
    (body,) = sent(server)
    assert body["model"] == "test/echo"
    assert body["messages"] == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hello there"}]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.2, 0.9, 50)
    assert body["enable_thinking"] is True and body["stream"] is True


def test_ant_ling_s_own_options_reach_the_request_only_when_given(kernel, server):
    cell(kernel, "--no-history --search --effort high --extra '{\"search_options\": {\"forced_search\": true}}'",
         "Hi")
    cell(kernel, "--no-history --effort xhigh -m test/echo -m test/echo", "Hi")
    cell(kernel, "--no-history", "Hi")
    searched, *compared, plain = sent(server)
    assert {k: searched[k] for k in ("enable_search", "reasoning", "search_options")} == {
        "enable_search": True, "reasoning": {"effort": "high"}, "search_options": {"forced_search": True}}
    assert [(body["reasoning"], "enable_search" in body) for body in compared] == [({"effort": "xhigh"}, False)] * 2
    assert not {"enable_search", "reasoning", "search_options"} & set(plain)


def test_no_stream_sends_one_plain_request(kernel, server):
    cell(kernel, "--no-stream --no-history", "Hi")
    assert sent(server)[0]["stream"] is False


def test_base_url_and_api_key_env_options(kernel, server):
    kernel.run("import os; os.environ['OTHER_KEY'] = 'sk-other-abcdef'")
    cell(kernel, f"--base-url {server.url} --api-key-env OTHER_KEY --no-history", "Hi")
    assert server.requests[0].carried_key("sk-other-abcdef")


def test_braces_are_filled_from_the_namespace(kernel, server):
    kernel.run("rows = 42; topic = 'sales'")
    cell(kernel, "--no-history", "Summarise {rows} rows of {topic} as {{json}}.")
    assert sent(server)[0]["messages"][-1]["content"] == "Summarise 42 rows of sales as {json}."


def test_an_unknown_name_is_explained_and_nothing_is_sent(kernel, server):
    outputs = cell(kernel, "--no-history", "Tell me about {undefined_thing}.")
    assert "undefined_thing" in stderr(outputs) and "Nothing was sent" in stderr(outputs)
    assert not any(m["msg_type"] == "error" for m in outputs)
    assert sent(server) == []


@pytest.mark.parametrize(
    "line, body, message",
    [
        ("--bogus", "hi", "unknown option --bogus. See %%ling? for the options."),
        ("--tempreature 0.3", "hi", "unknown option --tempreature (did you mean --temperature?)"),
        ("--extra {bad json}", "hi", "--extra takes the JSON in quotes, as one word: --extra '{\"enable_thinking\""),
        ("--extra '{bad}'", "hi", "--extra must be a JSON object in quotes"),
        ("-s Be terse", "hi", "unexpected 'terse' on the %%ling line: put a value with spaces in quotes"),
        ("-t 7", "hi", "--temperature must be between 0 and 2"),
        ("-t warm", "hi", "invalid float value"),
        ("--top-p 2", "hi", "--top-p must be between 0 and 1"),
        ("--max-tokens 0", "hi", "--max-tokens must be 1 or more"),
        ("--effort medium", "hi", "--effort must be high or xhigh (the reasoning effort of Ring models)."),
        ("--extra '[1]'", "hi", "--extra must be a JSON object"),
        ("", "   ", "The cell is empty"),
        ("--base-url localhost:1", "hi", "base_url must be an http(s) URL"),
        ("--base-url https://api.example.invalid/v1 --api-key-env NOT_SET_ANYWHERE", "hi", "NOT_SET_ANYWHERE"),
    ],
)
def test_bad_input_gives_one_clear_line_and_sends_nothing(kernel, server, line, body, message):
    outputs = cell(kernel, line, body)
    assert message in stderr(outputs)
    assert stderr(outputs).count("\n") == 1 and not any(m["msg_type"] == "error" for m in outputs)
    assert sent(server) == []


def test_output_binds_the_reply_at_once(kernel, server):
    kernel.run("%%ling -o slow_answer --no-history -m test/trickle?tokens=20&rate=20\nGo")
    assert kernel.value("slow_answer.status") in ("waiting", "streaming")
    assert kernel.value("slow_answer.wait(20)") == "".join(f" w{i}" for i in range(1, 21))


def test_run_all_pattern_later_cells_get_the_complete_answer(kernel, server):
    msg_ids = [kernel.client.execute(code) for code in (
        "%%ling -o first --new -m test/trickle?tokens=15&rate=60\nFirst question",
        "%%ling -o second -m test/echo\nSecond question",
        "print(repr(second.wait(20)), repr(first.text))",
    )]
    kernel.read_until(lambda: any(m["msg_type"] == "stream" and m["parent_header"]["msg_id"] == msg_ids[2]
                                  for m in kernel.messages))
    (printed,) = [m["content"]["text"] for m in kernel.messages
                  if m["msg_type"] == "stream" and m["parent_header"]["msg_id"] == msg_ids[2]]
    assert printed.strip() == repr("Second question") + " " + repr("".join(f" w{i}" for i in range(1, 16)))
    # the second request was sent only once the first answer was complete, and carried it
    second = sent(server)[1]["messages"]
    assert second[1] == {"role": "assistant", "content": "".join(f" w{i}" for i in range(1, 16))}


def test_consecutive_cells_form_a_conversation_and_reruns_replace_their_turn(kernel, server):
    cell(kernel, "--new", "One", cell_id="c1")
    cell(kernel, "", "Two", cell_id="c2")
    cell(kernel, "", "Two again", cell_id="c2")  # the same cell, run again
    cell(kernel, "", "Three", cell_id="c3")
    messages = sent(server)[-1]["messages"]
    assert [m["content"] for m in messages] == ["One", "One", "Two again", "Two again", "Three"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]


def test_system_prompt_is_kept_for_the_conversation(kernel, server):
    cell(kernel, '--new -s "You are terse."', "One", cell_id="s1")
    cell(kernel, "", "Two", cell_id="s2")
    assert sent(server)[-1]["messages"][0] == {"role": "system", "content": "You are terse."}


def test_named_conversations_are_separate(kernel, server):
    cell(kernel, "--chat alpha --new", "Alpha one", cell_id="a1")
    cell(kernel, "--chat beta --new", "Beta one", cell_id="b1")
    cell(kernel, "--chat alpha", "Alpha two", cell_id="a2")
    assert [m["content"] for m in sent(server)[-1]["messages"]] == ["Alpha one", "Alpha one", "Alpha two"]
    outputs = kernel.run("%ling history beta")
    (shown,) = [m["content"]["data"]["text/html"] for m in outputs if m["msg_type"] == "display_data"]
    assert "Beta one" in shown and "Alpha" not in shown


def test_a_stopped_reply_stays_in_history_marked_as_partial(kernel, server):
    kernel.run("%%ling --new -o stopped -m test/stall?after=3&rate=0\nStart")
    # the server has sent three words only once the reply holds them
    kernel.run("import time\nend = time.monotonic() + 10\n"
               "while len(stopped.text.split()) < 3 and time.monotonic() < end: time.sleep(0.01)")
    kernel.run("%ling stop")
    assert kernel.value("stopped.wait(10)") == " w1 w2 w3"
    cell(kernel, "", "Next")
    assistant = sent(server)[-1]["messages"][1]
    assert assistant["content"].startswith(" w1 w2 w3") and "[reply stopped by the user]" in assistant["content"]


def test_reset_forgets_the_conversation(kernel, server):
    cell(kernel, "--new", "Remember me", cell_id="r1")
    kernel.run("%ling reset")
    cell(kernel, "", "Fresh", cell_id="r2")
    assert sent(server)[-1]["messages"] == [{"role": "user", "content": "Fresh"}]


def test_config_shows_settings_and_sources_but_never_the_key(kernel, server):
    outputs = kernel.run("%ling config")
    (table,) = [m["content"]["data"]["text/html"] for m in outputs if m["msg_type"] == "display_data"]
    assert server.url in table and "LING_BASE_URL" in table and "<td>api_key</td><td>set</td>" in table
    assert KEY not in table


def test_config_sets_a_value_and_percent_config_works(kernel, server):
    kernel.run("%ling config timeout 5")
    assert kernel.value("ling_notebook.config.resolve().timeout") == 5.0
    kernel.run("%config LingMagics.model = 'test/trickle?tokens=2&rate=0'")
    cell(kernel, "--no-history", "Hi")
    assert sent(server)[-1]["model"] == "test/trickle?tokens=2&rate=0"
    kernel.run("%config LingMagics.model = None\n%ling config timeout 60")
    outputs = kernel.run("%ling config api_key sk-nope")
    assert "never set here" in stderr(outputs)


def test_config_says_what_it_set(kernel, server):
    outputs = kernel.run("%ling config timeout 5")
    assert "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream") == (
        "ling: timeout = 5.0 for this session.\n")
    outputs = kernel.run("%ling config timeout default")
    assert "timeout is unset" in "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert kernel.value("ling_notebook.config.resolve().timeout") == 60.0


def test_config_shows_a_url_it_set_without_its_credentials(kernel, server):
    outputs = kernel.run("%ling config base_url http://bob:hunter22@127.0.0.1:9/v1?api-key=SEKRET123")
    said = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert said.startswith("ling: base_url = http://127.0.0.1:9/v1") and "hunter22" not in said
    assert "SEKRET123" not in said and "bob" not in said
    kernel.run("%ling config base_url default")


def test_request_options_are_session_defaults_below_the_cells_own(kernel, server):
    kernel.run("%ling config temperature 0.2\n%config LingMagics.max_tokens = 40\n"
               "ling_notebook.configure(top_p=0.5)")
    cell(kernel, "--no-history", "Hi")
    cell(kernel, "--no-history -t 0.7 --max-tokens 9", "Hi")
    kernel.run("r = ling_notebook.stream('Hi', top_p=0.9); r.wait(10)")
    first, second, third = sent(server)
    assert (first["temperature"], first["max_tokens"], first["top_p"]) == (0.2, 40, 0.5)
    assert (second["temperature"], second["max_tokens"], second["top_p"]) == (0.7, 9, 0.5)
    assert (third["temperature"], third["top_p"]) == (0.2, 0.9)
    table = [d["data"]["text/plain"] for d in (m["content"] for m in kernel.run("%ling config"))
             if "data" in d][0]
    assert "temperature = 0.2  (configured)" in table and "max_tokens = 40  (configured)" in table
    kernel.run("%ling config temperature default\n%ling config max_tokens default\n"
               "ling_notebook.configure(top_p=None)")
    cell(kernel, "--no-history", "Hi")
    assert not {"temperature", "max_tokens", "top_p"} & set(sent(server)[-1])


def test_every_bad_input_is_one_line_without_a_traceback(kernel, server):
    outputs = kernel.run("%config LingMagics.timeout = -1")
    assert stderr(outputs) == "ling: timeout must be more than 0 seconds, not -1.\n"
    assert kernel.value("ling_notebook.config.resolve().timeout") == 60.0
    outputs = kernel.run("%ling config temperature 5")
    assert stderr(outputs) == "ling: temperature must be between 0 and 2, not 5.\n"
    assert "(did you mean temperature?)" in stderr(kernel.run("%ling config tempreture 1"))
    # Raised from code (it must be catchable), shown as the same one line: no traceback.
    msg_id = kernel.client.execute("ling_notebook.stream('Hi', temperature=9)", stop_on_error=False)
    kernel.read_until(lambda: any(m["msg_type"] == "error" and m["parent_header"].get("msg_id") == msg_id
                                  for m in kernel.messages))
    (error,) = [m["content"] for m in kernel.messages if m["msg_type"] == "error"]
    assert error["traceback"] == ["ling: temperature must be between 0 and 2, not 9."]
    assert sent(server) == []


def test_the_cell_magics_help_is_complete(kernel):
    msg_id = kernel.client.execute("%%ling?")
    reply = kernel.client.get_shell_msg(timeout=10)
    while reply["parent_header"]["msg_id"] != msg_id:
        reply = kernel.client.get_shell_msg(timeout=10)
    text = reply["content"]["payload"][0]["data"]["text/plain"]
    assert "usage: %%ling [options]" in text and "::" not in text
    assert "--max-tokens" in text and "--extra JSON" in text
    for command in ("%ling config KEY VALUE", "%ling history", "%ling reset", "%ling models", "%ling stop"):
        assert command in text


def test_models_lists_the_servers_models(kernel, server):
    outputs = kernel.run("%ling models")
    text = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert "ling-offline-demo" in text and server.requests[-1].path.endswith("/models")


def test_unknown_line_command_is_explained(kernel):
    outputs = kernel.run("%ling frobnicate")
    assert "unknown command 'frobnicate'" in stderr(outputs)


def test_an_unknown_model_shows_a_clear_error_in_the_reply(kernel, server):
    kernel.run("%%ling -o missing --no-history -m no-such-model\nHi")
    kernel.value("missing.wait(10)")
    assert kernel.value("missing.status") == "error"
    assert "Model 'no-such-model' was not found" in kernel.value("missing.error")


def test_the_key_never_appears_in_any_message(kernel):
    assert KEY not in json.dumps(kernel.history, default=str)
