"""Redaction: a known API key, in any escaped form, never survives into an error, a repr or a log line."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest
from secret_forms import forms, leaked

from ling_notebook import _secrets, config
from ling_notebook.errors import ConfigurationError, LingError, ReplyError

KEY = "sk-redact-Q7'x\"y/z é\tend"  # a user's own client may hold any of these characters


@pytest.fixture(autouse=True)
def known_key():
    _secrets.remember(KEY)


@pytest.mark.parametrize("form", sorted(forms(KEY)))
def test_every_form_of_the_key_is_masked(form):
    text = _secrets.redact(f"before {form} after")
    assert leaked(text, KEY) == [] and text.startswith("before ") and text.endswith(" after")


def test_escapes_of_escapes_and_either_percent_case_are_masked():
    for text in (repr(repr(KEY)), repr(json.dumps(KEY)), json.dumps(repr(KEY.encode())), quote(KEY).lower(),
                 f"Illegal header value b'Bearer {KEY}\\n'", f"Authorization: Bearer {KEY}"):
        assert leaked(_secrets.redact(text), KEY) == [], text


@pytest.mark.parametrize("make", [
    lambda m: ReplyError(m, kind="auth", status_code=401),
    lambda m: ConfigurationError(m),
    lambda m: LingError(m),
])
def test_no_error_of_ours_can_be_built_with_the_key(make):
    error = make(f"rejected {KEY!r} ({json.dumps(KEY)})")
    shown = [str(error), repr(error), *map(str, error.args), getattr(error, "message", "")]
    assert all(leaked(text, KEY) == [] for text in shown) and str(error) == "rejected '***' (\"***\")"


def test_a_key_remembered_after_the_error_was_made_is_masked_when_shown():
    later = "sk-remembered-later-5150"
    error = ReplyError(f"server said {later}", kind="auth")
    _secrets.remember(later)
    assert later not in str(error) and later not in repr(error) and later not in error.message


def test_every_settings_object_remembers_its_key_but_not_the_placeholder():
    settings = config.Settings(base_url="http://h/v1", model="m", timeout=1, max_retries=0, frame_interval=0.1,
                               api_key="sk-made-by-hand-8080", key_source="argument")
    assert _secrets.redact(f"x {settings.api_key} y") == "x *** y"
    config.resolve(base_url="http://127.0.0.1:9/v1")  # no key: the placeholder is sent, and is no secret
    assert _secrets.redact(config.NO_KEY) == config.NO_KEY


def test_the_logging_filter_masks_messages_arguments_and_tracebacks(caplog):
    logger = logging.getLogger("ling_notebook.test_secrets")
    logger.addFilter(_secrets.RedactingFilter())
    try:
        raise ValueError(f"bad header {KEY.encode()!r}")
    except ValueError:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.exception("request with %r failed", f"Bearer {KEY}")
    assert caplog.records and leaked(caplog.text, KEY) == []
    assert "request with 'Bearer ***' failed" in caplog.text and "ValueError: bad header b'***'" in caplog.text
