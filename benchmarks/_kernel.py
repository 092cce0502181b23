"""A real ipykernel driven through jupyter_client, with every iopub message counted on the wire.

Unlike tests/kernel_client.py this keeps no message bodies by default: a naive 10,000-token reply is
hundreds of megabytes of iopub traffic, so messages are summarised (type, size, arrival time) as they
arrive and a caller's handler decides what else to look at. Sizes are the bytes of the four JSON frames
(header, parent header, metadata, content) plus any buffers: what Jupyter Server relays to the browser.

The iopub socket is our own SUB socket with no receive high-water mark, so a fast kernel never makes
ZeroMQ drop messages on our side (the kernel's PUB socket drops when a subscriber falls behind).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
import zmq
from jupyter_client.manager import KernelManager

DELIMITER = b"<IDS|MSG>"
# Messages that are not output: they are left out of the kernel -> browser traffic counts.
BOOKKEEPING = {"status", "execute_input", "clear_output"}


@dataclass
class Message:
    type: str
    parent_id: str | None
    size: int
    at: float  # time.perf_counter() when it arrived (CLOCK_MONOTONIC: comparable with the kernel's)
    raw_content: bytes = field(repr=False)

    @property
    def content(self) -> dict[str, Any]:
        return json.loads(self.raw_content)  # type: ignore[no-any-return]


@dataclass
class Traffic:
    """Output messages and their bytes, by kind."""

    messages: int = 0
    bytes: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [count, bytes]

    def add(self, kind: str, size: int) -> None:
        self.messages += 1
        self.bytes += size
        entry = self.by_kind.setdefault(kind, [0, 0])
        entry[0] += 1
        entry[1] += size


class KernelError(RuntimeError):
    pass


class Kernel:
    """One kernel process: `run` code, `pump` iopub messages, read its CPU time and memory."""

    def __init__(
        self,
        env: dict[str, str],
        kernel_name: str = "python3",
        spec_dirs: list[str] | None = None,
        log: str | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"kernel_name": kernel_name}
        if spec_dirs:
            from jupyter_client.kernelspec import KernelSpecManager

            kwargs["kernel_spec_manager"] = KernelSpecManager(kernel_dirs=spec_dirs)
        self.manager = KernelManager(**kwargs)
        # The kernel's stdout/stderr (warnings, crashes); open for its life, closed in shutdown().
        self._log = open(log or os.devnull, "ab")  # noqa: SIM115
        cwd = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build")  # no stray .env files there
        os.makedirs(cwd, exist_ok=True)
        self.manager.start_kernel(env=env, stdout=self._log, stderr=self._log, cwd=cwd)
        self.client = self.manager.client()
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        self.socket = zmq.Context.instance().socket(zmq.SUB)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.socket.connect(self.client._make_url("iopub"))
        self.poller = zmq.Poller()
        self.poller.register(self.socket, zmq.POLLIN)
        self._replies: dict[str | None, dict[str, Any]] = {}
        self.process = psutil.Process(self.manager.provisioner.process.pid)  # type: ignore[union-attr]
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # the SUB socket may join after the first messages
            try:
                self.run("pass", timeout=2)
                return
            except TimeoutError:
                continue
        raise TimeoutError("the kernel did not become ready")

    def shutdown(self) -> None:
        try:
            self.client.stop_channels()
            self.manager.shutdown_kernel(now=True)
        finally:
            self.socket.close(linger=0)
            self._log.close()

    # -- iopub ---------------------------------------------------------------------------------
    def next_message(self, timeout: float) -> Message | None:
        if not self.poller.poll(max(0, int(timeout * 1000))):
            return None
        frames = self.socket.recv_multipart(copy=True)
        at = time.perf_counter()
        parts = frames[frames.index(DELIMITER) + 1 :]  # [hmac, header, parent, metadata, content, *buffers]
        header = json.loads(parts[1])
        parent = json.loads(parts[2]) if parts[2] else {}
        return Message(header["msg_type"], parent.get("msg_id"), sum(len(p) for p in parts[1:]), at, parts[4])

    def pump(self, handle: Callable[[Message], bool], timeout: float) -> None:
        """Pass each message to `handle` until it returns True; TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the kernel did not send what was waited for within {timeout:g} s")
            message = self.next_message(min(left, 0.5))
            if message is not None and handle(message):
                return

    def drain(self, quiet: float = 0.2) -> None:
        """Read and drop messages until none has come for `quiet` s (a bounded wait)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.next_message(quiet) is not None:
            pass

    # -- shell ---------------------------------------------------------------------------------
    def execute(self, code: str) -> str:
        msg_id: str = self.client.execute(code, store_history=False, allow_stdin=False)
        return msg_id

    def shell_reply(self, msg_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while msg_id not in self._replies:  # replies to other requests are kept for their callers
            reply = self.client.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            self._replies[reply["parent_header"].get("msg_id")] = reply
        reply = self._replies.pop(msg_id)
        if reply["content"]["status"] != "ok":
            c = reply["content"]
            raise KernelError(f"{c.get('ename')}: {c.get('evalue')}")
        return reply

    def run(
        self, code: str, timeout: float = 60, handle: Callable[[Message], None] | None = None
    ) -> list[Message]:
        """Execute `code`; return its own messages (stream, errors, ...) once the kernel is idle.

        Every message, its own and others (from background threads), also goes to `handle`.
        """
        msg_id = self.execute(code)
        own: list[Message] = []

        def on_message(m: Message) -> bool:
            if handle is not None:
                handle(m)
            if m.parent_id == msg_id:
                if m.type == "status" and m.content["execution_state"] == "idle":
                    return True
                own.append(m)
            return False

        self.pump(on_message, timeout)
        self.shell_reply(msg_id, timeout)
        errors = [m.content for m in own if m.type == "error"]
        if errors:
            raise KernelError("\n".join(f"{e['ename']}: {e['evalue']}" for e in errors))
        return own

    def value(self, expression: str, timeout: float = 60) -> Any:
        """Evaluate an expression in the kernel and return it (through JSON)."""
        own = self.run(f"import json as _bench_json; print(_bench_json.dumps({expression}))", timeout)
        return json.loads("".join(m.content["text"] for m in own if m.type == "stream"))

    # -- the process ---------------------------------------------------------------------------
    def cpu_seconds(self) -> float:
        """CPU time of the kernel process, all threads, from its process CPU clock (ns resolution)."""
        try:
            # Linux's clock id for another process's CPU clock: MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED).
            return time.clock_gettime((~self.process.pid << 3) | 2)
        except (OSError, OverflowError):
            times = self.process.cpu_times()  # clock ticks (10 ms)
            return times.user + times.system

    def rss(self) -> int:
        return self.process.memory_info().rss  # type: ignore[no-any-return]

    def reset_peak_rss(self) -> bool:
        """Reset the kernel's VmHWM (Linux: write 5 to clear_refs); False where not allowed."""
        try:
            with open(f"/proc/{self.process.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def peak_rss(self) -> int | None:
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None


def kernel_env(base_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmark kernel: the repository importable, the built-in server as the API."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LING_", "ANT_LING_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env["LING_BASE_URL"] = base_url
    env["LING_API_KEY"] = "sk-bench-not-a-secret"
    env["LING_LOG"] = "off"  # a benchmark never writes to the user's reply log (fig_log.py passes its own)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env
