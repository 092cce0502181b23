"""What the built-in server's models say: model names, the demo reply and the plans of the test scenarios.

Pure code, no HTTP: `plan_request` turns a request body into a `Plan` (the pieces to send, their pace
and how the response ends) or raises `ApiError`, the error response the real API would give.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

DEMO_MODEL = "ling-offline-demo"
# Other names the demo answers to: what `%%ling` sends when no model is configured (config.DEFAULT_MODEL,
# written out: the server knows nothing of the client side), so pointing LING_BASE_URL at
# `ling-notebook serve` is enough. Each answer says it comes from the offline demo.
DEMO_ALIASES = ("Ling-2.6-flash",)

# Scenario name -> default parameters (and `rate`, 1000 unless given); the keys are the parameters it accepts.
SCENARIOS: dict[str, dict[str, float]] = {
    "echo": {},
    "trickle": {"tokens": 50, "rate": 20},
    "flood": {"tokens": 10000, "rate": 0},
    # A long Markdown answer: headings, lists, code and tables (the demo model's answers, one after another).
    "markdown": {"tokens": 10000, "rate": 0},
    "length": {"tokens": 10},
    "content-filter": {"tokens": 10},
    "reasoning": {"reasoning": 20, "tokens": 20},
    "empty-chunks": {"tokens": 10},
    "utf8": {},
    "slow-start": {"delay": 2.0, "tokens": 20},
    "error-mid": {"after": 5},
    "drop": {"after": 5},
    "truncate": {"after": 5},
    "stall": {"after": 3},
    # Echo, but refuse the first `fails` attempts with HTTP `status` and `retry-after: after` seconds:
    # `picky` only prompts containing "fail" (1e9: every attempt), `flaky` every prompt.
    "picky": {"status": 500, "fails": 1e9, "after": 0},
    "flaky": {"status": 429, "fails": 1, "after": 0},
    # Tool calls, as the prompt's `call NAME ARGUMENTS` lines ask (see `_tool_plan`): arguments in pieces of
    # `pieces` characters, calls of a round interleaved when `interleave` is 1, `rounds` rounds of calls
    # (1e9: a model that never stops calling) before it answers with the results it received.
    "tools": {"pieces": 4, "interleave": 0, "rounds": 1},
}
# Status -> (message, type, code), worded like the real API.
HTTP_ERRORS: dict[int, tuple[str, str, str]] = {
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use this model (simulated).", "invalid_request_error", "permission_denied"),
    404: ("The model `{model}` does not exist or you do not have access to it.", "invalid_request_error",
          "model_not_found"),
    429: ("Rate limit reached for requests (simulated). Please try again in 0s.", "requests",
          "rate_limit_exceeded"),
    500: ("The server had an error while processing your request (simulated).", "server_error",
          "internal_error"),
    503: ("The engine is currently overloaded, please try again later (simulated).", "server_error",
          "service_unavailable"),
}
# `retry-after: 0` as real servers send; openai-python ignores a zero delay, so retry-after-ms makes it quick.
_RETRY_NOW = {"retry-after": "0", "retry-after-ms": "10"}
MID_STREAM_ERROR = {"message": HTTP_ERRORS[500][0], "type": "server_error", "param": None, "code": "internal_error"}
_UTF8_PIECES = ["Hello 👋", " 世界", " —", " naïve", " café", " 🎉", " e\u0301t\u0301e\u0301",
                " 👩\u200d💻", " 日本語", " Ωmega", " ✓"]
PIECE = re.compile(r"\n| ?\w+| ?[^\w\s]|\s")  # how replies are cut into tokens

Piece = tuple[str | None, Any]  # (delta key, text or tool-call deltas); key None: an empty delta
_CALL = re.compile(r"^call (\S+) ?(.*)$", re.MULTILINE)


class ApiError(Exception):
    """An error response in the OpenAI format, raised before any byte of the response is sent."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.type, self.code, self.param = status, type, code, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


@dataclasses.dataclass
class Plan:
    """What a model will send. Pieces are made lazily, so a million-token flood costs no memory."""

    pieces: Iterator[Piece]
    ending: str  # a finish reason, or "error", "drop", "truncate", "stall"
    rate: float  # pieces per second; 0 or inf: no pause
    delay: float = 0.0  # seconds before the response headers
    split_utf8: bool = False
    limit: int | None = None  # max_tokens
    sent: int = 0  # non-empty pieces handed out: the completion tokens
    usage: dict[str, int] | None = None  # the usage to report (a replay's, as logged); None: count the words

    def within_limit(self) -> Iterator[Piece]:
        """The pieces, at most ``limit`` non-empty ones; hitting the limit makes the ending "length"."""
        for key, text in self.pieces:
            if text and self.sent == self.limit:
                self.ending = "length"
                return
            self.sent += bool(text)
            yield key, text


def model_names() -> list[str]:
    """What ``GET /v1/models`` lists: the demo first, then the names it answers to, then every scenario."""
    return [DEMO_MODEL, *DEMO_ALIASES, *(f"test/{s}" for s in SCENARIOS), *(f"test/http-{n}" for n in HTTP_ERRORS)]


def required(body: dict[str, Any]) -> tuple[str, list[Any]]:
    """The model and messages of a request body; ApiError when either is missing."""
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "Missing required parameter: 'messages'.", param="messages",
                       code="missing_required_parameter")
    return model, messages


def plan_request(body: dict[str, Any], demo_rate: float, attempts: Callable[[], int] = lambda: 0) -> Plan:
    """The plan for a chat-completions request body; ApiError for what the real API would refuse.

    `attempts` counts the earlier requests with the same model and messages (`picky` and `flaky` ask it).
    """
    model, messages = required(body)
    limit_name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    max_tokens = body.get(limit_name)
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise ApiError(400, f"Invalid '{limit_name}': expected an integer >= 1, got {max_tokens!r}.",
                       param=limit_name, code="invalid_value")
    kind, params = parse_model(model)
    if kind.startswith("http-"):
        status = int(kind[5:])
        message, type_, code = HTTP_ERRORS.get(status, (f"Simulated HTTP {status}.", "api_error", "simulated"))
        raise ApiError(status, message.format(model=model), type_, code,
                       headers=_RETRY_NOW if status in (429, 503) else None)
    if kind in ("picky", "flaky"):
        _refuse_early_attempts(kind, params, messages, attempts)
    _check_tool_answers(messages)
    tools = body.get("tools") if kind == "" else None
    if tools:
        plan = _demo_tool_plan(tools, messages, params.get("rate", demo_rate))
    else:
        plan = _plan(kind, params, messages, demo_rate, model.partition("?")[0])
    plan.limit = max_tokens
    return plan


def _refuse_early_attempts(kind: str, params: dict[str, float], messages: list[Any],
                           attempts: Callable[[], int]) -> None:
    status = int(params["status"])
    if status != params["status"] or not 400 <= status <= 599:
        raise ApiError(400, f"Parameter `status` must be an HTTP error status (400 to 599), not {params['status']:g}.",
                       param="model", code="invalid_value")
    chosen = kind == "flaky" or "fail" in _last_user_text(messages).lower()
    if chosen and attempts() < params["fails"]:
        message, type_, code = HTTP_ERRORS.get(status, (f"Simulated HTTP {status}.", "api_error", "simulated"))
        after = params["after"]
        headers = {"retry-after": f"{after:g}"} if after else _RETRY_NOW
        raise ApiError(status, message.format(model=kind), type_, code, headers=headers)


def parse_model(name: str) -> tuple[str, dict[str, float]]:
    """Split ``test/flood?tokens=5`` into ("flood", {"tokens": 5.0, "rate": 0.0}); the demo is ("", {...})."""
    base, _, query = name.partition("?")
    if base == DEMO_MODEL or base in DEMO_ALIASES:
        kind, allowed = "", {"rate"}
        params: dict[str, float] = {}
    elif base.startswith("test/http-") and base[10:].isdigit() and 400 <= int(base[10:]) <= 599:
        return base[5:], {}
    elif base.startswith("test/") and base[5:] in SCENARIOS:
        kind = base[5:]
        params = {"rate": 1000, **SCENARIOS[kind]}
        allowed = set(params)
    else:
        raise ApiError(404, f"The model `{name}` does not exist or you do not have access to it.",
                       code="model_not_found")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in allowed:
            raise ApiError(400, f"Unknown parameter `{key}` in model `{name}`; it accepts: "
                           f"{', '.join(sorted(allowed))}.", param="model", code="invalid_value")
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = -1.0
        if not 0 <= params[key] < float("inf") and not (key == "rate" and params[key] == float("inf")):
            raise ApiError(400, f"Parameter `{key}` in model `{name}` must be a number >= 0, not {value!r}.",
                           param="model", code="invalid_value")
    return kind, params


def text_of(message: object) -> str:
    """The text of one chat message (a string, or the text of its content parts)."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _check_tool_answers(messages: list[Any]) -> None:
    """Refuse, as the real API does, an assistant's tool calls not each answered by a tool message after it."""
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != "assistant" or not message.get("tool_calls"):
            continue
        answered = set()
        for later in messages[i + 1:]:
            if not isinstance(later, dict) or later.get("role") != "tool":
                break
            answered.add(later.get("tool_call_id"))
        missing = [c.get("id") for c in message["tool_calls"] if isinstance(c, dict) and c.get("id") not in answered]
        if missing:
            raise ApiError(400, "An assistant message with 'tool_calls' must be followed by tool messages responding "
                           f"to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                           f"{', '.join(map(str, missing))}", param=f"messages.[{i}].role", code=None)


def _last_user_text(messages: list[Any]) -> str:
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return text_of(users[-1] if users else messages[-1])


def demo_reply(prompt: str, asked_for: str = DEMO_MODEL) -> str:
    """The offline demo model's answer: deterministic Markdown about the prompt, labelled as the demo
    (and, when `asked_for` is one of `DEMO_ALIASES`, saying that it answers in that model's place).

    It opens with one plain sentence, as a real answer would (a batch's summary and `text.splitlines()[0]`
    show it), and ends with the label, so no answer starts with the same banner."""
    words = re.sub(r"[^\w\s',.?!-]", " ", prompt).split()
    topic = " ".join(words[:8]).strip(" ,.-") + (" …" if len(words) > 8 else "") or "your prompt"
    seed = zlib.crc32(prompt.encode())
    angle = (
        "A real model would weigh every word of it; this one only shows how a streamed answer looks.",
        "The words you read are fixed in advance, so the same prompt always gets the same reply.",
        "Nothing leaves this machine: the reply comes from a small server on 127.0.0.1.",
    )[seed % 3]
    standing_in = "" if asked_for == DEMO_MODEL else f", answering for `{asked_for}`"
    return (
        f"A demo answer about “{topic}”. {angle}\n\n"
        f"## About “{topic}”\n\n"
        f"You asked about **{topic}**. Headings, lists, code and a table arrive token by token, "
        "just as they would from a hosted model.\n\n"
        "### Things to try while it streams\n\n"
        "- Press **Stop**: the text received so far is kept.\n"
        "- Run another cell: the reply keeps streaming in the background.\n"
        "- Set `LING_API_KEY` to talk to a real model instead.\n\n"
        "```python\n"
        f"topic = {' '.join(words[:8])!r}\n"
        "words = topic.split()\n"
        'print(len(words), "words, the longest is", max(words, key=len, default=""))\n'
        "```\n\n"
        "| what | value |\n| --- | --- |\n"
        f"| model | `{DEMO_MODEL}` |\n| words in your prompt | {len(prompt.split())} |\n"
        f"| reply number | {seed % 10000:04d} |\n\n"
        f"*Offline demo model{standing_in} — no API key, no network.*\n"
    )


def markdown_pieces(count: int) -> Iterator[Piece]:
    """`test/markdown`: the demo model's answers to "part 1 of a long answer", "part 2", ..., `count` tokens."""
    answers = (PIECE.findall(demo_reply(f"part {part} of a long answer")) for part in itertools.count(1))
    return (("content", piece) for piece in itertools.islice(itertools.chain.from_iterable(answers), count))


def _words(count: float, prefix: str = "w", key: str = "content") -> Iterator[Piece]:
    return ((key, f" {prefix}{i}") for i in range(1, int(count) + 1))


def _with_empty_chunks(pieces: Iterator[Piece]) -> Iterator[Piece]:
    for i, piece in enumerate(pieces):
        yield piece
        yield ("content", "") if i % 2 == 0 else (None, "")


def _plan(kind: str, params: dict[str, float], messages: list[Any], demo_rate: float, asked_for: str) -> Plan:
    rate = params.get("rate", demo_rate)
    prompt = _last_user_text(messages)
    if kind == "":  # led by an empty-content chunk, as real servers often send
        return Plan((("content", p) for p in ["", *PIECE.findall(demo_reply(prompt, asked_for))]), "stop", rate)
    if kind in ("echo", "picky", "flaky"):
        return Plan((("content", prompt[i : i + 4]) for i in range(0, len(prompt), 4)), "stop", rate)
    if kind == "tools":
        return _tool_plan(params, messages, rate)
    if kind == "markdown":
        return Plan(markdown_pieces(int(params["tokens"])), "stop", rate)
    if kind == "reasoning":
        reasoning = _words(params["reasoning"], "r", "reasoning_content")
        return Plan(itertools.chain(reasoning, _words(params["tokens"])), "stop", rate)
    if kind == "empty-chunks":
        return Plan(_with_empty_chunks(_words(params["tokens"])), "stop", rate)
    if kind == "utf8":
        return Plan((("content", p) for p in _UTF8_PIECES), "stop", rate, split_utf8=True)
    if kind in ("error-mid", "drop", "truncate", "stall"):
        return Plan(_words(params["after"]), kind.removesuffix("-mid"), rate)
    ending = {"length": "length", "content-filter": "content_filter"}.get(kind, "stop")
    return Plan(_words(params["tokens"]), ending, rate, delay=params.get("delay", 0.0))


def _tool_plan(params: dict[str, float], messages: list[Any], rate: float) -> Plan:
    """Call the tools the prompt's `call NAME ARGUMENTS` lines name (ARGUMENTS sent as written, valid JSON or
    not, for a tool that was offered or not) until `rounds` rounds have been answered, then say what came back.

    Calls are streamed as OpenAI-compatible servers send them: the first delta of a call carries its
    `index`, `id` and `function.name`, the next ones pieces of `function.arguments`."""
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"), default=0)
    since = [m for m in messages[last_user + 1:] if isinstance(m, dict)]
    rounds = sum(1 for m in since if m.get("role") == "assistant" and m.get("tool_calls"))
    calls = _CALL.findall(text_of(messages[last_user]))
    if calls and rounds < params["rounds"]:
        return Plan(_call_pieces(calls, rounds, int(params["pieces"]) or 1, bool(params["interleave"])),
                    "tool_calls", rate)
    names = {c.get("id"): (c.get("function") or {}).get("name") for m in since for c in m.get("tool_calls") or ()
             if isinstance(c, dict)}
    results = [f"{names.get(m.get('tool_call_id'), '?')} -> {text_of(m)}" for m in since if m.get("role") == "tool"]
    answer = "Tool results: " + "; ".join(results) if results else "No tool was called."
    return Plan((("content", p) for p in PIECE.findall(answer)), "stop", rate)


def _demo_tool_plan(tools: Any, messages: list[Any], rate: float) -> Plan:
    """The demo model offered tools: once per prompt it calls the first one, once per number in the prompt
    when its first parameter is a number (so "from 2024 to 2025" makes two calls in one round), then says
    what came back. Arguments are made from the tool's schema and the prompt, deterministically."""
    function = (tools[0] or {}).get("function") if isinstance(tools, list) and tools and isinstance(tools[0], dict) \
        else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise ApiError(400, "Invalid 'tools': expected a list of {\"type\": \"function\", \"function\": {...}}.",
                       param="tools", code="invalid_value")
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"), default=0)
    since = [m for m in messages[last_user + 1:] if isinstance(m, dict)]
    prompt = text_of(messages[last_user])
    if any(m.get("role") == "tool" for m in since):
        results = [text_of(m) for m in since if m.get("role") == "tool"]
        answer = (f"The demo model called `{function['name']}` and got back:\n\n"
                  + "\n".join(f"- {' '.join(r.split())[:200]}" for r in results)
                  + "\n\nA real model would now reason over these results to answer your question.\n\n"
                  "*Offline demo model — no API key, no network.*\n")
        return Plan((("content", p) for p in PIECE.findall(answer)), "stop", rate)
    properties = (function.get("parameters") or {}).get("properties") or {}
    numbers = re.findall(r"-?\d+(?:\.\d+)?", prompt) or ["1"]
    words = re.findall(r"[A-Za-z]\w+", prompt) or ["demo"]
    first = next(iter(properties.values()), {}) if isinstance(properties, dict) else {}
    per_number = isinstance(first, dict) and first.get("type") in ("integer", "number")
    calls = []
    for number in (numbers if per_number else numbers[:1]):
        arguments = {}
        for i, (name, schema) in enumerate(properties.items() if isinstance(properties, dict) else ()):
            kind = schema.get("type") if isinstance(schema, dict) else None
            value: Any = {"integer": int(float(number)), "number": float(number), "boolean": True,
                          "string": words[i % len(words)], "array": []}.get(str(kind), {})
            arguments[name] = value
        calls.append((function["name"], json.dumps(arguments)))
    return Plan(_call_pieces(calls, 0, 4, False), "tool_calls", rate)


def _call_pieces(calls: list[tuple[str, str]], round_: int, size: int, interleave: bool) -> Iterator[Piece]:
    streams = []
    for index, (name, arguments) in enumerate(calls):
        head = {"index": index, "id": f"call_{round_}_{index}", "type": "function",
                "function": {"name": name, "arguments": ""}}
        pieces = [{"index": index, "function": {"arguments": arguments[i:i + size]}}
                  for i in range(0, len(arguments), size)]
        streams.append([head, *pieces])
    ordered = (itertools.chain.from_iterable(itertools.zip_longest(*streams)) if interleave
               else itertools.chain.from_iterable(streams))
    return (("tool_calls", [delta]) for delta in ordered if delta is not None)
