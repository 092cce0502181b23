"""Prices and costs (cost.py): exact sums, clear errors, and every view that shows usage shows the cost."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ling_notebook import config, render
from ling_notebook.batch import Batch
from ling_notebook.batch_widget import summary_bundle
from ling_notebook.compare import Comparison
from ling_notebook.compare_widget import comparison_bundle
from ling_notebook.cost import Price, Prices, money, validate
from ling_notebook.errors import ConfigurationError
from ling_notebook.reply import Reply

KEY = "sk-cost-test-51f0e2d4c3b2a190"


@pytest.fixture(autouse=True)
def no_prices():
    yield
    config.configure(prices=None)


def settings(server, model: str = "test/echo", **more) -> config.Settings:
    return config.resolve(base_url=server.url, model=model, api_key=KEY, max_retries=0, log="off", **more)


def test_costs_are_exact_decimals_from_the_prices_as_written():
    prices = validate({"Ling-2.6-flash": {"input": 0.1, "output": 0.2}, "other": {"input": "3", "output": 15}})
    assert prices["Ling-2.6-flash"] == Price(Decimal("0.1"), Decimal("0.2"))
    assert prices.cost(1, 1, "Ling-2.6-flash") == Decimal("0.0000003")  # 0.1 + 0.2 as floats is not 0.3
    assert sum(prices.cost(333, 777, "other") for _ in range(1000)) == Decimal("12.654")
    assert prices.cost(10, 10, "unknown", "other") == Decimal("0.00018")  # the first model with a price
    assert prices.cost(10, 10, "unknown") is None and Prices().cost(1, 1, "other") is None
    assert [money(Decimal(x)) for x in ("0", "1", "0.5", "0.0000333", "0.00000001", "12.3456789")] == [
        "$0.00", "$1.00", "$0.50", "$0.000033", "< $0.000001", "$12.345679"]


@pytest.mark.parametrize(("prices", "message"), [
    ({"Ling-2.6-flash": {"input": 1}}, "prices['Ling-2.6-flash'] has no 'output' price"),
    ({"m": {"input": 1, "output": 2, "cached": 3}}, "prices['m'] has the unknown field 'cached'"),
    ({"m": {"input": -1, "output": 2}}, "prices['m']['input'] must be a finite number of US dollars, 0 or more"),
    ({"m": {"input": float("inf"), "output": 2}}, "prices['m']['input'] must be a finite number"),
    ({"m": {"input": 1, "output": KEY}}, "prices['m']['output'] must be a number of US dollars per million tokens"),
    ({"m": {"input": True, "output": 2}}, "prices['m']['input'] must be a number"),
    ({"m": 0.5}, "prices['m'] must be a dict"),
    ([("m", 1)], "prices must be a dict"),
    ("{not json", "the text given is not JSON"),
])
def test_a_bad_price_names_the_model_and_field_and_never_quotes_the_value(prices, message):
    with pytest.raises(ConfigurationError) as caught:
        config.configure(prices=prices)
    assert message in str(caught.value) and KEY not in str(caught.value)


def test_a_key_pasted_as_a_model_name_is_not_quoted_back():
    config.resolve(base_url="http://127.0.0.1:9/v1", api_key=KEY)  # the key is known from here on
    with pytest.raises(ConfigurationError) as caught:
        config.configure(prices={KEY: {"input": "x", "output": 1}})
    assert KEY not in str(caught.value) and "['input'] must be a number" in str(caught.value)


def test_prices_as_json_text_as_percent_config_gives_them():
    config.configure(prices='{"test/echo": {"input": 2, "output": 4}}')
    assert config.prices() == {"test/echo": Price(Decimal(2), Decimal(4))}
    assert ("prices", "test/echo: input 2, output 4 (USD per million tokens)", "configured") in config.describe()


def test_a_reply_its_static_copy_and_its_view_show_the_cost_when_prices_are_set(model_server):
    unpriced = Reply([{"role": "user", "content": "one two three"}], settings(model_server)).start()
    unpriced.wait(10)
    assert unpriced.cost is None and "$" not in render.status_line(unpriced)
    assert "cost" not in render.usage_state(unpriced)

    config.configure(prices={"test/echo": {"input": 1.5, "output": 10}})
    reply = Reply([{"role": "user", "content": "one two three"}], settings(model_server)).start()
    reply.wait(10)
    usage = reply.usage
    assert reply.cost == (usage.prompt_tokens * Decimal("1.5") + usage.completion_tokens * 10) / 1_000_000
    assert render.status_line(reply).endswith(f"= {usage.total_tokens} tokens · {money(reply.cost)} · finish: stop")
    assert money(reply.cost) in render.reply_bundle(reply)["text/html"]
    assert render.usage_state(reply) == {**vars(usage), "cost": money(reply.cost)}


def test_batch_and_comparison_summaries_show_the_cost_when_prices_are_set(model_server):
    config.configure(prices={"test/echo": {"input": 1, "output": 3}})
    batch = Batch([[{"role": "user", "content": f"item {n}"}] for n in range(20)], settings(model_server))
    batch.start().wait(10)
    usage = batch.usage
    assert batch.cost == Decimal(usage["prompt_tokens"] + 3 * usage["completion_tokens"]) / 1_000_000
    assert f"tokens · {money(batch.cost)}" in summary_bundle(batch)["text/html"]

    replies = [Reply([{"role": "user", "content": "compare me"}], settings(model_server, model)).start()
               for model in ("test/echo", "test/length?tokens=3")]
    for reply in replies:
        reply.wait(10)
    plain = comparison_bundle(Comparison(replies, ["test/echo", "test/length?tokens=3"]))["text/plain"]
    header, _, echo, length = plain.splitlines()[-4:]
    assert header.split()[-1] == "cost" and echo.split()[-1] == money(replies[0].cost) and length.split()[-1] == "–"

    config.configure(prices=None)
    assert Batch([[{"role": "user", "content": "x"}]], settings(model_server)).cost is None
    unpriced = Reply([{"role": "user", "content": "compare me"}], settings(model_server)).start()
    unpriced.wait(10)
    assert "cost" not in comparison_bundle(Comparison([unpriced], ["test/echo"]))["text/plain"]
