"""Fixtures for the browser tests: one Jupyter server and one headless Chromium per module.

The server serves JupyterLab and Notebook 7. Tests run in JupyterLab; a test marked with
`@pytest.mark.parametrize("front_end", FRONT_ENDS, indirect=True)` runs in both, its `notebook` fixture
opening the notebook in each.

JupyterLab's kernels get `LING_BASE_URL` pointing at the in-process built-in model server
(`model_server` from tests/conftest.py) and a fake `LING_API_KEY`, so every reply comes from it and
a test can read the server's records directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lab_driver import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, FAKE_KEY, LAB, Lab, Notebook, run_lab
from playwright.sync_api import Browser, Page, expect, sync_playwright

expect.set_options(timeout=20_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not Path(CHROMIUM).exists():
        skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


# Module scope: Playwright's sync API keeps an event loop running on the main thread until it stops,
# which would break the other tests' asyncio.run().
@pytest.fixture(scope="module")
def lab(model_server, tmp_path_factory) -> Iterator[Lab]:
    with run_lab(tmp_path_factory.mktemp("lab"), {"LING_BASE_URL": model_server.url, "LING_API_KEY": FAKE_KEY}) as lab:
        yield lab


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(browser: Browser, lab: Lab) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    # Printed with a failing test's output: what the page complained about.
    page.on("console", lambda msg: print(f"[console.{msg.type}] {msg.text}")
            if msg.type == "error" or "ling-notebook" in msg.text else None)
    page.on("pageerror", lambda exc: print(f"[pageerror] {exc}"))
    yield page
    context.close()
    lab.shutdown_kernels()


@pytest.fixture
def front_end(request: pytest.FixtureRequest) -> str:
    """The front end the test drives: JupyterLab unless the test is parametrized over FRONT_ENDS."""
    return getattr(request, "param", LAB)


@pytest.fixture
def notebook(page: Page, lab: Lab, front_end: str, request: pytest.FixtureRequest) -> Callable[..., Notebook]:
    """`notebook(*cell_sources)`: write a notebook named after the test (and its front end), open it in that
    front end, return a `Notebook`."""

    def make(*sources: str) -> Notebook:
        name = request.node.originalname.removeprefix("test_") + ("" if front_end == LAB else f"-{front_end}")
        return Notebook(page, lab, name, front_end).write(*sources).open()

    return make
