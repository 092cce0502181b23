"""`%%ling --code` in a real kernel: the reply streams as usual, then its code blocks become the next cell
(the `set_next_input` payload of the execute reply, which JupyterLab, Notebook 7 and VS Code turn into a new
cell below); nothing is run."""

from __future__ import annotations

import pytest
from kernel_client import Kernel, magics_kernel

KEY = "sk-code-test-77c1-secret"

REPLY = """Here is the plan.

```python
import math
print(math.pi)
```

Then, in a quote:

> ```bash
> echo done
> ```

Not code: `inline`, and this indented block:

    ignored = True

```
x = 1  # a fence without a language
```
"""
BLOCKS = ["import math\nprint(math.pi)", "echo done", "x = 1  # a fence without a language"]


@pytest.fixture(scope="module")
def kernel(model_server):
    k = magics_kernel(model_server.url, KEY)
    yield k
    k.shutdown()


def execute(kernel: Kernel, code: str) -> tuple[dict, str]:
    """Run `code`; return the content of its execute reply and what it printed on stderr."""
    msg_id = kernel.client.execute(code)
    reply = kernel.client.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.client.get_shell_msg(timeout=60)
    kernel.read_until(lambda: any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                                  and m["parent_header"].get("msg_id") == msg_id for m in kernel.messages))
    errors = "".join(m["content"]["text"] for m in kernel.messages if m["parent_header"].get("msg_id") == msg_id
                     and m["msg_type"] == "stream" and m["content"]["name"] == "stderr")
    return reply["content"], errors


def next_inputs(content: dict) -> list[dict]:
    return [p for p in content.get("payload", []) if p.get("source") == "set_next_input"]


@pytest.mark.parametrize(("line", "expected"), [
    ("--code", "\n\n".join(BLOCKS)),
    ("-f code", "\n\n".join(BLOCKS)),
    ("--code 2", BLOCKS[1]),
    ("--code 3 -t 0.1", BLOCKS[2]),
])
def test_the_next_cell_gets_exactly_the_reply_s_code_blocks(kernel, model_server, line, expected):
    content, errors = execute(kernel, f"%%ling --no-history -o code_reply {line}\n{REPLY}")
    assert errors == ""
    assert next_inputs(content) == [{"source": "set_next_input", "text": expected, "replace": False}]
    # The cell waited for the reply: it has ended when the cell does, with the same text.
    assert kernel.value("[code_reply.status, code_reply.text == code_reply.messages[-1]['content']]") == [
        "done", True]


def test_the_reply_streams_into_its_live_view_as_usual(kernel, model_server):
    kernel.messages.clear()
    execute(kernel, f"%%ling --no-history --code\n{REPLY}")
    comms = kernel.widget_comms()
    assert comms and kernel.custom(comms[-1], "delta")


def test_nothing_is_run(kernel, model_server):
    content, _ = execute(kernel, "%%ling --no-history --code\n```python\nran_by_ling = True\n```")
    assert next_inputs(content)[0]["text"] == "ran_by_ling = True"
    assert kernel.value("'ran_by_ling' in globals()") is False


@pytest.mark.parametrize(("line", "body", "message"), [
    ("--code", "No code here, only `inline` and\n\n    indented", "the reply has no code block"),
    ("--code 4", REPLY, "--code 4: the reply has 3 code block(s); give a number from 1 to 3"),
    ("--code 0", REPLY, "argument --code: 0: code blocks count from 1"),
    ("-f markdown", REPLY, "-f takes `code`"),
    ("--code -m test/echo -m test/echo", REPLY, "--code takes the code of one reply"),
    ("--code -m test/http-500", REPLY, "no new cell: the reply did not end on its own (error)"),
])
def test_no_new_cell_and_one_clear_line_when_there_is_no_such_code(kernel, model_server, line, body, message):
    content, errors = execute(kernel, f"%%ling --no-history {line}\n{body}")
    assert next_inputs(content) == []
    assert errors.startswith("ling: ") and message in errors and "Traceback" not in errors
