"""Shared pytest fixtures."""

import os
from collections.abc import Iterator

import pytest

from ling_notebook.server import ModelServer


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


# The unit tests need neither a kernel nor a browser; `./dev oldest` runs only them, on the oldest releases
# pyproject.toml allows, where the Jupyter test tools are not installed.
JUPYTER_TESTS = ["*_kernel.py", "test_magics.py", "test_notebooks.py", "test_demo.py", "browser"]
if os.environ.get("LING_TESTS") == "unit":
    collect_ignore_glob = JUPYTER_TESTS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: they are the slowest, and the quick ones should fail first."""
    items.sort(key=lambda item: "browser" in item.keywords)
