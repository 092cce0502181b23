"""A long static copy sent as it is built: the `update_display_data` message that replaces a reply's live view,
packed into JSON a window of HTML at a time.

IPython's `update_display` takes the bundle as one dict, so the copy's HTML (about the text's size) existed
as one string, then ipykernel packed the message (that HTML again, and the reply's Markdown in the
metadata) while the reply held its text: four copies of the text at once, and more while the last window
was rendered (benchmark figure 6). Here the message content is written into one growing buffer, straight
from the copy's pieces (`render.reply_copy`: a window of sanitized HTML each), and long strings are
escaped a slice at a time. The kernel then holds the reply's text, the packed message and
one window. `BytesIO.getvalue()` hands over its buffer without copying it, and jupyter_client sends a frame
that large without copying it either.

Every escape is a JSON library's (the standard library's for strings, orjson's for the rest): this module
only puts escaped strings in order. The
message goes out as `update_display` sends it: through the shell's display publisher, with its session,
socket, topic and parent header. Where that publisher is not ipykernel's own (another kernel, a test's
shell, `capture_output`, a subclass), or it would do more than send (a display hook registered on this
thread, `store_display_history`), or the session does not pack with JSON (msgpack, pickle), the pieces are
joined and IPython's `update_display` sends the bundle.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from .render import COPY_MIME

SLICE = 1 << 16
"""Characters of a long string escaped at a time (each slice is briefly there twice more: escaped, encoded).
Measured by benchmarks/pack_peak.py over a 1,000,000-token Markdown answer (3.3 MB; two bytes a character as a
str): packing its copy's message peaks at 5.6x the text beyond it with slices of 2**20 characters, 3.4x with
2**16 (the message itself is 2.8x); the kernel's peak (figure 6b) went from 7.7x to 5.5-5.7x."""


def update_display(html_pieces: Iterable[str], plain: str, metadata: Mapping[str, Any], display_id: str) -> None:
    """Replace the output `display_id` by a bundle whose `text/html` is `html_pieces` joined (and the mark
    `render.COPY_MIME`).

    Every string must be valid text (`engine.valid_text`: no lone surrogate), and `metadata` plain JSON (str
    keys), as `render` and `record.provenance` make them, but that a string in it may be an iterator of its
    pieces (`render.copy_metadata`'s compressed Markdown), made as it is written, after the HTML."""
    publisher = _publisher()
    if publisher is None:
        from IPython.display import update_display as publish

        publish({"text/html": "".join(html_pieces), "text/plain": plain, COPY_MIME: {}}, raw=True,
                metadata=_joined(metadata), display_id=display_id)
        return
    content = content_bytes(html_pieces, plain, metadata, display_id)
    sys.stdout.flush()  # as IPython does before any display: what was printed comes first
    sys.stderr.flush()
    session = publisher.session
    message = session.msg("update_display_data", content, parent=publisher.parent_header)
    del content
    session.send(publisher.pub_socket, message, ident=publisher.topic)


def _publisher() -> Any:
    """ipykernel's display publisher, when all its `publish` would do is send a JSON message."""
    from IPython import get_ipython

    try:
        from ipykernel.zmqshell import ZMQDisplayPublisher
    except ImportError:
        return None
    publisher = getattr(get_ipython(), "display_pub", None)
    if getattr(type(publisher), "publish", None) is not ZMQDisplayPublisher.publish or publisher.session is None:
        return None
    if getattr(publisher, "store_display_history", False) or getattr(publisher, "_hooks", None):
        return None  # it would keep the bundle, or hand it as a dict to a hook registered on this thread
    if getattr(publisher.session, "packer", None) not in ("json", "orjson"):
        return None  # packed content must be what the session's own packer would have made
    return publisher


def content_bytes(html_pieces: Iterable[str], plain: str, metadata: Mapping[str, Any], display_id: str) -> bytes:
    """The packed content of the message `update_display` sends. The HTML comes first: while its windows are
    rendered, the buffer holds no more than the HTML before them."""
    out = io.BytesIO()
    out.write(b'{"data":{"text/html":"')
    for piece in html_pieces:
        _string_body(out, piece)
    out.write(b'","text/plain":')
    _write(out, plain)
    out.write(b',' + orjson.dumps(COPY_MIME) + b':{}},"metadata":')
    _write(out, metadata)
    out.write(b',"transient":')
    _write(out, {"display_id": display_id})
    out.write(b"}")
    return out.getvalue()


def _write(out: io.BytesIO, value: Any) -> None:
    if isinstance(value, str):
        out.write(b'"')
        _string_body(out, value)
        out.write(b'"')
    elif isinstance(value, Mapping):
        out.write(b"{")
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"a metadata key must be a string, not {type(key).__name__}")
            out.write(b"," if i else b"")
            out.write(orjson.dumps(key))
            out.write(b":")
            _write(out, item)
        out.write(b"}")
    elif isinstance(value, Iterator):  # a string, a piece at a time
        out.write(b'"')
        for piece in value:
            _string_body(out, piece)
        out.write(b'"')
    elif isinstance(value, (list, tuple)):
        out.write(b"[")
        for i, item in enumerate(value):
            out.write(b"," if i else b"")
            _write(out, item)
        out.write(b"]")
    else:
        out.write(orjson.dumps(value))


def _joined(value: Any) -> Any:
    """`value` with each string given as an iterator of its pieces joined: plain JSON."""
    if isinstance(value, Mapping):
        return {key: _joined(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_joined(item) for item in value]
    return "".join(value) if isinstance(value, Iterator) else value


def _string_body(out: io.BytesIO, text: str) -> None:
    """`text` escaped as inside a JSON string (a Python str never splits a code point, so neither do slices)."""
    for start in range(0, len(text), SLICE):
        # The standard library's escape, not orjson's: orjson reads a str through its cached UTF-8 form, which
        # CPython then keeps inside the str for good, and a slice as long as the text is the reply's own text
        # (measured: a reply with one curly quote kept its text once more after its end).
        escaped = json.dumps(text[start : start + SLICE], ensure_ascii=False).encode()
        out.write(memoryview(escaped)[1:-1])
