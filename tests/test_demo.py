"""`ling-notebook demo` brings up JupyterLab on the tutorials with the offline model, and Ctrl-C, SIGTERM
and SIGHUP stop it all: JupyterLab, its kernels and the model server."""

from __future__ import annotations

import json
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import psutil
import pytest

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.timeout(120)
def test_demo_serves_the_tutorials_and_stops_on_ctrl_c():
    lab_port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "ling_notebook.cli", "demo", "--port", str(lab_port), "--rate", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = [demo.stdout.readline() for _ in range(3)]
        banner = "".join(lines)
        url = re.search(r"Open (http://127\.0\.0\.1:\d+/lab\?token=(\w+))", banner)
        model_url = re.search(r"at (http://127\.0\.0\.1:(\d+)/v1)", banner)
        assert url and model_url, banner
        token = url.group(2)

        contents = json.load(DIRECT.open(f"http://127.0.0.1:{lab_port}/api/contents?token={token}"))
        names = {item["name"] for item in contents["content"]}
        assert {"01-quick-start.ipynb", "05-testing-offline.ipynb"} <= names
        models = json.load(DIRECT.open(f"{model_url.group(1)}/models"))
        assert "ling-offline-demo" in {m["id"] for m in models["data"]}

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0
        assert refused(lab_port) and refused(int(model_url.group(2)))
    finally:
        end(demo)


def start_demo(**popen: object) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The demo, started; what its banner says (lab URL, token, model server URL and port, log)."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "ling_notebook.cli", "demo", "--port", str(free_port()), "--rate", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
    )
    banner = "".join(demo.stdout.readline() for _ in range(3))
    found = re.search(r"at (?P<models>http://127\.0\.0\.1:(?P<model_port>\d+)/v1)\.\n"
                      r"  Open (?P<lab>http://127\.0\.0\.1:(?P<lab_port>\d+))/lab\?token=(?P<token>\w+)\n"
                      r"  JupyterLab's log: (?P<log>.+)\. Ctrl-C", banner)
    if found is None:
        end(demo)
        pytest.fail(f"unexpected banner: {banner!r} {demo.stderr.read()}")
    return demo, found.groupdict()


def lab_api(lab: dict[str, str], method: str, path: str, body: object = None) -> object:
    request = urllib.request.Request(f"{lab['lab']}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {lab['token']}"})
    with DIRECT.open(request, timeout=30) as response:
        return json.load(response)


def end(demo: subprocess.Popen[str], *more: psutil.Process) -> None:
    """Kill what a failed test left running: the demo and everything it started."""
    if demo.poll() is None:
        more = (*more, *psutil.Process(demo.pid).children(recursive=True))
        demo.kill()
    for process in more:
        if process.is_running():
            process.kill()


def command_line(process: psutil.Process) -> str:
    """What `ps` shows of a process; nothing for one that has already exited (a short-lived helper that
    JupyterLab started, a zombie until reaped), which shows no command line to anyone."""
    try:
        return " ".join(process.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return ""


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell without job control starts a background job


@pytest.mark.timeout(180)
@pytest.mark.parametrize("stop, popen", [
    (signal.SIGTERM, {}),
    (signal.SIGHUP, {}),
    (signal.SIGINT, {"preexec_fn": ignore_sigint}),  # `ling-notebook demo &` from a script
], ids=["SIGTERM", "SIGHUP", "SIGINT-in-the-background"])
def test_a_signal_stops_jupyterlab_its_kernels_and_the_model_server(stop, popen):
    demo, lab = start_demo(**popen)
    left: list[psutil.Process] = []
    try:
        kernel = lab_api(lab, "POST", "/api/kernels", {"name": "python3"})
        assert isinstance(kernel, dict) and kernel["id"]
        left = psutil.Process(demo.pid).children(recursive=True)  # JupyterLab and the kernel
        assert len(left) >= 2
        assert not [p.pid for p in [psutil.Process(demo.pid), *left] if lab["token"] in command_line(p)]

        demo.send_signal(stop)
        assert demo.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(left, timeout=30)
        assert alive == []
        assert refused(int(lab["lab_port"])) and refused(int(lab["model_port"]))
    finally:
        end(demo, *left)


@pytest.mark.timeout(120)
def test_the_demo_keeps_its_log_and_token_private_and_turns_the_news_pop_up_off():
    demo, lab = start_demo()
    try:
        log = Path(lab["log"])  # in a folder of its own (mkdtemp), not at a name anyone can predict
        assert log.is_file() and log.parent.parent == Path(tempfile.gettempdir())
        assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
        settings = lab_api(lab, "GET", "/lab/api/settings/@jupyterlab/apputils-extension:notification")
        assert settings["settings"] == {"fetchNews": "false", "checkForUpdates": False}
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0
    finally:
        end(demo)


def test_real_mode_needs_a_key(monkeypatch):
    monkeypatch.delenv("LING_API_KEY", raising=False)
    monkeypatch.delenv("ANT_LING_API_KEY", raising=False)
    result = subprocess.run([sys.executable, "-m", "ling_notebook.cli", "demo", "--real"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "LING_API_KEY" in result.stderr
