"""Every credential, not only the API key, stays out of what a user sees: URL user names, passwords and query
values, header values, a key pasted as the model name, and the locals of a refused key's traceback."""

from __future__ import annotations

import json
import re
import socket
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
import pytest
from IPython.core.ultratb import VerboseTB
from secret_forms import leaked

import ling_notebook
from ling_notebook import _secrets, config, render
from ling_notebook.batch_widget import summary_bundle
from ling_notebook.compare_widget import comparison_bundle
from ling_notebook.errors import ConfigurationError
from ling_notebook.reply import Reply
from ling_notebook.widget import ReplyWidget

USER, PASSWORD, QUERY_KEY, HEADER_KEY = "gw-user-5d1e9c", "gw-pass-77aa0b", "q-key-91c3e2", "hdr-key-3f0a4d"
KEY = "sk-shown-test-6c2b81"
CREDENTIALS = (KEY, USER, PASSWORD, QUERY_KEY, HEADER_KEY)
MESSAGES = [{"role": "user", "content": "hi"}]


def with_credentials(url: str, query: bool = True) -> str:
    """`url` with a user name and password, and (Azure style) a key in its query."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{USER}:{PASSWORD}@{parts.netloc}",
                                     query=f"api-key={QUERY_KEY}" if query else ""))


def unreachable_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def assert_hidden(texts: list[str], secrets: tuple[str, ...] = CREDENTIALS) -> None:
    shown = "\n".join(texts)
    assert {secret: leaked(shown, secret) for secret in secrets} == dict.fromkeys(secrets, []), shown


def shown(bundle: dict[str, Any]) -> list[str]:
    """Every value of an output bundle, as text."""
    return [value if isinstance(value, str) else json.dumps(value) for value in bundle.values()]


def views_of(reply: Reply) -> list[str]:
    """What a user can read of an ended reply: its error and repr, its settings, its static copy."""
    return [reply.error or "", repr(reply), repr(reply.settings), *shown(render.reply_bundle(reply))]


@pytest.mark.parametrize("where", ["http-401", "query-in-url", "connection"])
def test_credentials_in_the_url_and_headers_show_nowhere(model_server, where):
    base, params = model_server.url, {"extra_headers": {"X-Gateway-Key": HEADER_KEY}}
    if where == "http-401":  # the query key goes as a request option, so the server answers the model: 401
        url = with_credentials(base, query=False)
        params["extra_query"] = {"api-key": QUERY_KEY}
    else:  # the SDK appends the path after a query in the URL: the server answers 404 (or nothing listens)
        url = with_credentials(base if where == "query-in-url" else unreachable_url())
    settings = config.resolve(base_url=url, model="test/http-401", api_key=KEY, max_retries=0)
    reply = Reply(MESSAGES, settings, params=params).start()
    reply.wait(20)
    assert reply.status == "error" and (where != "http-401" or "HTTP 401" in reply.error)
    assert urlsplit(url).port is not None and f":{urlsplit(url).port}/v1" in reply.error  # the URL, shown
    config.configure(base_url=url)
    try:
        described = [" ".join(row) for row in config.describe()]
    finally:
        config.configure(base_url=None)
    assert_hidden([*views_of(reply), *described])


def test_the_url_is_shown_without_user_password_or_query_values():
    shown = _secrets.shown_url(f"https://{USER}:{PASSWORD}@gw.example.com:8443/v1?api-key={QUERY_KEY}&v=2#x")
    assert shown == "https://gw.example.com:8443/v1?api-key=***&v=***"
    settings = config.resolve(base_url=with_credentials("https://gw.example.com/v1"), model="m", api_key=KEY)
    assert settings.shown_url == "https://gw.example.com/v1?api-key=***" and settings.shown_url in repr(settings)


def test_no_message_quotes_a_refused_or_keyless_url(monkeypatch):
    monkeypatch.delenv("LING_API_KEY", raising=False)
    monkeypatch.delenv("ANT_LING_API_KEY", raising=False)
    fresh = ("sk-pasted-into-timeout-1e5f", "sk-pasted-as-url-88c0", "ftp-pass-3d9a")  # known to no one
    messages = []
    for name, value in [("timeout", fresh[0]), ("frame_interval", fresh[0]), ("max_retries", fresh[0]),
                        ("base_url", fresh[1]), ("base_url", f"ftp://u:{fresh[2]}@h/v1"), ("base_url", "http://[x")]:
        with pytest.raises(ConfigurationError) as refused:
            config.validate(name, value)
        messages.append(str(refused.value))
    with pytest.raises(ConfigurationError) as keyless:
        config.resolve(base_url=with_credentials("https://gw.example.com/v1"))
    assert "No API key found for https://gw.example.com/v1?api-key=***." in str(keyless.value)
    assert_hidden([*messages, str(keyless.value)], (*fresh, USER, PASSWORD, QUERY_KEY))


def test_a_users_own_client_has_its_url_headers_and_query_redacted(model_server):
    client = openai.AsyncOpenAI(
        api_key=KEY, base_url=with_credentials(model_server.url, query=False), max_retries=0,
        default_headers={"X-Gateway-Key": HEADER_KEY}, default_query={"api-key": QUERY_KEY},
    )
    reply = Reply(MESSAGES, config.resolve(client=client, model="test/http-401")).start()
    reply.wait(20)
    assert "HTTP 401" in reply.error
    assert_hidden([*views_of(reply), _secrets.redact(f"{USER} {PASSWORD} {QUERY_KEY} {HEADER_KEY}")])
    sdk_headers = "Accept: application/json; python; Linux; CPython; x64; async:asyncio"
    assert _secrets.redact(sdk_headers) == sdk_headers  # the SDK's own headers are no secrets


def test_a_key_pasted_as_the_model_name_shows_in_no_view(model_server, monkeypatch, capsys):
    monkeypatch.setenv("LING_BASE_URL", model_server.url)
    monkeypatch.setenv("LING_API_KEY", KEY)
    reply = Reply(MESSAGES, config.resolve(model=KEY)).start()
    reply.wait(20)
    assert reply.status == "error"  # the built-in server knows no such model
    widget = ReplyWidget(reply)
    comparison = ling_notebook.compare("hi", models=[KEY, "test/echo"])  # outside Jupyter: prints, then returns
    batch = ling_notebook.batch(["hi"], model=KEY)
    config.configure(model=KEY)
    try:
        described = [" ".join(row) for row in config.describe()]
    finally:
        config.configure(model=None)
    printed = capsys.readouterr()
    assert_hidden([
        reply.model, *views_of(reply), widget.model_name, json.dumps(widget.get_state(), default=str),
        repr(comparison), *shown(comparison_bundle(comparison)), printed.out, printed.err,
        json.dumps(batch.progress(), default=str), *shown(summary_bundle(batch)), *described,
    ], (KEY,))
    assert [r.model for r in comparison] == ["***", "test/echo"] and comparison.models == ["***", "test/echo"]


REFUSED = "sk-refused-6e1d04\nsecond-half-90ab7c"  # a pasted key with a line break: refused before sending
PACKAGE = str(Path(ling_notebook.__file__).parent)


@pytest.mark.parametrize("call", [
    lambda: ling_notebook.stream("hi", api_key=REFUSED),
    lambda: ling_notebook.compare("hi", models=["a", "b"], api_key=REFUSED),
    lambda: ling_notebook.batch(["hi"], api_key=REFUSED),
    lambda: ling_notebook.configure(api_key=REFUSED),
    None,  # the key in LING_API_KEY
], ids=["stream", "compare", "batch", "configure", "environment"])
def test_no_frame_in_a_refused_keys_traceback_holds_it(model_server, monkeypatch, call):
    monkeypatch.setenv("LING_BASE_URL", model_server.url)
    if call is None:
        monkeypatch.setenv("LING_API_KEY", REFUSED)
        call = lambda: ling_notebook.stream("hi")  # noqa: E731
    with pytest.raises(ConfigurationError, match="contains a line break") as refused:
        call()
    error, ours = refused.value, refused.value.__traceback__
    while ours is not None and not ours.tb_frame.f_code.co_filename.startswith(PACKAGE):  # the test's own frames
        ours = ours.tb_next
    assert ours is not None
    with_locals = "".join(traceback.TracebackException(type(error), error, ours, capture_locals=True).format())
    verbose = re.sub(r"\x1b\[[0-9;]*m", "", VerboseTB().text(type(error), error, ours))  # without its colours
    assert " = " in with_locals  # the frames were shown, with their variables
    assert_hidden([with_locals, verbose], (REFUSED,))


def test_a_short_user_name_beside_a_password_is_a_name_not_a_key():
    _secrets.remember_url("http://user:pw-5ecret-4417@gw.example.com/v1")
    assert _secrets.redact('{"role": "user", "content": "pw-5ecret-4417"}') == '{"role": "user", "content": "***"}'
    _secrets.remember_url("http://sk-alone-key-0042@gw.example.com/v1")  # a key given as the user name
    assert _secrets.redact("sk-alone-key-0042") == "***"
