"""The one exception tree of ling-notebook.

    LingError                 base class: catch this to catch everything we raise
    ├── ConfigurationError    settings are missing or invalid (no API key, bad option value)
    └── ReplyError            the server or the connection failed; `kind` says how

    Interrupted               a KeyboardInterrupt: the kernel was interrupted while a cell waited in foreground
                              mode; what it waited on has stopped

Every message says what to do next and never contains the API key: `LingError` passes its message
through `_secrets.redact`, so no error of ours can be built with a key in it. Errors from the
`openai` client are translated into these in exactly one place, `engine.translate_error`.
"""

from __future__ import annotations

from ._secrets import redact


class LingError(Exception):
    """Base class of every error ling-notebook raises. Its message never holds a known API key."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(str(message)))

    # Read through redact as well, so a key remembered later, or `args` changed later, cannot show.
    def __str__(self) -> str:
        return redact(super().__str__())

    def __repr__(self) -> str:
        return redact(super().__repr__())

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it: one line, as the magics report bad input, without a traceback (the message
        says what went wrong and what to do next)."""
        return [f"ling: {self}"]


class ConfigurationError(LingError):
    """Settings are missing or invalid; nothing was sent."""


class ReplyError(LingError):
    """A request failed before or during the stream.

    `kind` is one of "auth", "permission", "not_found", "rate_limit", "bad_request", "server",
    "timeout", "connection", "stream", "incomplete", "internal" (a bug of ours); `status_code` is the
    HTTP status when there was one.
    """

    def __init__(self, message: str, *, kind: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status_code = status_code

    @property
    def message(self) -> str:
        return str(self)


class Interrupted(KeyboardInterrupt):
    """The kernel was interrupted while a cell waited for replies in foreground mode (`display.hold`). They have
    stopped, keeping the text that arrived; the cell ends as interrupted, so a "Run all" stops here too."""

    def _render_traceback_(self) -> list[str]:
        """One line, as for `LingError`: where the traceback would show only our waiting code."""
        return [f"ling: {self}"]
