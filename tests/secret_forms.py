"""The forms an API key can take inside other text, for tests that check a key shows nowhere."""

from __future__ import annotations

import json
import re
from urllib.parse import quote, quote_plus


def forms(key: str) -> set[str]:
    """The key raw, stripped, cut at its line breaks, and escaped as repr, bytes repr, JSON and URLs do."""
    found = {key, key.strip(), f"Bearer {key.strip()}", *(p for p in re.split(r"[\x00-\x20\x7f]+", key) if len(p) >= 6)}
    for text in list(found):
        found |= {repr(text)[1:-1], repr(text.encode())[2:-1], json.dumps(text)[1:-1],
                  json.dumps(text, ensure_ascii=False)[1:-1], quote(text, safe=""), quote_plus(text)}
    found |= {repr(form)[1:-1] for form in list(found)}  # a repr inside a repr
    return found


def leaked(text: str, key: str) -> list[str]:
    """Each form of `key` found in `text` (case-insensitively, as percent-encoding may be either case)."""
    return sorted(form for form in forms(key) if form.lower() in text.lower())
