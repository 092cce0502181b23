"""Redaction: the one function that removes the secrets this process knows from text a user can see.

Secrets are API keys and every other credential a request can carry: the user name, password and
query values of a URL (`remember_url`), and the values of headers and query fields a user adds
(`remember_values`). `Settings` remembers its own when it is made, a reply those of its request.
Each is removed by `redact` from every message a user can see: `LingError` runs its message through
`redact`, so no error of ours can carry a key, and the reply's `error`, the widget and the terminal
printer only ever show such messages. Where a URL is shown, it is shown by `shown_url`.
`redact` also catches the forms a key takes inside other text: `repr` and bytes `repr` escapes,
JSON escapes, percent-encoding, and those applied twice (a repr inside a repr).
Loggers of ours carry `RedactingFilter`, which does the same for log records, and so do those of the
HTTP stack (the SDK logs each request's options and headers, the HTTP client its URL).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

# Shorter "keys" are placeholders (or typos); removing them would mangle every message.
_MIN_LENGTH = 4
MASK = "***"

_known: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def remember(key: str | None) -> None:
    """Add a key to those `redact` removes."""
    global _pattern
    if not key or len(key) < _MIN_LENGTH:
        return
    with _lock:
        if key in _known:
            return
        _known.add(key)
        forms = sorted({form for known in _known for form in _forms(known)}, key=len, reverse=True)
        # Case-insensitive: percent-encoding may use either case, and masking a near-copy costs nothing.
        _pattern = re.compile("|".join(map(re.escape, forms)), re.IGNORECASE)


# A URL's user name shorter than this is a name (`user`, `admin`), not a key: masking such a word in every
# message would garble them (a log's `"role": "user"`), and URLs are shown without it anyway (`shown_url`).
_MIN_USERNAME = 8


def remember_url(url: str) -> None:
    """Add the credentials a URL may carry: its password, its user name when it may be a key (long enough,
    or alone, as gateways that take the key as the user name have it), and every query value (gateways take
    keys there, `?api-key=...`; no query value is known to be harmless)."""
    parts = urlsplit(url)
    username = parts.username
    if username and (parts.password is None or len(username) >= _MIN_USERNAME):
        remember(username)
    for secret in (parts.password, *(value for _, value in parse_qsl(parts.query, True))):
        remember(secret)


def remember_values(fields: Any) -> None:
    """Add every value of headers or query fields a user set (an `Authorization`, an `api-key`, ...)."""
    if not isinstance(fields, Mapping):
        return
    for value in fields.values():
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str):  # not the SDK's markers (`Omit()`) that remove a header
            remember(value)


def shown_url(url: str) -> str:
    """`url` as a user may see it: no user name or password, every query value masked, no fragment."""
    parts = urlsplit(url)
    query = urlencode([(name, MASK) for name, _ in parse_qsl(parts.query, True)], safe=MASK)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, query, ""))


def redact(text: str) -> str:
    """`text` with every known key, in any of its escaped forms, replaced by ***."""
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None and text else text


def _forms(key: str) -> set[str]:
    """The key as it appears inside reprs, JSON, URLs and headers; twice over for nested escapes.

    A key with line breaks or control characters inside (only a user's own client can hold one)
    is also removed line by line, since a layer may show it cut at a line break.
    """
    forms = {key, key.strip(), *re.split(r"[\x00-\x20\x7f]+", key)}
    for _ in range(2):
        forms |= {escaped for form in forms for escaped in _escapes(form)}
    return {form for form in forms if len(form) >= _MIN_LENGTH}


def _escapes(text: str) -> list[str]:
    return [
        repr(text)[1:-1],
        repr(text.encode("utf-8", "backslashreplace"))[2:-1],
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        quote(text, safe=""),
        quote(text),
        quote_plus(text),
    ]


def redact_logs_of(*packages: str) -> None:
    """Give `RedactingFilter` to every logger of `packages` that exists: a logger's filters see only the
    records logged on it, not those its children pass up."""
    for name in list(logging.Logger.manager.loggerDict):
        logger = logging.getLogger(name)
        if name.split(".")[0].startswith(packages) and not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record's message and traceback before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
