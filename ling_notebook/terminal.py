"""Text bound for a terminal: `printable`, the one filter that model and server text passes before it
is written to stdout or stderr (the token printer, the comparison printout, the batch progress and
errors), or offered as ``text/plain`` to front ends without HTML.

A terminal obeys control characters in what it is given: ESC starts sequences that erase lines, move
the cursor, retitle the window or write the clipboard (OSC 52); the C1 controls do the same on terminals
that read them (U+009B is a one-character CSI); a backspace or a lone carriage return lets later text
overwrite what was shown. So every C0 control but newline and tab, DEL and every C1 control is dropped:
a filter on characters, not a parser of sequences, so no sequence can get through in a form we did not
foresee. A CR is dropped rather than turned into a newline, so a CRLF split across two pieces of a stream
still makes one line break. Our own codes (dim, reset, erase the progress line) are added after cleaning.
"""

from __future__ import annotations

_CONTROLS = {code: None for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(code) not in "\n\t"}


def printable(text: str) -> str:
    """`text` without C0 controls (newline and tab kept), DEL and C1 controls."""
    return text.translate(_CONTROLS)
