"""The streaming engine: messages + parameters -> typed events, over `openai.AsyncOpenAI`.

Knows nothing of Jupyter. `stream_events` is an async generator; cancelling the task that consumes
it (or closing it) closes the HTTP response at once, so the server sees EOF. Failures never raise
out of the generator: they arrive as a final `Failed` event, after whatever text did arrive.
Every string a server sends (text, model name, finish reason, error message) passes `valid_text`
here, before anything else sees it.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Union

import openai

from .config import Settings
from .errors import ReplyError


@dataclass(frozen=True)
class Started:
    """The request was accepted and the stream is open (or the full reply arrived)."""

    model: str


@dataclass(frozen=True)
class ContentDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    """The model began a tool call: its position in the round, the id to answer it with, and the tool's name."""

    index: int
    id: str
    name: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a started call's arguments (JSON text, complete only when the round finishes)."""

    index: int
    arguments: str


@dataclass(frozen=True)
class Finished:
    reason: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class Failed:
    error: ReplyError


Event = Union[Started, ContentDelta, ReasoningDelta, ToolCallStarted, ToolCallDelta, Finished, Usage, Failed]


def make_client(settings: Settings) -> openai.AsyncOpenAI:
    """The client for these settings: the user's own, or a new one (bound to the running loop)."""
    if settings.client is not None:
        return settings.client
    return openai.AsyncOpenAI(
        api_key=settings.api_key,
        base_url=settings.base_url,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
    )


async def stream_events(
    messages: list[dict[str, Any]],
    settings: Settings,
    *,
    client: openai.AsyncOpenAI | None = None,
    stream: bool = True,
    **params: Any,
) -> AsyncIterator[Event]:
    """Yield the events of one chat completion.

    `params` are extra request fields (temperature, max_tokens, ...); unknown ones go in the body
    as they are, for servers with extensions (`enable_thinking`, ...). With `stream=False` the
    same events come from one non-streaming response.
    """
    messages = [{**m, "content": valid_text(m["content"])} if isinstance(m.get("content"), str) else m
                for m in messages]
    own_client = client is None
    client = client or make_client(settings)
    received = False
    finished = False
    try:
        if not stream:
            async for event in _complete(client, messages, settings, params):
                yield event
            return
        response = await client.chat.completions.create(
            model=settings.model,
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            **_split_params(client, params),
        )
        # Owned from here on: closing the response is what tells the server to stop, and the consumer may
        # close this generator at any yield, the first one included.
        async with response:
            yield Started(settings.model)
            calls = ToolCalls()
            async for chunk in response:
                received = True
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    yield _usage(usage)
                choice = _first_choice(chunk.choices)
                if choice is None:
                    continue
                delta = choice.delta
                if delta is not None:
                    reasoning = _reasoning_of(delta)
                    if reasoning:
                        yield ReasoningDelta(valid_text(reasoning))
                    if delta.content:
                        yield ContentDelta(valid_text(delta.content))
                    for call in delta.tool_calls or ():
                        for event in calls.add(call):
                            yield event
                if choice.finish_reason:
                    finished = True
                    yield Finished(valid_text(choice.finish_reason))
        if not finished:
            yield Failed(
                ReplyError(
                    "The stream ended before the model finished (no finish reason arrived): "
                    "the reply is incomplete. The connection may have been cut; run the cell again.",
                    kind="incomplete",
                )
            )
    except openai.OpenAIError as exc:
        yield Failed(translate_error(exc, settings, received=received))
    except UnicodeEncodeError as exc:  # httpx refuses a non-ASCII header: only a user's own client has one
        yield Failed(ReplyError(
            f"The request could not be sent: a header holds a character HTTP cannot carry ({exc}). "
            "Check the API key and headers of the client you passed.",
            kind="bad_request",
        ))
    finally:
        if own_client:
            await client.close()


async def _complete(
    client: openai.AsyncOpenAI, messages: list[dict[str, Any]], settings: Settings, params: dict[str, Any]
) -> AsyncIterator[Event]:
    completion = await client.chat.completions.create(
        model=settings.model, messages=messages, stream=False, **_split_params(client, params)  # type: ignore[arg-type]
    )
    yield Started(valid_text(completion.model or settings.model))
    choice = _first_choice(completion.choices)
    if choice is not None:
        message = choice.message
        reasoning = _reasoning_of(message)
        if reasoning:
            yield ReasoningDelta(valid_text(reasoning))
        if message.content:
            yield ContentDelta(valid_text(message.content))
        calls = ToolCalls()
        for index, call in enumerate(message.tool_calls or ()):
            for event in calls.add(call, index):
                yield event
    if completion.usage is not None:
        yield _usage(completion.usage)
    if choice is None or not choice.finish_reason:
        yield Failed(ReplyError("The server's reply had no finish reason: it is incomplete.", kind="incomplete"))
    else:
        yield Finished(valid_text(choice.finish_reason))


class ToolCalls:
    """Assembles one round's streamed `delta.tool_calls` by index into `ToolCallStarted`/`ToolCallDelta` events.

    The first delta of a call usually carries its id and name, later ones pieces of its arguments; a server
    may also send the whole call at once, or argument pieces before the name. Pieces are held until the
    name is known; a call with no id gets one of its own, since the next request must answer it by id.
    """

    def __init__(self) -> None:
        self._ids: dict[int, str] = {}
        self._names: dict[int, str] = {}
        self._held: dict[int, list[str]] = {}
        self._started: set[int] = set()

    def add(self, call: Any, index: int | None = None) -> list[Event]:
        index = call.index if index is None and isinstance(getattr(call, "index", None), int) else index or 0
        function = getattr(call, "function", None)
        name = getattr(function, "name", None)
        arguments = getattr(function, "arguments", None)
        if getattr(call, "id", None) and index not in self._ids:
            self._ids[index] = valid_text(call.id)
        if name and index not in self._names:
            self._names[index] = valid_text(name)
        if arguments:
            self._held.setdefault(index, []).append(valid_text(arguments))
        if index not in self._names:
            return []
        events: list[Event] = []
        if index not in self._started:
            self._started.add(index)
            events.append(ToolCallStarted(index, self._ids.get(index) or f"call_{index}", self._names[index]))
        if self._held.get(index):
            events.append(ToolCallDelta(index, "".join(self._held.pop(index))))
        return events


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: object) -> str:
    """`text` as a str every layer can encode: lone surrogates replaced by U+FFFD.

    The one cleaning step for strings from a server (and for prompts, which the HTTP layer must encode).
    JSON may carry half of a surrogate pair (`"\\ud83d"`), which Python decodes into a str that no
    UTF-8 encoder accepts: the kernel could not send it to the browser, nor nh3 sanitize it. The SDK
    does not check types, so a server may also send a number or a list where a string belongs.
    """
    if not isinstance(text, str):
        text = str(text)
    # Both checks read without copying (isascii is a flag): most text has no surrogates and is returned
    # as is, not copied twice over (UTF-16 bytes, then a new str) for a long reply.
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _usage(usage: Any) -> Usage:
    """The token counts; a count that is not a whole number (the SDK does not check) counts as 0."""
    counts = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
    return Usage(*(n if isinstance(n, int) else 0 for n in counts))


def _reasoning_of(delta_or_message: Any) -> str | None:
    """`reasoning_content`: not in the OpenAI schema, so vLLM/DeepSeek-style servers' extra field."""
    extra = getattr(delta_or_message, "model_extra", None)
    if extra and extra.get("reasoning_content"):
        return extra["reasoning_content"]
    # Read the attribute only where the class declares it (or is not pydantic's): on a model without it,
    # pydantic's `__getattr__` raises and catches an AttributeError, for every chunk (figure 12).
    fields = getattr(type(delta_or_message), "model_fields", None)
    if fields is not None and "reasoning_content" not in fields:
        return None
    return getattr(delta_or_message, "reasoning_content", None)


def _first_choice(choices: list[Any] | None) -> Any:
    """The reply is choice 0. With `n > 1` a chunk may carry other choices too, in any order."""
    return next((choice for choice in choices or () if choice.index == 0), None)


_SET_HERE = frozenset({"self", "messages", "model", "stream", "stream_options"})


@functools.cache
def _named_fields(completions: type) -> frozenset[str]:
    """What `create` takes by name, read once from the client's own signature: request fields, and the
    client options (`extra_headers`, `extra_query`, `extra_body`, `timeout`) that it applies itself."""
    return frozenset(inspect.signature(completions.create).parameters) - _SET_HERE


def _split_params(client: openai.AsyncOpenAI, params: dict[str, Any]) -> dict[str, Any]:
    """`params` as keyword arguments for `create`: the fields it names go by name, the rest in `extra_body`."""
    named = _named_fields(type(client.chat.completions))
    known = {k: v for k, v in params.items() if k in named and v is not None}
    extra = {k: v for k, v in params.items() if k not in named and v is not None}
    extra.update(known.pop("extra_body", None) or {})
    if extra:
        known["extra_body"] = extra
    return known


def translate_error(exc: openai.OpenAIError, settings: Settings, *, received: bool = False) -> ReplyError:
    """Turn an `openai` exception into a `ReplyError` whose message says what to do next.

    The key is not removed here: `ReplyError` redacts every message (the settings remembered the key).
    The URL is quoted without the credentials it may carry; the server's words pass `valid_text`.
    """
    url, model = settings.shown_url, settings.model
    detail = valid_text(_server_message(exc)).rstrip(". ")  # our sentences add their own
    retries = settings.max_retries
    tried = f"after {retries} {'retry' if retries == 1 else 'retries'}" if retries else "(retries are off)"
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 401:
            message = (
                f"The server at {url} rejected the API key (HTTP 401: {detail}). "
                f"Check the key in {settings.key_source}."
            )
            return ReplyError(message, kind="auth", status_code=status)
        if status == 403:
            message = f"The server at {url} refused access to model '{model}' (HTTP 403: {detail})."
            return ReplyError(message + " Check that your key may use it.", kind="permission", status_code=status)
        if status == 404:
            message = (
                f"Model '{model}' was not found at {url} (HTTP 404: {detail}). "
                "Check the model name (`%ling models` lists them) and the base URL."
            )
            return ReplyError(message, kind="not_found", status_code=status)
        if status == 429:
            message = f"Rate limited by {url} (HTTP 429: {detail}), {tried}. Wait a moment and run it again."
            return ReplyError(message, kind="rate_limit", status_code=status)
        if status >= 500:
            message = f"The server at {url} failed (HTTP {status}: {detail}), {tried}. Try again later."
            return ReplyError(message, kind="server", status_code=status)
        message = f"The server at {url} rejected the request (HTTP {status}: {detail}). Check the options you passed."
        return ReplyError(message, kind="bad_request", status_code=status)
    if isinstance(exc, openai.APITimeoutError):
        when = "while streaming; the reply is incomplete" if received else tried
        return ReplyError(
            f"The server at {url} sent nothing for {settings.timeout:g} s ({when}). "
            "Raise the timeout (`%ling config timeout 120`) or check the server.",
            kind="timeout",
        )
    if isinstance(exc, openai.APIConnectionError):
        if received:
            return ReplyError(
                f"The connection to {url} was lost mid-reply: the reply is incomplete. Run the cell again.",
                kind="connection",
            )
        cause = valid_text(exc.__cause__ or exc)
        return ReplyError(
            f"Could not connect to {url} ({cause}), {tried}. Check the base URL (LING_BASE_URL), "
            "that the server is running, and any proxy settings.",
            kind="connection",
        )
    if isinstance(exc, openai.APIError):
        return ReplyError(
            f"The server reported an error mid-stream: {detail}. The reply is incomplete.", kind="stream"
        )
    return ReplyError(f"The openai client failed: {valid_text(exc)}", kind="connection")


def _server_message(exc: openai.OpenAIError) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
    return getattr(exc, "message", None) or str(exc)
