"""Driving JupyterLab and Notebook 7 for the browser tests: start a server, open a notebook, run cells,
read outputs.

`Lab` is a Jupyter server run as a subprocess on a free loopback port with its own config, data, runtime,
settings and workspace directories; it serves both front ends: JupyterLab at `/lab/...` and Notebook 7
(the `notebook` package) at `/notebooks/<path>`, both with the app exposed as `window.jupyterapp`.
`Notebook` is one notebook open in a page, its cells addressed by index: in JupyterLab at its own
workspace URL (so JupyterLab restores nothing from an earlier test), in Notebook 7 alone in its page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from playwright.sync_api import Locator, Page, expect

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
FAKE_KEY = "sk-browser-test-0000-not-a-real-key"
LAB, NOTEBOOK7 = "lab", "notebook7"
FRONT_ENDS = (LAB, NOTEBOOK7)
# The visible notebook only: JupyterLab keeps other documents in the DOM, hidden.
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
_DIRS = ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR",
         "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab server."""

    url: str
    token: str
    root: Path
    log: Path

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every session and its kernel, so a finished test leaves no kernel busy."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")


@contextmanager
def run_lab(base: Path, env: dict[str, str]) -> Iterator[Lab]:
    """Start JupyterLab with its files under `base` and `env` added to the environment; stop it after."""
    root = base / "root"
    dirs = {name: base / name.lower() for name in _DIRS}
    for path in (root, *dirs.values()):
        path.mkdir()
    notification = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("LING_", "ANT_LING_"))}
    full_env["LING_LOG"] = os.environ.get("LING_LOG", "off")  # the tests' own log (conftest), never the user's
    full_env.update({name: str(path) for name, path in dirs.items()})
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), full_env.get("PYTHONPATH")) if p)
    full_env.update(env)
    port, token = free_port(), os.urandom(16).hex()
    args = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True", "--allow-root",
    ]
    log = base / "jupyterlab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            try:
                lab.api("GET", "/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.1)  # polling a port that is not open yet: there is no event to wait on
        yield lab
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Notebook:
    """One notebook open in the page (in `front_end`: LAB or NOTEBOOK7); cells are addressed by index."""

    def __init__(self, page: Page, lab: Lab, name: str, front_end: str = LAB) -> None:
        self.page, self.lab, self.name, self.front_end = page, lab, name, front_end
        self.path = lab.root / f"{name}.ipynb"
        self.panel = page.locator(NOTEBOOK)

    def write(self, *sources: str) -> Notebook:
        cells = [nbformat.v4.new_code_cell(source) for source in sources]
        kernelspec = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernelspec}), self.path)
        return self

    def open(self, workspace: str | None = None) -> Notebook:
        """Load the notebook (in JupyterLab at its own workspace URL) and wait until its kernel is connected
        and idle."""
        if self.front_end == NOTEBOOK7:
            self.page.goto(f"{self.lab.url}/notebooks/{self.path.name}?token={self.lab.token}")
        else:
            workspace = workspace or self.name
            self.page.goto(f"{self.lab.url}/lab/workspaces/{workspace}/tree/{self.path.name}?token={self.lab.token}")
        self.wait_for_kernel()
        return self

    def wait_for_kernel(self, timeout: float = 60_000) -> None:
        # The toolbar can say "idle" before the kernel's websocket is connected; a cell run then is lost.
        self.page.wait_for_function(
            """(path) => {
                const panel = window.jupyterapp?.shell?.currentWidget;
                const kernel = panel?.sessionContext?.session?.kernel;
                return panel?.context?.path === path && !!kernel
                    && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
            }""",
            arg=self.path.name, timeout=timeout,
        )

    def cell(self, index: int) -> Locator:
        return self.panel.locator(".jp-Cell").nth(index)

    def output(self, index: int) -> Locator:
        return self.cell(index).locator(".jp-OutputArea")

    def prompt(self, index: int) -> Locator:
        return self.cell(index).locator(".jp-InputArea-prompt")

    def widget(self, index: int) -> Locator:
        return self.output(index).locator(".ling-widget")

    def body(self, index: int) -> Locator:
        return self.widget(index).locator(".ling-body")

    def static_copy(self, index: int) -> Locator:
        """The static HTML copy (render.py) that replaces the live view when the reply ends."""
        return self.output(index).locator(".ling-static")

    def run(self, index: int, *, keyboard: bool = False) -> None:
        """Run one cell: select it and press Shift+Enter, or use the app's command; wait until it started."""
        if keyboard:
            self.prompt(index).click()
            self.page.keyboard.press("Shift+Enter")
        else:
            self.page.evaluate(
                """(index) => {
                    const app = window.jupyterapp;
                    const notebook = app.shell.currentWidget.content;
                    notebook.activeCellIndex = index;
                    notebook.deselectAll();
                    void app.commands.execute('notebook:run-cell');  // resolves only when the cell ends
                }""",
                index,
            )
        expect(self.prompt(index)).to_have_text(re.compile(r"\[(\*|\d+)\]"))

    def run_and_wait(self, index: int) -> None:
        """Run a cell and wait until it has finished (its prompt shows a number)."""
        self.run(index)
        expect(self.prompt(index)).to_have_text(re.compile(r"\[\d+\]"))

    def save(self) -> None:
        """Save the notebook and wait until the file has what the page shows. A change that lands while a save
        runs (an output replaced, a widget closing) leaves the model dirty after it: then it saves again."""
        self.page.wait_for_function(
            """() => {
                const context = window.jupyterapp.shell.currentWidget.context;
                if (context.model.dirty && !window.__lingSaving) {
                    window.__lingSaving = context.save().finally(() => { window.__lingSaving = null; });
                }
                return !context.model.dirty && !window.__lingSaving;
            }""",
            polling=250,
        )

    def screenshot(self, artifacts: Path, scenario: str) -> Path:
        path = artifacts / f"{scenario}{'' if self.front_end == LAB else '-' + self.front_end}.png"
        self.page.screenshot(path=str(path))
        return path


def jupyter(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a `jupyter` subcommand from the environment running the tests."""
    exe = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, check=True)
