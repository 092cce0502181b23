"""Tools outside Jupyter: the loop of rounds against the built-in server, where tools run, Stop, history, and
schemas from signatures. Here the main thread runs the tools while it waits (as in a terminal)."""

from __future__ import annotations

import re
import threading
from typing import Annotated

import pydantic
import pytest
from test_reply import settings

import ling_notebook
from ling_notebook import toolrun
from ling_notebook.conversation import Conversation
from ling_notebook.display import stream
from ling_notebook.errors import ConfigurationError
from ling_notebook.parts import TextPart, ToolCall
from ling_notebook.reply import Reply
from ling_notebook.tools import toolbox


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def ask(server, prompt: str, tools, model: str = "test/tools", **options) -> Reply:
    return stream(prompt, tools=tools, base_url=server.url, model=model, api_key="sk-tools-test", max_retries=0,
                  **options)


def test_the_model_gets_the_result_and_answers_with_it(model_server, capsys):
    reply = ask(model_server, 'call add {"a": 1, "b": 2}', [add])
    assert reply.status == "done" and reply.rounds == 2
    assert reply.text == "Tool results: add -> 3"
    (call,) = reply.tool_calls
    assert (call.name, call.arguments, call.result, call.error, call.state) == ("add", {"a": 1, "b": 2}, "3", None,
                                                                              "done")
    assert call.seconds is not None and call.seconds >= 0
    assert [type(p) for p in reply.parts] == [ToolCall, TextPart]
    # The next request carries the call and its result exactly as the API expects them.
    first, second = model_server.requests[-2:]
    assert first.body["tools"] == [{"type": "function", "function": {
        "name": "add", "description": "Add two whole numbers.",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["a", "b"],
                       "properties": {"a": {"title": "A", "type": "integer"},
                                      "b": {"title": "B", "type": "integer"}}}}}]
    assert second.body["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0_0", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}]},
        {"role": "tool", "tool_call_id": "call_0_0", "content": "3"},
    ]
    assert capsys.readouterr().out == '[tool add({"a": 1, "b": 2}) done: 3]\nTool results: add -> 3\n'


def test_parallel_calls_run_in_order_and_each_is_answered(model_server):
    order = []

    def look(key: str) -> str:
        order.append(key)
        return key.upper()

    reply = ask(model_server, 'call look {"key": "a"}\ncall look {"key": "b"}', [look],
                model="test/tools?interleave=1&pieces=2")
    assert order == ["a", "b"]
    assert reply.text == "Tool results: look -> A; look -> B"
    assert [c.result for c in reply.tool_calls] == ["A", "B"]


def test_bad_arguments_unknown_tools_and_raising_tools_are_errors_the_model_reads(model_server):
    def fails(x: int) -> int:
        raise ValueError(f"no data for {x}")

    reply = ask(model_server, 'call add {"a": 1,\ncall nope {}\ncall fails {"x": 7}\ncall add {"a": "one", "b": 2}',
                [add, fails])
    assert reply.status == "done"
    errors = [c.error for c in reply.tool_calls]
    assert errors[0].startswith("Invalid arguments: Invalid JSON")
    assert errors[1] == "There is no tool named 'nope'; the tools are: add, fails."
    assert errors[2] == "ValueError: no data for 7"
    assert errors[3].startswith("Invalid arguments: a: Input should be a valid integer")
    assert all(c.state == "error" and c.result == f"Error: {c.error}" for c in reply.tool_calls)
    assert "fails -> Error: ValueError: no data for 7" in reply.text


def test_a_model_that_never_stops_calling_is_stopped_at_max_rounds(model_server):
    reply = ask(model_server, "call add {\"a\": 1, \"b\": 1}", [add], model="test/tools?rounds=1e9", max_rounds=3)
    assert reply.status == "error" and reply.rounds == 3
    assert "max_rounds=3" in reply.error
    assert [c.state for c in reply.tool_calls] == ["done", "done", "skipped"]
    assert len([r for r in model_server.requests if r.body and "rounds=1e9" in r.body["model"]]) >= 3


def test_plain_tools_run_on_the_waiting_main_thread_and_thread_safe_ones_on_a_worker(model_server):
    threads = {}

    def where(label: str) -> str:
        threads[label] = threading.current_thread()
        return label

    safe = ling_notebook.tool(where, name="safe", thread_safe=True)
    ask(model_server, 'call where {"label": "main"}\ncall safe {"label": "worker"}', [where, safe])
    assert threads["main"] is threading.main_thread()
    assert threads["worker"] is not threading.main_thread()


def test_what_a_tool_prints_goes_to_its_card(model_server, capsys):
    def noisy() -> str:
        print("looking it up")
        return "found"

    reply = ask(model_server, "call noisy {}", [noisy])
    assert reply.tool_calls[0].output == "looking it up\n"
    assert "looking it up" not in capsys.readouterr().out


def test_stop_while_a_tool_runs_tells_it_and_sends_nothing_more(model_server):
    seen = []
    holder: dict[str, Reply] = {}

    def slow() -> str:
        holder["reply"].stop()
        seen.append(ling_notebook.stop_requested())
        return "too late"

    reply = Reply([{"role": "user", "content": "call slow {}"}], settings(model_server, "test/tools"),
                  tools=toolbox([slow]))
    holder["reply"] = reply
    before = len(model_server.requests)
    reply.start().wait(10)
    assert seen == [True]
    assert reply.status == "stopped" and reply.stopped_during == "running tool slow"
    assert reply.tool_calls[0].state == "stopped" and reply.tool_calls[0].result is None
    assert len(model_server.requests) == before + 1  # the result was not sent


def test_stop_before_a_pending_tool_runs_means_it_never_runs(model_server):
    ran = []
    pending = threading.Event()

    class Watch:
        def on_status(self, reply): pass
        def on_delta(self, reply, content, reasoning): pass
        def on_end(self, reply): pass

        def on_part(self, reply, part, arguments):
            if part.state == "pending":
                pending.set()

    def counted(a: int, b: int) -> None:
        ran.append(1)

    reply = Reply([{"role": "user", "content": "call counted {\"a\": 1, \"b\": 1}"}],
                  settings(model_server, "test/tools"), tools=toolbox([counted]))
    reply.add_listener(Watch())
    reply.start()
    assert pending.wait(10)
    reply.stop()
    reply.wait(10)
    toolrun.run_due()
    assert ran == [] and reply.tool_calls[0].state == "skipped"
    assert reply.status == "stopped" and reply.stopped_during == "tool counted"


def test_history_keeps_the_tool_calls_and_results(model_server):
    conversation = Conversation("t")
    reply = ask(model_server, 'call add {"a": 2, "b": 3}', [add])
    conversation.record("cell-1", 'call add {"a": 2, "b": 3}', reply)
    messages = conversation.messages_before("cell-2", "and now?")
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "user"]
    assert messages[2]["content"] == "5" and messages[3]["content"] == "Tool results: add -> 5"
    # The built-in server refuses unanswered calls like the real API; this history is accepted.
    follow = stream(messages, base_url=model_server.url, model="test/echo", api_key="k", max_retries=0)
    assert follow.status == "done"


class Where(pydantic.BaseModel):
    region: str
    year: int = 2025


def test_schemas_come_from_hints_docstrings_fields_and_models():
    def revenue(where: Where, unit: Annotated[str, pydantic.Field(description="EUR or USD")] = "EUR") -> str:
        """Revenue of one region."""
        return ""

    schema = ling_notebook.tool(revenue).schema["function"]
    assert schema["description"] == "Revenue of one region."
    assert schema["parameters"]["properties"]["unit"]["description"] == "EUR or USD"
    assert schema["parameters"]["$defs"]["Where"]["required"] == ["region"]
    assert ling_notebook.tool(revenue).arguments('{"where": {"region": "EU"}}') == {
        "where": Where(region="EU"), "unit": "EUR"}


@pytest.mark.parametrize(("signature", "says"), [
    ("def f(x): pass", "parameter 'x' has no type hint"),
    ("def f(*xs: int): pass", "parameter 'xs' is *args"),
    ("def f(x: int, /): pass", "parameter 'x' is positional-only"),
    ("def f(x: threading.Lock): pass", "parameter 'x' has type"),
])
def test_an_undescribable_function_is_refused_before_anything_is_sent(model_server, signature, says):
    scope: dict = {"threading": threading}
    exec(signature, scope)
    before = len(model_server.requests)
    with pytest.raises(ConfigurationError, match=re.escape(says)) as caught:
        ask(model_server, "call f {}", [scope["f"]])
    assert "\n" not in str(caught.value)
    assert len(model_server.requests) == before


def test_the_static_copy_shows_each_step_in_order_and_keeps_hostile_text_inert(model_server):
    from ling_notebook.render import reply_bundle

    def evil(html: str) -> str:
        """Returns markup."""
        print("<script>window.__printed=1</script>")
        return "<img src=x onerror=alert(1)>"

    reply = ask(model_server, 'call evil {"html": "<b onclick=alert(2)>x</b>"}', [evil])
    page = reply_bundle(reply)["text/html"]
    assert page.index('class="ling-tool"') < page.index("Tool results")
    assert "<img" not in page and "<script" not in page and "<b " not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "Tool evil · done" in page
    assert "2 rounds" in page


@pytest.mark.parametrize("call", ["compare", "batch"])
def test_comparisons_and_batches_refuse_tools_before_sending(model_server, call):
    before = len(model_server.requests)
    with pytest.raises(ConfigurationError, match="comparisons and batches do not run tools yet"):
        if call == "compare":
            ling_notebook.compare("hi", models=["test/echo", "test/echo"], tools=[add], base_url=model_server.url)
        else:
            ling_notebook.batch(["hi"], tools=[add], base_url=model_server.url)
    assert len(model_server.requests) == before


def test_deltas_carry_calls_in_order_and_a_snapshot_has_the_same_parts(model_server):
    from ling_notebook.deltas import DeltaBatcher
    from ling_notebook.widget import call_change

    sent: list = []
    holder: dict = {}

    class Feed:
        def on_status(self, reply): pass
        def on_end(self, reply): pass
        def on_delta(self, reply, content, reasoning): holder["batcher"].add(0, content, reasoning)
        def on_part(self, reply, call, arguments):
            holder["batcher"].add_call(0, reply.tool_calls.index(call), call_change(call, arguments))

    reply = Reply([{"role": "user", "content": 'call add {"a": 1, "b": 2}\ncall add {"a": 3, "b": 4}'}],
                  settings(model_server, "test/tools?pieces=2&interleave=1&rate=0"), tools=toolbox([add]))
    holder["batcher"] = DeltaBatcher([reply], 0.05, lambda seq, pieces: sent.append(pieces[0]))
    reply.add_listener(Feed())
    reply.start().wait(10)
    with holder["batcher"].lock:
        holder["batcher"].flush_locked()
        snapshot = holder["batcher"].parts_locked(0)
    # What the deltas draw, in order: text pieces join into a part; a call's changes merge into its card.
    drawn: list[dict] = []
    for piece in sent:
        assert not (piece.content and piece.calls), "a message holds text or calls"
        if piece.content:
            if drawn and drawn[-1]["kind"] == "text":
                drawn[-1]["text"] += piece.content
            else:
                drawn.append({"kind": "text", "text": piece.content})
        for change in piece.calls:
            card = next((p for p in drawn if p["kind"] == "call" and p["n"] == change["n"]), None)
            if card is None:
                drawn.append({"kind": "call", **change})
            else:
                arguments = card["arguments"] + change["arguments"]
                card.update(change, arguments=arguments)
    assert drawn == snapshot
    assert [p["kind"] for p in snapshot] == ["call", "call", "text"]
    assert [p["arguments"] for p in snapshot[:2]] == ['{"a": 1, "b": 2}', '{"a": 3, "b": 4}']
    assert snapshot[2]["text"] == reply.text and [p["state"] for p in snapshot[:2]] == ["done", "done"]


def test_the_offline_demo_model_calls_the_first_tool_once_per_year_and_reports_back(model_server):
    years = []

    def revenue_by_region(year: int) -> str:
        """Revenue per region."""
        years.append(year)
        return f"north,{year - 2000}"

    reply = ask(model_server, "Which region grew most from 2024 to 2025?", [revenue_by_region],
                model="ling-offline-demo?rate=0")
    assert years == [2024, 2025] and reply.status == "done" and reply.rounds == 2
    assert "- north,24\n- north,25" in reply.text and "Offline demo model" in reply.text


def test_history_shows_the_tool_calls_of_a_turn(model_server):
    from ling_notebook.render import history_bundle

    conversation = Conversation("t")
    reply = ask(model_server, 'call add {"a": 2, "b": 3}', [add])
    conversation.record("cell-1", "add them", reply)
    page = history_bundle(conversation)["text/html"]
    assert page.index("Tool add · done") < page.index("Tool results: add -&gt; 5")


def test_a_listener_attached_late_hears_of_the_calls_so_far(model_server):
    reply = Reply([{"role": "user", "content": 'call add {"a": 1, "b": 2}'}], settings(model_server, "test/tools"),
                  tools=toolbox([add]))
    reply.start().wait(10)
    heard = []
    ended = threading.Event()

    class Late:
        def on_status(self, reply): pass
        def on_delta(self, reply, content, reasoning): pass
        def on_end(self, reply): ended.set()
        def on_part(self, reply, call, arguments): heard.append((call.name, call.state, arguments))

    reply.add_listener(Late())
    assert ended.wait(10)
    assert heard == [("add", "done", '{"a": 1, "b": 2}')]
