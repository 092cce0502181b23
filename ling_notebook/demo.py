"""`ling-notebook demo`: the built-in server's offline demo model plus JupyterLab on the tutorials.

JupyterLab gets its settings through the environment (LING_BASE_URL, LING_MODEL), the same way a user
configures a real server, so the notebooks contain no demo-specific code. Both listen on 127.0.0.1 only.
JupyterLab runs on a Jupyter configuration of the demo's own, in a private folder (mode 0700) that also
holds its log. Ctrl-C, SIGTERM and SIGHUP all stop JupyterLab (and so its kernels) and the model server.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .server import DEMO_MODEL, ModelServer

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# What stops the demo: Ctrl-C, `kill`, and the terminal closing (no SIGHUP on Windows).
_STOPS = (signal.SIGINT, signal.SIGTERM, *((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()))


def run_demo(*, lab_port: int | None, server_port: int, rate: float, real: bool, notebooks: Path | None) -> int:
    # Each ends in the same clean-up. Set explicitly: a shell that starts a background job without job
    # control makes it ignore SIGINT, and Python keeps that.
    previous = {sig: signal.signal(sig, signal.default_int_handler) for sig in _STOPS}
    try:
        return _run(lab_port=lab_port, server_port=server_port, rate=rate, real=real, notebooks=notebooks)
    except KeyboardInterrupt:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(*, lab_port: int | None, server_port: int, rate: float, real: bool, notebooks: Path | None) -> int:
    if notebooks is not None:
        root = notebooks
    elif NOTEBOOKS.is_dir():  # a working copy, so running the tutorials never changes the originals
        root = Path(tempfile.mkdtemp(prefix="ling-notebook-tutorials-"))
        shutil.copytree(NOTEBOOKS, root, dirs_exist_ok=True)
    else:
        root = Path.cwd()
    env = dict(os.environ)
    if real:
        if not (env.get("LING_API_KEY") or env.get("ANT_LING_API_KEY")):
            print("ling-notebook: --real talks to the Ant Ling API and needs your key: "
                  "set LING_API_KEY (or ANT_LING_API_KEY) first.", file=sys.stderr)
            return 2
        where = env.get("LING_BASE_URL", "the Ant Ling API")
    server = None
    lab = None
    try:
        if not real:
            server = ModelServer(port=server_port, rate=rate).start()
            env.update(LING_BASE_URL=server.url, LING_MODEL=DEMO_MODEL)
            for name in ("LING_API_KEY", "ANT_LING_API_KEY"):
                env.pop(name, None)  # the local server needs no key; never forward a real one to it
            where = f"the offline demo model '{DEMO_MODEL}' at {server.url}"
        port = lab_port or _free_port()
        token = secrets.token_hex(16)
        private = Path(tempfile.mkdtemp(prefix="ling-notebook-demo-"))  # mode 0700: only this user reads it
        env.update(_jupyter_config(private / "jupyter", token))
        env.pop("JUPYTER_TOKEN", None)  # the token is in the private configuration only
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # Jupyter refuses root without it (containers, CI)
        log = private / "jupyterlab.log"
        # Its own session: Ctrl-C reaches only us (Jupyter would ask "Shutdown?"), and we stop it below.
        with log.open("w") as log_file:
            lab = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        if not _wait_until_up(lab, f"http://127.0.0.1:{port}/api/status?token={token}"):
            print(f"ling-notebook: JupyterLab did not start:\n{log.read_text()}", file=sys.stderr)
            return 1
        print(f"ling-notebook demo: JupyterLab on {root}, talking to {where}.")
        print(f"  Open http://127.0.0.1:{port}/lab?token={token}")
        print(f"  JupyterLab's log: {log}. Ctrl-C stops both.", flush=True)
        lab.wait()
        return 0
    finally:
        # A second signal must not cut the clean-up short and leave JupyterLab running.
        held = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _STOPS}
        try:
            _stop(lab)
            if server is not None:
                server.stop()
        finally:
            for sig, handler in held.items():
                signal.signal(sig, handler)


def _jupyter_config(folder: Path, token: str) -> dict[str, str]:
    """A Jupyter configuration of the demo's own in `folder`; the environment that selects it.

    The token goes in a file only this user can read, not on JupyterLab's command line, which every
    user of the machine can see (`ps`). JupyterLab's own settings say no to the news pop-up, which
    would cover the tutorials; the demo leaves the user's Jupyter configuration untouched.
    """
    settings = folder / "lab" / "user-settings"
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    config = folder / "jupyter_server_config.json"
    config.touch(mode=0o600)
    config.write_text(json.dumps({"IdentityProvider": {"token": token}}))
    return {"JUPYTER_CONFIG_DIR": str(folder), "JUPYTERLAB_SETTINGS_DIR": str(settings)}


def _stop(lab: subprocess.Popen[bytes] | None) -> None:
    """Stop JupyterLab, which shuts its kernels down (a kernel also exits when JupyterLab is gone)."""
    if lab is None or lab.poll() is not None:
        return
    lab.send_signal(signal.SIGTERM)
    try:
        lab.wait(timeout=10)
    except subprocess.TimeoutExpired:
        lab.kill()
        lab.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(process: subprocess.Popen[bytes], url: str, timeout: float = 60) -> bool:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never via a proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with direct.open(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.2)
    return False
