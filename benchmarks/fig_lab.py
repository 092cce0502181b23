"""Figure 4, in a real browser: the Stop button clicked in JupyterLab -> the server sees EOF.

Starts JupyterLab on 127.0.0.1 (its own config, data, runtime and settings folders in a temp dir, as
../shared/BROWSER-TESTING.md describes), opens a notebook in headless Chromium, starts a reply on
`test/stall?after=2&rate=0` (the cell returns at once, so the kernel is idle), waits for both pieces on
screen, and clicks Stop with the mouse. The click time is taken in the page, in a capture listener on
the button (`performance.timeOrigin + performance.now()`), against the server's `disconnected_at`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _approaches import API_KEY
from _common import BUILD, ROOT, ServerProcess
from fig_browser import launch

MODEL = "test/stall?after=2&rate=0"
NOTEBOOK = "bench.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def notebook(*sources: str) -> dict[str, Any]:
    """A notebook (nbformat 4 JSON) with these code cells."""

    def cell(source: str) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "execution_count": None,
            "id": secrets.token_hex(4),
            "metadata": {},
            "outputs": [],
            "source": source,
        }

    return {
        "cells": [cell(source) for source in sources],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def configure_cell(server: ServerProcess) -> str:
    return f"import ling_notebook\nling_notebook.configure(base_url={server.url!r}, api_key={API_KEY!r})"


class Lab:
    """JupyterLab on 127.0.0.1 with `NOTEBOOK` (the given notebook, by default the Stop figure's) in its root,
    and `files` (name -> text) beside it."""

    def __init__(
        self, server: ServerProcess, nb: dict[str, Any] | None = None, files: dict[str, str] | None = None
    ) -> None:
        BUILD.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="lab-", dir=BUILD))
        (self.dir / "root").mkdir()
        nb = nb or notebook(configure_cell(server), f"r = ling_notebook.stream('go', model={MODEL!r})")
        (self.dir / "root" / NOTEBOOK).write_text(json.dumps(nb))
        for name, text in (files or {}).items():
            (self.dir / "root" / name).write_text(text)
        settings = self.dir / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(
            '{"fetchNews": "false", "checkForUpdates": false}'
        )
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "JUPYTER_CONFIG_DIR": str(self.dir / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.dir / "runtime"),
            "JUPYTER_DATA_DIR": str(self.dir / "data"),
            "IPYTHONDIR": str(self.dir / "ipython"),
            "JUPYTERLAB_SETTINGS_DIR": str(self.dir / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.dir / "workspaces"),
            "NO_PROXY": "127.0.0.1,localhost",
        }
        args = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.dir / 'root'}",
            "--LabApp.news_url=None",
            "--LabApp.expose_app_in_browser=True",
            "--JupyterNotebookApp.expose_app_in_browser=True",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
        # Open for the server's life, closed in stop().
        self.log = open(self.dir / "lab.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: see {self.dir / 'lab.log'}")
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2).close()
                return
            except OSError:
                time.sleep(0.25)
        raise TimeoutError("JupyterLab did not answer within 90 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # our own child
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
KERNEL_READY = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return Boolean(k && k.connectionStatus === 'connected' && k.status === 'idle');
}"""
RUN_CELL = """async (index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""
def configured_page(browser: Any, lab: Lab, path: str = "/lab/workspaces/bench/tree/{nb}") -> Any:
    """A fresh page of `lab`'s notebook, at `path` (a front end's URL for it), with its first cell (the set-up)
    run and the kernel idle."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"{lab.url}{path.format(nb=NOTEBOOK)}?token={lab.token}")
    page.wait_for_function(KERNEL_READY, timeout=60_000, polling=100)
    page.evaluate(RUN_CELL, 0)
    page.wait_for_function(KERNEL_READY, timeout=30_000, polling=100)
    return page


ARM_CLICK = """() => {
  window.__clickAt = null;
  const button = document.querySelector('PANEL .jp-Cell:nth-child(2) .ling-stop');
  button.addEventListener('click', () => { window.__clickAt = performance.timeOrigin + performance.now(); },
                          { capture: true, once: true });
}""".replace("PANEL", PANEL)


def browser_stop(server: ServerProcess, runs: int) -> dict[str, Any]:
    """{"times": [...]} in seconds, or {"skipped": reason}."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        return {"skipped": f"playwright is not installed ({exc})"}
    try:
        lab = Lab(server)
    except (OSError, RuntimeError, TimeoutError) as exc:
        return {"skipped": f"JupyterLab could not be started: {exc}"}
    times: list[float] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            try:
                page = configured_page(browser, lab)
                output = f"{PANEL} .jp-Cell:nth-child(2) .jp-OutputArea"
                for i in range(runs + 1):
                    server.clear()
                    page.evaluate(RUN_CELL, 1)
                    page.wait_for_function(
                        """(sel) => { const b = document.querySelector(sel + ' .ling-body');
                                      return Boolean(b && b.textContent.includes('w2')); }""",
                        arg=output,
                        timeout=30_000,
                        polling=10,
                    )
                    page.wait_for_function(KERNEL_READY, timeout=30_000, polling=10)
                    page.evaluate(ARM_CLICK)
                    page.click(f"{output} .ling-stop")
                    clicked = page.evaluate("window.__clickAt")
                    record = server.wait_for(
                        lambda r: r["path"].endswith("/chat/completions") and r["disconnected_at"], timeout=10
                    )
                    if i:  # the first run warms up the page and the kernel
                        times.append(float(record["disconnected_at"]) - clicked / 1000)
                    page.wait_for_function(
                        """(sel) => !document.querySelector(sel + ' .ling-stop:not([hidden])')""",
                        arg=output,
                        timeout=30_000,
                        polling=20,
                    )
            finally:
                browser.close()
    except Exception as exc:  # noqa: BLE001 (the front end is young: report, do not crash the whole run)
        if not times:
            return {
                "skipped": "the JupyterLab run failed: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            }
        return {"times": times, "note": f"stopped early: {type(exc).__name__}"}
    finally:
        lab.stop()
    return {"times": times}
