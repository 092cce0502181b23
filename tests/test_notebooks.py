"""Every tutorial notebook runs top to bottom against the built-in server, as `./dev demo` sets it up."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_tutorials():
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, model_server, monkeypatch, tmp_path):
    monkeypatch.setenv("LING_BASE_URL", model_server.url)
    monkeypatch.setenv("LING_MODEL", "ling-offline-demo?rate=400")
    monkeypatch.delenv("LING_API_KEY", raising=False)
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code"), (
        "commit notebooks without outputs"
    )
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    for c in nb.cells:
        for output in c.get("outputs", []):
            text = output.get("text", "")
            assert not (output.get("name") == "stderr" and "ling:" in text), f"{path.name}: {text}"
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "Traceback" not in printed
