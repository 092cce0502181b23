"""The built-in server's models, without HTTP: model names, the demo reply, and each scenario's plan."""

from __future__ import annotations

import pytest

from ling_notebook.server.records import RequestRecord, peak_open
from ling_notebook.server.scenarios import (
    DEMO_MODEL,
    HTTP_ERRORS,
    PIECE,
    ApiError,
    demo_reply,
    model_names,
    parse_model,
    plan_request,
)

HELLO = [{"role": "user", "content": "Hello there, model"}]


def body(model: str, messages: list | None = None, **fields) -> dict:
    return {"model": model, "messages": HELLO if messages is None else messages, **fields}


def sent(model: str, **fields) -> tuple[list[tuple[str | None, str]], str]:
    """The pieces a plan hands out, and its ending once they are all out."""
    plan = plan_request(body(model, **fields), demo_rate=40)
    pieces = list(plan.within_limit())
    return pieces, plan.ending


def words(n: int, prefix: str = "w", key: str = "content") -> list[tuple[str, str]]:
    return [(key, f" {prefix}{i}") for i in range(1, n + 1)]


@pytest.mark.parametrize("name, parsed", [
    (DEMO_MODEL, ("", {})),
    (f"{DEMO_MODEL}?rate=inf", ("", {"rate": float("inf")})),
    ("test/flood?tokens=5", ("flood", {"tokens": 5.0, "rate": 0.0})),
    ("test/trickle", ("trickle", {"tokens": 50, "rate": 20})),
    ("test/echo", ("echo", {"rate": 1000})),
    ("test/http-418", ("http-418", {})),
    ("Ling-2.6-flash", ("", {})),  # what %%ling sends when no model is configured
    ("Ling-2.6-flash?rate=0", ("", {"rate": 0.0})),
])
def test_model_names_parse_into_a_scenario_and_its_parameters(name, parsed):
    assert parse_model(name) == parsed


@pytest.mark.parametrize("name, status, param", [
    ("gpt-nope", 404, None), ("test/http-200", 404, None), ("test/flood?colour=red", 400, "model"),
    ("test/flood?tokens=-1", 400, "model"), ("test/flood?tokens=many", 400, "model"),
    (f"{DEMO_MODEL}?tokens=3", 400, "model"),
])
def test_bad_model_names_are_refused_like_the_real_api(name, status, param):
    with pytest.raises(ApiError) as caught:
        parse_model(name)
    assert caught.value.status == status and caught.value.body()["error"]["param"] == param


def test_the_demo_model_is_listed_first_then_every_scenario():
    names = model_names()
    assert names[0] == DEMO_MODEL and "test/utf8" in names and "test/http-503" in names
    assert "Ling-2.6-flash" in names


def test_the_demo_answering_for_the_default_model_says_it_is_the_demo():
    pieces, ending = sent("Ling-2.6-flash")
    text = "".join(text for _, text in pieces)
    assert text.startswith("A demo answer about ")
    assert text.endswith("\n\n*Offline demo model, answering for `Ling-2.6-flash` — no API key, no network.*\n")
    assert "| model | `ling-offline-demo` |" in text and ending == "stop"


def test_the_demo_reply_is_labelled_deterministic_markdown_about_the_prompt():
    reply = demo_reply("Tell me about tide pools")
    assert reply.startswith("A demo answer about “Tell me about tide pools”. ") and "## About “" in reply
    assert reply.endswith("\n\n*Offline demo model — no API key, no network.*\n")  # labelled, at the end
    assert reply == demo_reply("Tell me about tide pools") != demo_reply("Something else")
    assert "```python" in reply and "| model | `ling-offline-demo` |" in reply


def test_the_demo_plan_is_its_reply_cut_into_tokens_after_an_empty_chunk():
    pieces, ending = sent(DEMO_MODEL)
    assert pieces[0] == ("content", "") and ending == "stop"
    assert [text for _, text in pieces[1:]] == PIECE.findall(demo_reply("Hello there, model"))


def test_the_demo_runs_at_the_servers_rate_unless_the_name_says_otherwise():
    assert plan_request(body(DEMO_MODEL), demo_rate=40).rate == 40
    assert plan_request(body(f"{DEMO_MODEL}?rate=0"), demo_rate=40).rate == 0


def test_echo_sends_the_last_user_message_in_four_character_pieces():
    messages = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"},
                {"role": "user", "content": [{"type": "text", "text": "second one"}]}]
    pieces, _ = sent("test/echo", messages=messages)
    assert pieces == [("content", "seco"), ("content", "nd o"), ("content", "ne")]


@pytest.mark.parametrize("model, expected, ending", [
    ("test/flood?tokens=3", words(3), "stop"),
    ("test/length?tokens=2", words(2), "length"),
    ("test/content-filter?tokens=1", words(1), "content_filter"),
    ("test/reasoning?reasoning=2&tokens=1", words(2, "r", "reasoning_content") + words(1), "stop"),
    ("test/empty-chunks?tokens=2", [("content", " w1"), ("content", ""), ("content", " w2"), (None, "")], "stop"),
    ("test/error-mid?after=2", words(2), "error"),
    ("test/drop?after=1", words(1), "drop"),
    ("test/truncate?after=1", words(1), "truncate"),
    ("test/stall?after=3", words(3), "stall"),
])
def test_each_scenario_plans_its_pieces_and_ending(model, expected, ending):
    assert sent(model) == (expected, ending)


def test_markdown_is_the_demos_answers_one_after_another_for_as_many_tokens_as_asked():
    one = PIECE.findall(demo_reply("part 1 of a long answer"))
    two = PIECE.findall(demo_reply("part 2 of a long answer"))
    pieces, ending = sent(f"test/markdown?tokens={len(one) + 5}")
    assert [p for _, p in pieces] == one + two[:5] and ending == "stop"
    assert "```python" in "".join(one) and "| --- |" in "".join(one)


def test_utf8_pieces_are_split_on_the_wire_and_slow_start_waits():
    assert plan_request(body("test/utf8"), 40).split_utf8
    assert plan_request(body("test/slow-start?delay=0.5"), 40).delay == 0.5


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cuts_any_plan_with_length(limit):
    pieces, ending = sent("test/flood?tokens=10", **{limit: 4})
    assert pieces == words(4) and ending == "length"
    assert sent("test/flood?tokens=4", **{limit: 4}) == (words(4), "stop")


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 503, 418])
def test_http_scenarios_raise_the_real_apis_error(status):
    with pytest.raises(ApiError) as caught:
        plan_request(body(f"test/http-{status}"), 40)
    error = caught.value
    assert error.status == status
    assert error.body()["error"]["code"] == HTTP_ERRORS.get(status, ("", "", "simulated"))[2]
    assert ("retry-after-ms" in error.headers) == (status in (429, 503))


@pytest.mark.parametrize("fields, param", [
    ({"model": None}, "model"), ({"messages": []}, "messages"), ({"max_tokens": 0}, "max_tokens"),
    ({"max_completion_tokens": 1.5}, "max_completion_tokens"),
])
def test_bad_bodies_are_400_naming_the_field(fields, param):
    with pytest.raises(ApiError) as caught:
        plan_request({**body("test/echo"), **fields}, 40)
    assert caught.value.status == 400 and caught.value.param == param


def test_picky_refuses_prompts_with_fail_and_echoes_the_others():
    ok = [{"role": "user", "content": "fine"}]
    assert sent("test/picky", messages=ok) == ([("content", "fine")], "stop")
    bad = body("test/picky?status=400", [{"role": "user", "content": "please FAIL"}])
    with pytest.raises(ApiError) as caught:
        plan_request(bad, 40, attempts=lambda: 7)
    assert caught.value.status == 400


def test_flaky_refuses_the_first_attempts_of_each_prompt_then_echoes():
    model = body("test/flaky?fails=2&after=3", [{"role": "user", "content": "again"}])
    for attempt in (0, 1):
        with pytest.raises(ApiError) as caught:
            plan_request(model, 40, attempts=lambda attempt=attempt: attempt)
        assert caught.value.status == 429 and caught.value.headers == {"retry-after": "3"}
    assert [t for _, t in plan_request(model, 40, attempts=lambda: 2).within_limit()] == ["agai", "n"]


def test_a_refusal_without_a_delay_asks_for_a_quick_retry_and_status_must_be_an_error():
    with pytest.raises(ApiError) as caught:
        plan_request(body("test/flaky"), 40)
    assert "retry-after-ms" in caught.value.headers
    with pytest.raises(ApiError) as caught:
        plan_request(body("test/flaky?status=200"), 40)
    assert caught.value.status == 400 and caught.value.param == "model"


def _record(n: int, start: float, end: float | None, left: float | None = None) -> RequestRecord:
    return RequestRecord(n, "POST", "/v1/chat/completions", {}, started_at=start, finished_at=end,
                         disconnected_at=left)


def test_peak_open_counts_overlapping_requests_only():
    assert peak_open([]) == 0
    back_to_back = [_record(1, 0, 1), _record(2, 1, 2), _record(3, 2, 3)]
    assert peak_open(back_to_back) == 1
    overlapping = [_record(1, 0, 5), _record(2, 1, None), _record(3, 2, 9, left=3), _record(4, 4, 6)]
    assert peak_open(overlapping) == 3  # at t=2: 1, 2 and 3; 3 left at t=3 before 4 came


def test_the_demo_answers_to_the_clients_default_model():
    from ling_notebook.config import DEFAULT_MODEL
    from ling_notebook.server.scenarios import DEMO_ALIASES

    assert DEFAULT_MODEL in DEMO_ALIASES
