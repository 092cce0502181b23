"""`%ling export` in a real kernel: after a restart, a conversation comes out of the reply log as a notebook that
validates and, through nbconvert, shows its replies; bad input is refused in one line."""

from __future__ import annotations

import nbformat
from kernel_client import RECORD_KEY, Kernel, magics_kernel
from nbconvert import HTMLExporter
from test_record_kernel import printed, run_cell

from ling_notebook import record


def errors(outputs: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in outputs
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")


def test_after_a_restart_export_writes_the_conversation_from_the_log(model_server, record_log, tmp_path):
    kernel: Kernel = magics_kernel(model_server.url, RECORD_KEY)
    try:
        run_cell(kernel, "%%ling\nOne", "c1")
        run_cell(kernel, "%%ling\nTwo {{braces}}", "c2")
        run_cell(kernel, "%%ling --chat notes\nAside", "c3")
        kernel.shutdown()
        kernel = magics_kernel(model_server.url, RECORD_KEY)
        path = tmp_path / "default.ipynb"
        assert printed(kernel.run(f"%ling export --to ipynb {path}")).endswith(
            f"ling: exported conversation 'default', 2 turn(s), to {path}.\n")
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        load, *cells = nb.cells
        assert load.source == "%load_ext ling_notebook"
        assert [cell.source for cell in cells] == ["%%ling\nOne", "%%ling\nTwo {{braces}}"]
        ids = [row["id"] for row in record.rows(str(record_log))][:2]
        assert [cell.outputs[0].metadata["ling_notebook"]["reply"] for cell in cells] == ids
        html, _ = HTMLExporter().from_filename(str(path))
        assert html.count('class="ling-status"') == 2 and "<p>One</p>" in html and "<p>Two {braces}</p>" in html

        notes = tmp_path / "notes.ipynb"
        kernel.run(f"%ling export notes --to ipynb {notes}")
        assert nbformat.read(notes, as_version=4).cells[1].source == "%%ling --chat notes\nAside"

        for line, refusal in [
            ("nope --to md x.md", "ling: no conversation 'nope' to export; known: 'default', 'notes'.\n"),
            (f"--to ipynb {path}", f"ling: {path} exists: choose another path, or add --force to replace it.\n"),
            ("--to pdf x.pdf", "ling: cannot export to 'pdf': --to takes md (Markdown) or ipynb (a notebook).\n"),
            ("notes", "ling: Use `%ling export [NAME] --to md|ipynb PATH [--force]`.\n"),
        ]:
            assert errors(kernel.run(f"%ling export {line}")) == refusal
        assert "exported conversation 'default'" in printed(kernel.run(f"%ling export --to md {path} --force"))
        assert path.read_text().startswith("# Conversation 'default'")
    finally:
        kernel.shutdown()
