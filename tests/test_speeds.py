"""Speeds only where they mean something: one rule (`reply.rate`, `Reply.tokens_per_s`, `Reply.ttft`) that the
status line, the comparison summary and the batch progress all show, "–" or nothing otherwise."""

from __future__ import annotations

import pytest

from ling_notebook import config, engine, render
from ling_notebook.batch import Batch, progress_line
from ling_notebook.compare import Comparison
from ling_notebook.compare_widget import summary_rows
from ling_notebook.reply import MIN_RATE_SECONDS, MIN_RATE_TOKENS, Reply, rate


def made_reply(*, stream: bool = True, tokens: int = 100, first_token: float = 0.5, total: float = 3.0,
               status: str = "done") -> Reply:
    """A reply that ended with these numbers (times in seconds after the request was sent)."""
    settings = config.resolve(base_url="http://127.0.0.1:9/v1", model="m")
    reply = Reply([{"role": "user", "content": "hi"}], settings, stream=stream)
    reply.started_at = 1000.0
    reply.first_token_at = 1000.0 + first_token
    reply.ended_at = 1000.0 + total
    reply.usage = engine.Usage(prompt_tokens=3, completion_tokens=tokens, total_tokens=3 + tokens)
    reply.chunks = tokens
    reply.status = status
    reply.finish_reason = "stop"
    return reply


def test_the_rate_needs_a_few_tokens_and_a_measurable_time():
    assert rate(100, 2.0) == 50.0
    assert rate(MIN_RATE_TOKENS, MIN_RATE_SECONDS) == MIN_RATE_TOKENS / MIN_RATE_SECONDS
    assert rate(MIN_RATE_TOKENS - 1, 10.0) is None  # a word or two
    assert rate(5000, MIN_RATE_SECONDS / 10) is None  # came in one burst
    assert rate(0, 0.0) is None


def test_a_streamed_reply_has_its_first_token_and_speed():
    reply = made_reply(tokens=100, first_token=0.5, total=2.5)
    assert reply.ttft == 0.5 and reply.tokens_per_s == 50.0
    assert "first token 0.50 s · 50 tokens/s" in render.status_line(reply)


def test_a_reply_sent_without_streaming_has_no_first_token_and_no_speed_but_its_total_time():
    # The text arrives at once at the end: "first token 6.18 s · 258310 tokens/s" was the old nonsense.
    reply = made_reply(stream=False, tokens=300, first_token=6.18, total=6.181)
    assert reply.ttft is None and reply.tokens_per_s is None
    line = render.status_line(reply)
    assert "total 6.18 s" in line and "first token" not in line and "tokens/s" not in line
    (row,) = summary_rows(Comparison([reply], ["m"]))
    assert row[1:3] == ("–", "–") and row[-1] == "6.18 s"


@pytest.mark.parametrize("tokens, first_token, total", [(2, 0.2, 5.0), (300, 1.0, 1.01)])
def test_too_few_tokens_or_too_short_a_time_shows_no_speed_anywhere(tokens, first_token, total):
    reply = made_reply(tokens=tokens, first_token=first_token, total=total)
    assert reply.tokens_per_s is None
    assert "tokens/s" not in render.status_line(reply)
    (row,) = summary_rows(Comparison([reply], ["m"]))
    assert row[2] == "–"


def test_a_batch_shows_a_speed_by_the_same_rule():
    settings = config.resolve(base_url="http://127.0.0.1:9/v1", model="m")
    batch = Batch([[{"role": "user", "content": "hi"}]], settings)
    batch._spent["completion_tokens"] = 3  # three tokens: too few to be a speed
    batch._elapsed_before = 2.0
    assert batch.progress()["tokens_per_s"] is None and "tokens/s" not in progress_line(batch.progress())
    batch._spent["completion_tokens"] = 300
    assert batch.progress()["tokens_per_s"] == 150.0


def test_a_reply_sent_without_streaming_against_the_server(model_server):
    settings = config.resolve(base_url=model_server.url, model="ling-offline-demo", max_retries=0)
    reply = Reply([{"role": "user", "content": "hi"}], settings, stream=False).start()
    reply.wait(20)
    assert reply.status == "done" and reply.usage is not None and reply.usage.completion_tokens > 50
    assert reply.ttft is None and reply.tokens_per_s is None
    assert "total " in render.status_line(reply)
