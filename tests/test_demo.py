"""`ling-notebook demo` brings up JupyterLab on the tutorials with the offline model, and Ctrl-C stops both."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request

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
        if demo.poll() is None:
            demo.kill()


def test_real_mode_needs_a_key(monkeypatch):
    monkeypatch.delenv("LING_API_KEY", raising=False)
    monkeypatch.delenv("ANT_LING_API_KEY", raising=False)
    result = subprocess.run([sys.executable, "-m", "ling_notebook.cli", "demo", "--real"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "LING_API_KEY" in result.stderr
