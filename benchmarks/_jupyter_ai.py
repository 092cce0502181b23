"""jupyter-ai's `%%ai` magic as a baseline, from a throwaway venv outside the project.

jupyter-ai 3.x ships the `%%ai` magic in its `magics` extra (`jupyter-ai-magic-commands`, which calls
models through LiteLLM). A model at an OpenAI-compatible URL is reached with an alias:
`%ai alias NAME openai/<model> --api-base URL`. It does not stream: the cell blocks on one
`stream=False` request and shows the whole reply at the end.

The venv lives under /tmp and is never a dependency of the project. Its kernel gets
`LITELLM_LOCAL_MODEL_COST_MAP=True` (LiteLLM would otherwise fetch a price list from the internet on
import) and proxies pointing at a closed local port, so nothing it does can leave the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from _approaches import API_KEY, Approach

DEFAULT_VENV = Path("/tmp/ling-bench-jupyter-ai")
REQUIREMENTS = ["jupyter-ai[magics]", "ipykernel"]
PROBE = (
    "import importlib.metadata as m, jupyter_ai_magic_commands, ipykernel; "
    "print(', '.join(f'{n} {m.version(n)}' for n in ('jupyter-ai', 'jupyter-ai-magic-commands', 'litellm')))"
)

# Any HTTP(S) request that is not for 127.0.0.1 goes to this closed port and fails at once.
SEALED = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
}
SEALED.update({k.lower(): v for k, v in SEALED.items() if k.endswith("PROXY")})


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def probe(venv: Path) -> str | None:
    """The versions installed in `venv`, or None when it cannot run the magic."""
    if not python_of(venv).exists():
        return None
    try:
        out = subprocess.run(
            [str(python_of(venv)), "-c", PROBE],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **SEALED},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def ensure(venv: Path, install: bool, timeout: float = 360) -> tuple[str | None, str]:
    """(versions, note): use the venv, or try once to create it with pip (time-boxed)."""
    versions = probe(venv)
    if versions:
        return versions, f"from {venv}"
    if not install:
        return None, f"no usable jupyter-ai venv at {venv} (run without --no-install to try installing it)"
    print(
        f"  installing {' '.join(REQUIREMENTS)} into {venv} (time-boxed to {timeout:.0f} s) ...", flush=True
    )
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        result = subprocess.run(
            [str(python_of(venv)), "-m", "pip", "install", "-q", *REQUIREMENTS],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, f"`pip install {' '.join(REQUIREMENTS)}` did not finish within {timeout:.0f} s"
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"could not create the venv: {exc}"
    if result.returncode != 0:
        tail = " ".join(line for line in result.stderr.splitlines() if "is ignored" not in line)[-300:]
        return None, f"`pip install {' '.join(REQUIREMENTS)}` failed: {tail}"
    versions = probe(venv)
    return (
        (versions, f"installed into {venv}")
        if versions
        else (None, "installed, but the %%ai magic does not load")
    )


def kernel_extra_env() -> dict[str, str]:
    return {**SEALED, "OPENAI_API_KEY": API_KEY}


SETUP = "%load_ext jupyter_ai_magic_commands\n_bench_aliases = set()"

JUPYTER_AI = Approach(
    "jupyter_ai",
    "jupyter-ai 3 %%ai (does not stream)",
    "_bench_alias = 'b{alias}'\n"
    "if _bench_alias not in _bench_aliases:\n"
    "    get_ipython().run_line_magic('ai', f'alias {{_bench_alias}} openai/{model} --api-base {base}')\n"
    "    _bench_aliases.add(_bench_alias)\n"
    "_bench_t0 = time.perf_counter()\n"
    "_bench_out = get_ipython().run_cell_magic('ai', _bench_alias, 'go')\n"
    "_bench_end = time.perf_counter()\n"
    "display(_bench_out)",
    '{"t0": _bench_t0, "first": _bench_end, "end": _bench_end, '
    '"chars": len(getattr(_bench_out, "data", "")), '
    '"status": "done" if hasattr(_bench_out, "data") else repr(_bench_out)}',
    streams=False,
)


def kernel_spec_dir(venv: Path, root: Path) -> str:
    """Write a kernelspec that runs the venv's python; return the folder of kernelspecs."""
    path = root / "kernels" / "bench-jupyter-ai"
    path.mkdir(parents=True, exist_ok=True)
    (path / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python_of(venv)), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "bench jupyter-ai",
                "language": "python",
            }
        )
    )
    return str(root / "kernels")
