"""A small driver for a real ipykernel: run code, read every iopub message, talk to widget comms."""

from __future__ import annotations

import json
import os
import queue
import time
from typing import Any, Callable

from jupyter_client.manager import start_new_kernel

# The key and notebook path of the kernels that record replies (fixtures `record_log`, `record_kernel`).
RECORD_KEY = "sk-record-kernel-7d1e-secret"
RECORD_NOTEBOOK = "work/analysis.ipynb"


def magics_kernel(server_url: str, key: str) -> Kernel:
    """A kernel with `%load_ext ling_notebook` done, talking to the built-in server (default model `test/echo`)."""
    env = {**os.environ, "LING_BASE_URL": server_url, "LING_API_KEY": key, "LING_MODEL": "test/echo"}
    kernel = Kernel(env=env)
    kernel.run("%load_ext ling_notebook\nimport ling_notebook")
    return kernel


class Kernel:
    def __init__(self, env: dict[str, str] | None = None, **launch: Any) -> None:
        """`launch`: more arguments for starting the kernel process (e.g. `stderr=` a file, for its log)."""
        self.manager, self.client = start_new_kernel(kernel_name="python3", env=env, **launch)
        self.messages: list[dict[str, Any]] = []  # iopub messages seen, in order (tests may clear it)
        self.history: list[dict[str, Any]] = []  # every iopub message this kernel ever sent

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)

    def run(self, code: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Execute `code` and return the iopub messages of that execution (until it is idle)."""
        msg_id = self.client.execute(code)
        start = len(self.messages)
        self.read_until(lambda: any(
            m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
            and m["parent_header"].get("msg_id") == msg_id for m in self.messages[start:]
        ), timeout)
        reply = self.client.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.client.get_shell_msg(timeout=timeout)
        outputs = [m for m in self.messages[start:] if m["parent_header"].get("msg_id") == msg_id]
        errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
        assert not errors, "\n".join(e["ename"] + ": " + e["evalue"] for e in errors)
        return outputs

    def value(self, expression: str) -> Any:
        """Evaluate an expression in the kernel and return it (through JSON)."""
        outputs = self.run(f"import json as _j; print(_j.dumps({expression}))")
        text = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
        return json.loads(text)

    def read_until(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the kernel did not send what the test waited for")
            try:
                message = self.client.get_iopub_msg(timeout=min(left, 0.5))
                self.messages.append(message)
                self.history.append(message)
            except queue.Empty:
                pass

    # -- widgets ----------------------------------------------------------------------------
    def widget_comms(self) -> list[str]:
        return [m["content"]["comm_id"] for m in self.messages
                if m["msg_type"] == "comm_open" and m["content"].get("target_name") == "jupyter.widget"]

    def custom(self, comm_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The custom messages the kernel sent to a widget's views."""
        found = []
        for m in self.messages:
            if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id:
                data = m["content"]["data"]
                if data.get("method") == "custom" and (kind is None or data["content"].get("type") == kind):
                    found.append(data["content"])
        return found

    def state(self, comm_id: str) -> dict[str, Any]:
        """The widget's synced state, as a front end would know it."""
        state: dict[str, Any] = {}
        for m in self.messages:
            content = m["content"]
            if m["msg_type"] == "comm_open" and content.get("comm_id") == comm_id:
                state.update(content["data"]["state"])
            elif m["msg_type"] == "comm_msg" and content["comm_id"] == comm_id:
                if content["data"].get("method") == "update":
                    state.update(content["data"]["state"])
        return state

    def send_to_widget(self, comm_id: str, content: dict[str, Any]) -> None:
        """What a view's `model.send(content)` does: a comm_msg on the shell channel."""
        data = {"method": "custom", "content": content}
        msg = self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.client.shell_channel.send(msg)

    def displays(self, display_id: str | None = None) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m["msg_type"] == "update_display_data"
                and (display_id is None or m["content"]["transient"].get("display_id") == display_id)]
