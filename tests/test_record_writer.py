"""The log's writer thread: replies that end in quick succession share one transaction; a reply ending alone,
a reset and a flush are written at once."""

from __future__ import annotations

import queue
import threading

from ling_notebook import record


class Watched(record._Writer):
    """A writer whose transactions are seen (their items) instead of written."""

    def __init__(self) -> None:
        super().__init__()
        self.written: queue.SimpleQueue[list[object]] = queue.SimpleQueue()

    def _write(self, items) -> None:
        self.written.put([what for _, what, _ in items])


def test_ends_in_quick_succession_gather_and_a_lone_end_or_a_reset_is_written_at_once(monkeypatch):
    monkeypatch.setattr(record, "GATHER", 60.0)  # "quick succession" is anything within a minute here
    writer = Watched()
    writer.put(("log", "first", 0.0))
    assert writer.written.get(timeout=10) == ["first"]  # nothing came before it: written at once
    writer.put(("log", "second", 0.0))  # within GATHER of a write: it waits for more
    writer.put(("log", "third", 0.0))
    reset = ("notebook", "default", "2026-01-01T00:00:00.000Z")
    writer.put(("log", reset, 0.0), urgent=True)  # a reset does not wait: the kernel may be killed next
    assert writer.written.get(timeout=10) == ["second", "third", reset]
    writer.put(("log", "fourth", 0.0))
    done = threading.Thread(target=writer.flush, args=(10,))
    done.start()  # a flush does not wait either
    assert writer.written.get(timeout=10) == ["fourth"]
    done.join(10)
    assert not done.is_alive()
