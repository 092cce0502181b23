"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ling_notebook.server import ModelServer

if TYPE_CHECKING:
    from kernel_client import Kernel


@pytest.fixture(scope="session", autouse=True)
def reply_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Never the user's own reply log: every test, and every kernel or JupyterLab a test starts (they
    inherit the environment), records in this run's. Tests of the log choose files of their own."""
    path = str(tmp_path_factory.mktemp("log") / "replies.sqlite")
    os.environ["LING_LOG"] = path
    yield path


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    """The built-in server on a free loopback port, shared by the session; the demo model runs at 1000
    tokens/s (``ling-offline-demo?rate=N`` to change it). Call ``clear()`` before reading its records."""
    with ModelServer(port=0, rate=1000.0) as server:
        yield server


@pytest.fixture
def record_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A reply log of this test's, and the notebook path Jupyter Server gives the kernels it starts."""
    from kernel_client import RECORD_NOTEBOOK  # the Jupyter test tools: not installed for the unit tests

    path = tmp_path / "replies.sqlite"
    monkeypatch.setenv("LING_LOG", str(path))
    monkeypatch.setenv("JPY_SESSION_NAME", RECORD_NOTEBOOK)
    return path


@pytest.fixture
def record_kernel(model_server: ModelServer, record_log: Path) -> Iterator[Kernel]:
    """A kernel recording in `record_log`, as if started by Jupyter Server for the notebook `RECORD_NOTEBOOK`."""
    from kernel_client import RECORD_KEY, magics_kernel

    kernel = magics_kernel(model_server.url, RECORD_KEY)
    yield kernel
    kernel.shutdown()


# The unit tests need neither a kernel nor a browser; `./dev oldest` runs only them, on the oldest releases
# pyproject.toml allows, where the Jupyter test tools are not installed.
JUPYTER_TESTS = ["*_kernel.py", "test_magics.py", "test_notebooks.py", "test_demo.py", "browser"]
if os.environ.get("LING_TESTS") == "unit":
    collect_ignore_glob = JUPYTER_TESTS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: they are the slowest, and the quick ones should fail first."""
    items.sort(key=lambda item: "browser" in item.keywords)
