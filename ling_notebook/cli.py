"""The ``ling-notebook`` command line: one subcommand per job, each a small function.

``ling-notebook serve`` runs the built-in OpenAI-compatible server (``server/``) in the foreground,
with the offline demo model and the test scenarios, until Ctrl-C; ``serve --replay [LOG]`` serves the
reply log's complete replies instead. ``ling-notebook demo`` adds
JupyterLab on the tutorials, configured to use it (``demo.py``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ling_notebook import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="ling-notebook", description="Stream a large language model's reply into Jupyter."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    _add_demo(commands)
    args = parser.parse_args(argv)
    status: int = args.run(args)
    return status


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the offline demo model on an OpenAI-compatible server",
        description="Serve the OpenAI chat-completions protocol on this machine: the offline demo model "
        "'ling-offline-demo' (no API key, no network; it also answers to the default model name "
        "'Ling-2.6-flash') and the 'test/<scenario>' models for testing notebooks offline. Point a client "
        "at the printed URL (LING_BASE_URL).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="loopback address (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port (default: %(default)s)")
    serve.add_argument(
        "--rate", type=_rate, default=40.0, help="demo model tokens/s; 0 = no pause (default: %(default)s)"
    )
    serve.add_argument(
        "--replay", nargs="?", const="", default=None, metavar="LOG",
        help="serve the complete replies of this reply log (default: LING_LOG, else the user's log) to the "
        "requests they answered, streamed or not, so a notebook re-runs offline; any other request gets an error",
    )
    serve.set_defaults(run=_serve)


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="JupyterLab with the tutorials, talking to the offline demo model",
        description="Start the built-in server's offline demo model and JupyterLab on 127.0.0.1 with the "
        "tutorial notebooks open, configured through LING_BASE_URL and LING_MODEL. No API key, no network. "
        "Ctrl-C stops both.",
    )
    demo.add_argument("--port", type=int, default=None, help="JupyterLab's port (default: a free one)")
    demo.add_argument("--server-port", type=int, default=0, help="the model server's port (default: a free one)")
    demo.add_argument("--rate", type=_rate, default=40.0, help="demo model tokens/s (default: %(default)s)")
    demo.add_argument("--notebooks", type=Path, default=None, help="folder to open (default: the tutorials)")
    demo.add_argument(
        "--real", action="store_true",
        help="use the real Ant Ling API (or LING_BASE_URL) with your LING_API_KEY instead of the offline model",
    )
    demo.set_defaults(run=_demo)


def _demo(args: argparse.Namespace) -> int:
    from ling_notebook.demo import run_demo

    return run_demo(lab_port=args.port, server_port=args.server_port, rate=args.rate, real=args.real,
                    notebooks=args.notebooks)


def _log_path(given: str) -> str:
    """The reply log `--replay` names, else the one `%%ling` writes (LING_LOG, else the default)."""
    import os

    from ling_notebook import config

    return str(config.validate("log", given or os.environ.get("LING_LOG") or config.DEFAULT_LOG))


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of tokens per second >= 0, got {text!r}")
    return value


def _serve(args: argparse.Namespace) -> int:
    import sqlite3

    from ling_notebook import server  # tornado is only needed by this command

    replay = None if args.replay is None else _log_path(args.replay)
    if replay == "off":
        print("ling-notebook: --replay needs a reply log, and LING_LOG is off: name one (--replay PATH).",
              file=sys.stderr)
        return 2
    try:
        server.run(host=args.host, port=args.port, rate=args.rate, replay=replay)
    except ValueError as exc:  # a host that is not loopback
        print(f"ling-notebook: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, sqlite3.Error) as exc:
        print(f"ling-notebook: cannot read the reply log {replay}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"ling-notebook: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}. "
            "Stop the other server or choose another --port (0 picks a free one).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
