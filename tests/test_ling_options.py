"""Ant Ling's own options as keywords of `stream()`, `compare()` and `batch()`: `search=True` and `effort=...`
reach the request body exactly (`enable_search`, `reasoning.effort`) on the built-in server's records, and a
request that gives neither carries neither (other servers get them only when asked). The magic's `--search`
and `--effort` are tested in a kernel, in test_magics.py."""

from __future__ import annotations

import pytest

import ling_notebook
from ling_notebook.errors import ConfigurationError

ASKED = {"enable_search": True, "reasoning": {"effort": "xhigh"}, "search_options": {"forced_search": True}}
OWN_FIELDS = ("enable_search", "reasoning", "search_options")


@pytest.fixture
def server(model_server, monkeypatch, capsys):
    model_server.clear()
    monkeypatch.setenv("LING_BASE_URL", model_server.url)
    monkeypatch.setenv("LING_MODEL", "test/echo")
    monkeypatch.setenv("LING_LOG", "off")
    return model_server


def bodies(server) -> list[dict]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


CALLS = {
    "stream": lambda **kw: ling_notebook.stream("Hi", **kw),
    "compare": lambda **kw: ling_notebook.compare("Hi", ["test/echo", "test/echo?rate=inf"], **kw),
    "batch": lambda **kw: ling_notebook.batch(["a", "b"], **kw),
}


@pytest.mark.parametrize("call", CALLS)
def test_search_and_effort_reach_the_body_exactly(server, call):
    CALLS[call](search=True, effort="xhigh", extra_body={"search_options": {"forced_search": True}})
    sent = bodies(server)
    assert sent and all({k: body.get(k) for k in OWN_FIELDS} == ASKED for body in sent)


@pytest.mark.parametrize("call", CALLS)
def test_without_them_the_body_has_none_of_their_fields(server, call):
    CALLS[call](search=False)
    sent = bodies(server)
    assert sent and not any(k in body for body in sent for k in OWN_FIELDS)


@pytest.mark.parametrize("call", CALLS)
def test_a_bad_effort_is_refused_before_anything_is_sent(server, call):
    with pytest.raises(ConfigurationError, match=r"^effort must be high or xhigh \(the reasoning effort of Ring"):
        CALLS[call](effort="medium")
    assert bodies(server) == []
