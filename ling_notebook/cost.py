"""Prices and what tokens cost: `configure(prices={"Ling-2.6-flash": {"input": x, "output": y}})`, in USD
per million tokens. No price is built in (they change); without prices nothing shows a cost.

Costs are `Decimal`s, computed exactly from the prices as written (0.1 is one tenth, not the float nearest
to it), so sums over a session, a batch or the log add up to the cent; only `money` rounds, for display.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ._secrets import redact
from .errors import ConfigurationError

_MILLION = Decimal(1_000_000)
_SHOWN = Decimal("0.000001")  # the smallest cost `money` shows


@dataclass(frozen=True)
class Price:
    """USD per million prompt (input) and completion (output) tokens."""

    input: Decimal
    output: Decimal

    def of(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (prompt_tokens * self.input + completion_tokens * self.output) / _MILLION


class Prices(dict[str, Price]):
    """Model name -> `Price`; what the `prices` setting holds once validated."""

    def cost(self, prompt_tokens: int, completion_tokens: int, *models: str) -> Decimal | None:
        """The cost of these tokens at the price of the first of `models` that has one; None when none has."""
        price = next((self[name] for name in models if name in self), None)
        return None if price is None else price.of(prompt_tokens, completion_tokens)

    def __str__(self) -> str:
        if not self:
            return "none"
        return "; ".join(f"{name}: input {p.input}, output {p.output}" for name, p in self.items()) + \
            " (USD per million tokens)"


NO_PRICES = Prices()


def validate(value: Any) -> Prices:
    """`value` ({model: {"input": x, "output": y}}, or that as JSON text) as `Prices`; a ConfigurationError
    naming the model and field at fault, never quoting a value (it may be a key pasted in the wrong place)."""
    if isinstance(value, Prices):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigurationError('prices must be {"MODEL": {"input": USD, "output": USD}}, per million '
                                     "tokens; the text given is not JSON.") from None
    if not isinstance(value, Mapping):
        raise ConfigurationError('prices must be a dict: {"MODEL": {"input": USD, "output": USD}}, per million tokens.')
    prices = Prices()
    for model, price in value.items():
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError("prices: each model name must be a non-empty string.")
        shown = redact(model)[:100]
        if not isinstance(price, Mapping):
            raise ConfigurationError(f'prices[{shown!r}] must be a dict: {{"input": USD, "output": USD}}, per '
                                     "million tokens.")
        unknown = sorted(str(field) for field in price if field not in ("input", "output"))
        if unknown:
            raise ConfigurationError(f"prices[{shown!r}] has the unknown field {redact(unknown[0])[:40]!r}: "
                                     "give input and output (USD per million tokens).")
        amounts = {}
        for field in ("input", "output"):
            if field not in price:
                raise ConfigurationError(f"prices[{shown!r}] has no {field!r} price (USD per million tokens).")
            amounts[field] = _amount(price[field], f"prices[{shown!r}][{field!r}]")
        prices[model] = Price(**amounts)
    return prices


def _amount(value: Any, where: str) -> Decimal:
    # Through str(): a float's shortest repr is what was written (0.1 -> "0.1"), not its binary value.
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ConfigurationError(f"{where} must be a number of US dollars per million tokens.")
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        raise ConfigurationError(f"{where} must be a number of US dollars per million tokens.") from None
    if not amount.is_finite() or (isinstance(value, float) and not math.isfinite(value)) or amount < 0:
        raise ConfigurationError(f"{where} must be a finite number of US dollars, 0 or more.")
    return amount


def money(amount: Decimal) -> str:
    """A cost as shown: dollars to the millionth (tokens cost little each), trailing zeros dropped."""
    if 0 < amount < _SHOWN:
        return "< $0.000001"
    whole, _, cents = f"{amount.quantize(_SHOWN):f}".partition(".")
    return f"${whole}.{cents.rstrip('0').ljust(2, '0')}"
