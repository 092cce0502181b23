"""Settings resolution: the one place that reads the environment.

Precedence, highest first: an explicit argument > `configure(...)` / `%config LingMagics.x` >
environment variables > built-in defaults. `resolve()` returns the effective `Settings` and, for
`%ling config`, where each value came from.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import ipaddress
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import platformdirs

from . import _secrets, cost
from .errors import ConfigurationError, LingError

DEFAULT_BASE_URL = "https://api.ant-ling.com/v1"
DEFAULT_MODEL = "Ling-2.6-flash"

KEY_VARIABLES = ("LING_API_KEY", "ANT_LING_API_KEY")
NO_KEY = "not-needed"  # sent to loopback servers when no key is set; not a secret
DEFAULT_LOG = str(platformdirs.user_data_path("ling-notebook", appauthor=False) / "replies.sqlite")

# name -> (default, environment variable, help); the single declaration of every setting.
OPTIONS: dict[str, tuple[Any, str | None, str]] = {
    "base_url": (DEFAULT_BASE_URL, "LING_BASE_URL", "Base URL of the OpenAI-compatible API."),
    "model": (DEFAULT_MODEL, "LING_MODEL", "Model name sent with each request."),
    "api_key_env": (None, None, "Name of an environment variable that holds the API key (instead of LING_API_KEY)."),
    "timeout": (60.0, "LING_TIMEOUT", "Seconds to wait for the server to connect or to send the next chunk."),
    "max_retries": (2, None, "How often a failed request (429, 5xx, connection error) is retried before streaming."),
    "frame_interval": (0.04, None, "Seconds between updates sent to the browser while a reply streams."),
    "log": (DEFAULT_LOG, "LING_LOG", "The SQLite file every reply is recorded in, or off (record.py)."),
    "replay": (False, "LING_REPLAY", "Answer a request identical to a complete reply in the log from the log, "
               "without sending it."),
    "prices": (cost.NO_PRICES, None, 'USD per million tokens by model, {"MODEL": {"input": x, "output": y}}: '
               "replies, batches, comparisons and %ling usage then show costs (cost.py). None built in."),
    "background": (True, None, "Stream in the background: the cell ends at once and the reply goes on. False: "
                   "the cell waits while the reply streams (interrupt the kernel to stop it); the default in "
                   "Google Colab, which shows no update sent after its cell ended."),
}

# Request fields that may also be session defaults: name -> (magic flag, help). Unset: the server's default.
# A value given with the request (the cell's option, a keyword of stream()) wins over the session's.
REQUEST_OPTIONS: dict[str, tuple[str, str]] = {
    "temperature": ("--temperature", "Sampling temperature, 0 to 2."),
    "top_p": ("--top-p", "Nucleus sampling, 0 to 1."),
    "max_tokens": ("--max-tokens", "Most tokens a reply may have."),
}

# Ant Ling's own request options, as keywords of stream(), compare() and batch() and as the magic's flags:
# name -> (magic flag, help). Each goes into the body as its API field only when given, so other servers never
# get it unasked (`request_params`).
LING_OPTIONS: dict[str, tuple[str, str]] = {
    "search": ("--search", "Let the model search the web (Ant Ling's enable_search); search_options go in --extra."),
    "effort": ("--effort", "Reasoning effort of Ring models, high or xhigh (Ant Ling's reasoning.effort)."),
}
EFFORTS = ("high", "xhigh")

# Everything configure() and stream() accept as a setting rather than a request field.
SETTING_NAMES = (*OPTIONS, "api_key", "client")

_configured: dict[str, Any] = {}


@dataclass(frozen=True)
class Settings:
    """Effective settings for one request. Every credential is kept out of `repr`, and out of every
    message: the settings make each one known to `_secrets.redact` when they are made."""

    base_url: str
    model: str
    timeout: float
    max_retries: int
    frame_interval: float
    api_key: str = field(repr=False)
    key_source: str  # where the key came from, for error messages ("LING_API_KEY", "argument", ...)
    client: Any = field(default=None, repr=False, compare=False)  # a user's own openai.AsyncOpenAI
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    # The session's request defaults (REQUEST_OPTIONS set with configure()) when these settings were resolved.
    params: dict[str, Any] = field(default_factory=dict, compare=False)
    log: str = field(default="off", compare=False)  # the reply log's path, or "off"
    replay: bool = field(default=False, compare=False)
    prices: cost.Prices = field(default_factory=cost.Prices, compare=False)
    background: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        # However these settings were made, the credentials they carry are redacted from now on.
        if self.api_key != NO_KEY:
            _secrets.remember(self.api_key)
        _secrets.remember_url(self.base_url)
        if self.client is not None:
            _secrets.remember_url(str(self.client.base_url))
            _secrets.remember_values(_headers_set_on(self.client))
            _secrets.remember_values(self.client.default_query)

    @property
    def shown_url(self) -> str:
        """The base URL as messages and views show it: without the credentials a URL may carry."""
        return _secrets.shown_url(self.base_url)

    def __repr__(self) -> str:
        # Written out because the generated one would show the URL as it is.
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.repr} | {"base_url": self.shown_url}
        return _secrets.redact(f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})")


def _headers_set_on(client: Any) -> Any:
    """The headers a user gave their client. `default_headers` adds the SDK's own ("python", the OS name):
    masking those in every message would hide more than it protects, so the user's are read apart."""
    custom = getattr(client, "_custom_headers", None)
    return client.default_headers if custom is None else custom


P = ParamSpec("P")
R = TypeVar("R")


def keeps_secrets_out_of_tracebacks(function: Callable[P, R]) -> Callable[P, R]:
    """For the public functions that take settings: an error of ours leaves them with a traceback that holds
    no local variable of theirs or of what they called.

    A refused key is held by every frame it passed through (`options`, `explicit`, `value`), and
    `%xmode Verbose`, like any traceback printed with its locals, would show it. Those frames are done
    by then, so their locals are cleared, and the error leaves from here afresh, once the keyword
    arguments (a dict made for this call) are cleared too.
    """

    @functools.wraps(function)
    def called(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except LingError as exc:
            error = exc
        traceback.clear_frames(error.__traceback__)
        kwargs.clear()
        raise error.with_traceback(None)

    return called


@keeps_secrets_out_of_tracebacks
def configure(**options: Any) -> None:
    """Set session-wide settings (what `%config LingMagics.<name>` also sets).

    Accepts the names in `OPTIONS`, `api_key`, `client` (an `openai.AsyncOpenAI`), and the request
    defaults in `REQUEST_OPTIONS` (`temperature`, `top_p`, `max_tokens`), which every request then
    carries unless it gives its own. Passing `None` removes a setting, so the environment or default
    applies again.
    """
    for name, value in options.items():
        if name not in SETTING_NAMES and name not in REQUEST_OPTIONS:
            known = ", ".join(sorted((*SETTING_NAMES, *REQUEST_OPTIONS)))
            raise ConfigurationError(f"Unknown setting {name!r}{suggest(name, (*SETTING_NAMES, *REQUEST_OPTIONS))}. "
                                     f"Known settings: {known}.")
        if value is None:
            _configured.pop(name, None)
        else:
            _configured[name] = validate(name, value)


def resolve(**explicit: Any) -> Settings:
    """Merge explicit arguments, configured values, the environment and defaults into `Settings`."""
    explicit = {k: v for k, v in explicit.items() if v is not None}
    values, sources, api_key, key_source = _merge(explicit)
    client = explicit.get("client", _configured.get("client"))
    if not api_key:
        if not is_loopback(urlsplit(values["base_url"]).hostname or ""):
            raise ConfigurationError(_missing_key_message(values))
        api_key = NO_KEY  # local servers (the built-in one, vLLM, Ollama) usually take no key
    return Settings(
        api_key=api_key, key_source=key_source, client=client, sources=sources,
        params={name: _configured[name] for name in REQUEST_OPTIONS if name in _configured},
        **{name: values[name] for name in OPTIONS if name != "api_key_env"},
    )


def prices() -> cost.Prices:
    """The configured prices (`configure(prices=...)`; they have no environment variable), read without a key."""
    configured: cost.Prices = _configured.get("prices", cost.NO_PRICES)
    return configured


def request_params(params: dict[str, Any], *, flags: bool = False) -> dict[str, Any]:
    """`params` (request fields given with one request) with the fields of `REQUEST_OPTIONS` validated;
    `flags`: messages name them as the magic's options (`--top-p`)."""
    if "tools" in params:  # only `stream()` takes tools (it pops them first): elsewhere they would go out raw
        raise ConfigurationError("tools= runs your functions with ling_notebook.stream() and %%ling (one reply); "
                                 "comparisons and batches do not run tools yet. Nothing was sent.")
    fields = {name: _validate_request_option(name, value, REQUEST_OPTIONS[name][0] if flags else name)
              if name in REQUEST_OPTIONS and value is not None else value
              for name, value in params.items() if name not in LING_OPTIONS}
    return fields | _ling_fields(params.get("search"), params.get("effort"), flags)


def _ling_fields(search: Any, effort: Any, flags: bool) -> dict[str, Any]:
    """The body fields of `LING_OPTIONS` given (`search=True`, `effort="high"`); none for those not given.
    As in `validate`, a refused value is not quoted back."""
    fields: dict[str, Any] = {}
    if search is not None:
        if not isinstance(search, bool):
            raise ConfigurationError("search must be True or False (True asks Ant Ling to search the web).")
        if search:
            fields["enable_search"] = True
    if effort is not None:
        if not isinstance(effort, str) or effort not in EFFORTS:
            name = LING_OPTIONS["effort"][0] if flags else "effort"
            raise ConfigurationError(f"{name} must be {' or '.join(EFFORTS)} (the reasoning effort of Ring models).")
        fields["reasoning"] = {"effort": effort}
    return fields


def suggest(word: str, known: Any) -> str:
    """ " (did you mean X?)" for the closest of `known` to a misspelt `word`, or "" when none is close."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def describe() -> list[tuple[str, str, str]]:
    """(setting, effective value, where it came from), for `%ling config`. The key only as set / not set."""
    values, sources, api_key, key_source = _merge({})
    values["base_url"] = _secrets.shown_url(values["base_url"])
    rows = [(name, _secrets.redact(str(values[name])), sources[name]) for name in OPTIONS]
    rows.append(("api_key", "set" if api_key else "not set", key_source if api_key else f"set {key_source}"))
    rows += [(name, str(_configured[name]), "configured") if name in _configured
             else (name, "–", "the server's default") for name in REQUEST_OPTIONS]
    return rows


def _merge(explicit: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], str | None, str]:
    """Each setting's value and source, highest precedence first; then the key and where it was found."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (default, env, _help) in OPTIONS.items():
        if name in explicit:
            values[name], sources[name] = validate(name, explicit[name]), "argument"
        elif name in _configured:
            values[name], sources[name] = _configured[name], "configured"
        elif env and os.environ.get(env):
            values[name], sources[name] = validate(name, os.environ[env]), env
        elif name == "background" and in_colab():
            values[name], sources[name] = False, "Google Colab"
        else:
            values[name], sources[name] = default, "default"
    client = explicit.get("client", _configured.get("client"))
    if client is not None:
        values["base_url"], sources["base_url"] = str(client.base_url).rstrip("/"), "client"
        api_key, key_source = client.api_key, "the client you passed"
    else:
        api_key, key_source = _find_key(explicit, values)
    _secrets.remember(api_key)  # known before any Settings is made: `describe` shows values next to it
    sources["api_key"] = key_source if api_key else "not set"
    return values, sources, api_key, key_source


def _find_key(explicit: dict[str, Any], values: dict[str, Any]) -> tuple[str | None, str]:
    if explicit.get("api_key"):
        return clean_key(explicit["api_key"], "the api_key argument"), "argument"
    if _configured.get("api_key"):
        return _configured["api_key"], "configure(api_key=...)"
    variables = (values["api_key_env"],) if values["api_key_env"] else KEY_VARIABLES
    for variable in variables:
        key = clean_key(os.environ.get(variable, ""), f"the environment variable {variable}")
        if key:
            return key, variable
    return None, " or ".join(variables)


def clean_key(value: Any, where: str) -> str:
    """The key without surrounding whitespace; a ConfigurationError naming `where` if it cannot be sent.

    A line break or other control character inside a key is a copy-paste accident, and an HTTP
    header cannot carry it (nor a non-ASCII character): the HTTP layer would fail with the key in
    its message. The message says where the key came from, never the key.
    """
    key = str(value).strip()
    if any(not " " <= ch <= "~" for ch in key):
        raise ConfigurationError(
            f"The API key in {where} contains a line break, control character or non-ASCII character: "
            "set it again to the key alone, copied without line breaks."
        )
    return key


def _missing_key_message(values: dict[str, Any]) -> str:
    if values["api_key_env"]:
        where = f"Set the environment variable {values['api_key_env']}"
    else:
        where = "Set the environment variable LING_API_KEY (or ANT_LING_API_KEY)"
    return (
        f"No API key found for {_secrets.shown_url(values['base_url'])}. {where} to your key, "
        "for example with os.environ['LING_API_KEY'] = '...' in a cell, or pass api_key=... "
        "Keep the key itself out of the notebook."
    )


def validate(name: str, value: Any) -> Any:
    """Validate and convert one setting, with a message that says what is expected.

    A refused value is not quoted back: it may be a key pasted into the wrong setting, or a URL with
    credentials in it. Only what was parsed (a number) is.
    """
    if name in REQUEST_OPTIONS:
        return _validate_request_option(name, value, name)
    if name in ("timeout", "frame_interval"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{name} must be a number of seconds, such as {OPTIONS[name][0]}.") from None
        if not number > 0:
            raise ConfigurationError(f"{name} must be more than 0 seconds, not {number:g}.")
        return number
    if name == "max_retries":
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigurationError("max_retries must be a whole number, such as 2.") from None
        if number < 0:
            raise ConfigurationError(f"max_retries must be 0 or more, not {number}.")
        return number
    if name == "base_url":
        url = str(value).strip().rstrip("/")
        try:
            parts = urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # a malformed host or port
            valid = False
        if not valid:
            raise ConfigurationError(f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}.")
        return url
    if name in ("replay", "background"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ConfigurationError(f"{name} must be true or false.")
        return text in ("1", "true", "yes", "on")
    if name == "prices":
        return cost.validate(value)
    if name == "log":
        text = os.path.expanduser(str(value).strip()) if value is not False else "off"
        if not text:
            raise ConfigurationError("log must be a file path, or off.")
        return "off" if text.lower() in ("off", "false", "no", "0") else text
    if name == "api_key":
        value = clean_key(value, "configure(api_key=...)")
    if name in ("model", "api_key", "api_key_env"):
        text = str(value).strip()
        if not text:
            raise ConfigurationError(f"{name} must not be empty.")
        return text
    return value


def _validate_request_option(name: str, value: Any, flag: str) -> Any:
    """temperature 0 to 2, top_p 0 to 1, max_tokens a whole number of 1 or more; messages call it `flag`.
    As in `validate`, only a parsed number is quoted back, never the text given."""
    if name == "max_tokens":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{flag} must be a whole number, such as 512.") from None
        if number < 1 or number != int(number):
            raise ConfigurationError(f"{flag} must be 1 or more (a whole number), not {number:g}.")
        return int(number)
    low, high = (0.0, 2.0) if name == "temperature" else (0.0, 1.0)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{flag} must be a number from {low:g} to {high:g}.") from None
    if not low <= number <= high:
        raise ConfigurationError(f"{flag} must be between {low:g} and {high:g}, not {number:g}.")
    return number


def in_colab() -> bool:
    """Whether this is a Google Colab runtime: `google.colab` is imported (Colab's kernel imports it at start)
    or importable. Colab shows no output update sent after its cell ended, so there the cell waits."""
    if "google.colab" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("google.colab") is not None
    except ImportError:  # no `google` package at all
        return False


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (`localhost` or a loopback address; no DNS lookup)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
