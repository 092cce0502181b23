"""Tools: the user's Python functions described to the model, and their arguments checked, through pydantic.

`tool(f, ...)` makes a `Tool`: the JSON schema of its parameters comes from the signature, type hints
(pydantic models and `Annotated[..., Field(description=...)]` included) and docstring; pydantic both
writes the schema and validates the model's arguments against it, so what is described is what is
checked. A function that cannot be described is refused here, before any request is sent, with one line
naming the parameter. Running a tool, and where, is `toolrun`'s job; this module runs nothing.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pydantic
import pydantic_core

from .errors import ConfigurationError

MAX_RESULT = 20_000  # characters of a result the model receives; longer ones are cut with a note
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what the chat-completions API accepts as a function name


@dataclass(frozen=True, eq=False)
class Tool:
    """A function the model may call: its name, description and parameters as the API wants them."""

    function: Callable[..., Any]
    name: str
    description: str
    parameters: type[pydantic.BaseModel]
    thread_safe: bool = False

    @property
    def schema(self) -> dict[str, Any]:
        """The entry for the request's `tools` list."""
        parameters = self.parameters.model_json_schema()
        parameters.pop("title", None)
        function: dict[str, Any] = {"name": self.name, "parameters": parameters}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}

    def arguments(self, text: str) -> dict[str, Any]:
        """The keyword arguments for a call whose arguments arrived as `text`; `ValueError` with the reason
        (for the model, which may correct itself) when they are not JSON or do not fit the parameters."""
        try:
            parsed = self.parameters.model_validate_json(text.strip() or "{}")
        except pydantic.ValidationError as exc:
            raise ValueError(_validation_message(exc)) from None
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Tool {self.name}{' (thread-safe)' if self.thread_safe else ''}>"


def tool(
    function: Callable[..., Any], *, thread_safe: bool = False, name: str | None = None,
    description: str | None = None,
) -> Tool:
    """Describe `function` as a tool. `thread_safe=True` lets it run on a worker thread rather than the
    kernel's main thread (only for functions that touch no shared state unguarded)."""
    if isinstance(function, Tool):
        function = function.function
    if not callable(function):
        raise ConfigurationError(f"A tool must be a function, not {type(function).__name__}.")
    name = name or getattr(function, "__name__", "")
    if not _NAME.match(name):
        raise ConfigurationError(
            f"The tool name {name[:80]!r} is not allowed: use 1 to 64 letters, digits, '_' or '-' "
            "(pass name=... to ling_notebook.tool)."
        )
    doc = inspect.getdoc(function) or ""
    return Tool(function, name, description if description is not None else doc, _parameters(function, name),
                thread_safe)


def toolbox(tools: Iterable[Callable[..., Any] | Tool] | None) -> dict[str, Tool]:
    """Tools by name, each function described once; two tools with one name are refused."""
    box: dict[str, Tool] = {}
    for item in tools or ():
        described = item if isinstance(item, Tool) else tool(item)
        if described.name in box:
            raise ConfigurationError(f"Two tools are named {described.name!r}: pass name=... to ling_notebook.tool.")
        box[described.name] = described
    return box


def result_text(value: Any) -> str:
    """What the model receives for a tool's return value: a string as it is, anything else as JSON (pydantic
    serialises models, dataclasses, dates, ...; what it cannot, as its `str`), cut at `MAX_RESULT`."""
    text = value if isinstance(value, str) else pydantic_core.to_json(value, fallback=str).decode()
    return shortened(text, MAX_RESULT)


def shortened(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[cut: {len(text) - limit:,} more characters]"


def _parameters(function: Callable[..., Any], tool_name: str) -> type[pydantic.BaseModel]:
    try:
        signature = inspect.signature(function)
        hints = _hints(function)
    except (TypeError, ValueError, NameError) as exc:
        raise ConfigurationError(f"Tool {tool_name!r} cannot be described: its signature cannot be read ({exc}).") \
            from None
    fields: dict[str, Any] = {}
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            kind = {p.VAR_POSITIONAL: "*args", p.VAR_KEYWORD: "**kwargs"}.get(p.kind, "positional-only")
            raise ConfigurationError(f"Tool {tool_name!r}: parameter {p.name!r} is {kind}; the model passes "
                                     "arguments by name, so give each one a name and a type.")
        if p.name not in hints:
            raise ConfigurationError(f"Tool {tool_name!r}: parameter {p.name!r} has no type hint; the model "
                                     "needs one to know what to pass (for example `year: int`).")
        try:
            pydantic.TypeAdapter(hints[p.name]).json_schema()
        except (pydantic.PydanticSchemaGenerationError, pydantic.errors.PydanticInvalidForJsonSchema,
                pydantic.PydanticUserError) as exc:
            kind = getattr(hints[p.name], "__name__", repr(hints[p.name]))
            raise ConfigurationError(f"Tool {tool_name!r}: parameter {p.name!r} has type {kind}, which has no JSON "
                                     f"form ({type(exc).__name__}); use str, numbers, lists, dicts or a pydantic "
                                     "model.") from None
        fields[p.name] = (hints[p.name], ... if p.default is p.empty else p.default)
    return pydantic.create_model(f"{tool_name}_arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields)


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    target = function.__call__ if not inspect.isroutine(function) and not inspect.isclass(function) else function
    return typing.get_type_hints(target, include_extras=True)


def _validation_message(exc: pydantic.ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(map(str, error["loc"]))
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "Invalid arguments: " + "; ".join(problems)
