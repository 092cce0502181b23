"""In a real kernel: a server's half surrogate pairs (finish reason, model name, error message, model list)
neither keep a reply's, a comparison's or a batch's widget open nor stop its static copy from being published."""

from __future__ import annotations

import pytest
from kernel_client import Kernel, magics_kernel
from test_server_text import OddServer


@pytest.fixture(scope="module")
def kernel():
    server = OddServer()
    k = magics_kernel(server.url, "sk-odd-server-key-0c4e")
    yield k
    k.shutdown()
    server.close()


def ends_as_a_static_copy(kernel: Kernel, cell: str) -> list[dict]:
    """Run `cell`; wait until each widget it opened is closed, and return the updates that replaced them."""
    kernel.messages.clear()
    kernel.run(cell)
    opened = [c for c in kernel.widget_comms() if kernel.state(c).get("_esm") is not None]
    assert opened

    def closed() -> set[str]:
        return {m["content"]["comm_id"] for m in kernel.messages if m["msg_type"] == "comm_close"}

    kernel.read_until(lambda: set(opened) <= closed(), timeout=20)
    return kernel.displays()


@pytest.mark.parametrize("cell, shown", [
    ("%%ling -m stream\nhi", "stop\ufffd"),
    ("%%ling -m whole --no-stream\nhi", "whole\ufffd"),
    ("%%ling -m status\nhi", "refused\ufffd by the gateway"),
    ("%%ling -m event\nhi", "refused\ufffd by the gateway"),
    ("c = ling_notebook.compare('hi', models=['stream', 'status'])", "refused\ufffd by the gateway"),
    ("b = ling_notebook.batch(['hi', 'ho'], model='status')", "refused\ufffd by the gateway"),
], ids=["finish-reason", "model-name", "http-error", "stream-error", "comparison", "batch"])
def test_the_static_copy_is_published_and_the_widget_closed(kernel, cell, shown):
    updates = ends_as_a_static_copy(kernel, cell)
    assert any(shown in update["data"]["text/html"] for update in updates)


def test_the_model_list_is_printed(kernel):
    outputs = kernel.run("%ling models")
    printed = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert "odd\ufffd-model" in printed
