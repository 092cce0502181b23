"""Tool calls in the engine: `delta.tool_calls` in pieces become typed events, through the real `openai`
client over real HTTP against the built-in server's `test/tools` scenario."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from test_engine import settings

from ling_notebook import engine
from ling_notebook.server.scenarios import ApiError, plan_request


def run(server, model: str, messages: list[dict], *, stream: bool = True, **params) -> list[engine.Event]:
    async def go() -> list[engine.Event]:
        return [e async for e in engine.stream_events(messages, settings(server, model), stream=stream, **params)]

    return asyncio.run(go())


def calls_of(events: list[engine.Event]) -> dict[int, tuple[str, str, str]]:
    """index -> (id, name, arguments joined)."""
    calls: dict[int, list[str]] = {}
    for e in events:
        if isinstance(e, engine.ToolCallStarted):
            assert e.index not in calls, "a call starts once"
            calls[e.index] = [e.id, e.name, ""]
        elif isinstance(e, engine.ToolCallDelta):
            calls[e.index][2] += e.arguments
    return {i: (c[0], c[1], c[2]) for i, c in calls.items()}


TOOLS = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}]
PROMPT = 'call add {"a": 1, "b": 22}\ncall lookup {"key": "naïve 👋"}'


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("interleave", [0, 1])
def test_parallel_calls_arrive_with_names_ids_and_whole_arguments(model_server, stream, interleave):
    events = run(model_server, f"test/tools?pieces=3&interleave={interleave}", [{"role": "user", "content": PROMPT}],
                 stream=stream, tools=TOOLS)
    assert calls_of(events) == {0: ("call_0_0", "add", '{"a": 1, "b": 22}'),
                                1: ("call_0_1", "lookup", '{"key": "naïve 👋"}')}
    assert [e.reason for e in events if isinstance(e, engine.Finished)] == ["tool_calls"]
    assert not any(isinstance(e, engine.Failed) for e in events)
    if stream:  # in pieces, and each piece after its call's start
        assert sum(isinstance(e, engine.ToolCallDelta) for e in events) > 4
    assert model_server.last_request().body["tools"] == TOOLS


def test_the_answer_uses_the_tool_results_sent_in_the_next_request(model_server):
    first = run(model_server, "test/tools", [{"role": "user", "content": PROMPT}], tools=TOOLS)
    calls = calls_of(first)
    messages = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls.values()]},
        *({"role": "tool", "tool_call_id": i, "content": f"result of {n}"} for i, n, _ in calls.values()),
    ]
    second = run(model_server, "test/tools", messages, tools=TOOLS)
    text = "".join(e.text for e in second if isinstance(e, engine.ContentDelta))
    assert text == "Tool results: add -> result of add; lookup -> result of lookup"
    assert [e.reason for e in second if isinstance(e, engine.Finished)] == ["stop"]


def test_unanswered_tool_calls_are_refused_like_the_real_api():
    messages = [{"role": "user", "content": PROMPT},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                      "function": {"name": "add", "arguments": "{}"}}]}]
    with pytest.raises(ApiError, match="c1"):
        plan_request({"model": "test/tools", "messages": messages}, 0)


def test_bad_json_and_unknown_names_are_streamed_as_the_model_sent_them(model_server):
    prompt = 'call add {"a": 1,\ncall no_such_tool {}'
    events = run(model_server, "test/tools?pieces=1", [{"role": "user", "content": prompt}], tools=TOOLS)
    assert [(n, a) for _, n, a in calls_of(events).values()] == [("add", '{"a": 1,'), ("no_such_tool", "{}")]


def test_a_model_that_never_stops_calls_again_each_round():
    messages: list[dict] = [{"role": "user", "content": "call add {}"}]
    for round_ in range(3):
        plan = plan_request({"model": "test/tools?rounds=1e9", "messages": messages}, 0)
        assert plan.ending == "tool_calls"
        call_id = f"call_{round_}_0"
        messages += [{"role": "assistant", "tool_calls": [{"id": call_id, "type": "function",
                                                           "function": {"name": "add", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": call_id, "content": "0"}]


def _delta(index=None, id=None, name=None, arguments=None):
    return SimpleNamespace(index=index, id=id, function=SimpleNamespace(name=name, arguments=arguments))


def test_pieces_split_anywhere_and_interleaved_assemble_by_index():
    arguments = {0: json.dumps({"city": "Zürich", "days": [1, 2]}), 1: '{"q": "\\"quoted\\""}'}
    calls = engine.ToolCalls()
    events: list[engine.Event] = []
    # Arguments before the name (some servers), then the name, then one character at a time, interleaved.
    events += calls.add(_delta(1, arguments=arguments[1][:2]))
    events += calls.add(_delta(0, "id0", "weather"))
    events += calls.add(_delta(1, "id1", "search"))
    for i in range(max(map(len, arguments.values()))):
        for index in (0, 1):
            if i >= 2 or index == 0:
                piece = arguments[index][i:i + 1]
                if piece:
                    events += calls.add(_delta(index, arguments=piece))
    assert calls_of(events) == {0: ("id0", "weather", arguments[0]), 1: ("id1", "search", arguments[1])}
    assert isinstance(events[0], engine.ToolCallStarted) and events[0].name == "weather"


def test_a_call_without_an_id_gets_one():
    events = engine.ToolCalls().add(_delta(0, None, "f", "{}"))
    assert events == [engine.ToolCallStarted(0, "call_0", "f"), engine.ToolCallDelta(0, "{}")]
