"""The ``ling-notebook`` command line: one subcommand per job, each a small function.

``ling-notebook serve`` runs the built-in OpenAI-compatible server (``server/``) in the foreground,
with the offline demo model and the test scenarios, until Ctrl-C; ``serve --replay [LOG]`` serves the
reply log's complete replies instead. ``ling-notebook demo`` adds JupyterLab on the tutorials,
configured to use it (``demo.py``). ``ling-notebook log`` lists, searches, shows and exports the
replies in the reply log (``export.py``); what it prints of them passes ``terminal.printable`` (model
text is untrusted).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ling_notebook import __version__
from ling_notebook.terminal import printable


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="ling-notebook", description="Stream a large language model's reply into Jupyter."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    _add_demo(commands)
    _add_log(commands)
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


def _add_log(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    where = argparse.ArgumentParser(add_help=False)  # --log after any action too
    where.add_argument("--log", metavar="PATH", default=argparse.SUPPRESS,
                       help="the reply log (default: LING_LOG, else the one in your data folder)")
    log = commands.add_parser(
        "log", parents=[where],
        help="list, search, show and export the replies in the reply log",
        description="The latest replies in the reply log, one a line: id, time (UTC), notebook, conversation, "
        "model, status, tokens (prompt+completion) and the start of the prompt. `log show ID` shows one, "
        "`log export` writes a conversation as Markdown or as a notebook.",
    )
    log.add_argument("--grep", metavar="TEXT", help="only replies whose prompt or text contains TEXT (any case)")
    log.add_argument("-n", "--count", type=int, default=20, help="how many, the latest (default: %(default)s; 0: all)")
    log.set_defaults(run=_refusing(_log_list))
    actions = log.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", parents=[where], help="one reply: request, reply, usage and status")
    show.add_argument("id", help="the reply's id, or its first characters as `ling-notebook log` lists them")
    show.set_defaults(run=_refusing(_log_show))
    export = actions.add_parser(
        "export", parents=[where], help="a conversation as Markdown or as a notebook",
        description="Write a notebook's conversation as the reply log has it (the turns a restarted kernel "
        "continues): as Markdown, or as a notebook of %%ling cells showing their replies.",
    )
    export.add_argument("name", nargs="?", metavar="NAME", help="the conversation (default: 'default')")
    export.add_argument("--to", nargs=2, required=True, metavar=("md|ipynb", "PATH"),
                        help="Markdown or a notebook, and the file to write")
    export.add_argument("--notebook", metavar="NB", help="the notebook's path, where the conversation is in several")
    export.add_argument("--force", action="store_true", help="replace PATH if it exists")
    export.set_defaults(run=_refusing(_log_export))


def _refusing(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A log command whose refusals (bad input, no log there) are one line on stderr, and status 1."""
    from ling_notebook.errors import LingError

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (LingError, FileNotFoundError) as exc:
            print(f"ling-notebook: {printable(str(exc))}", file=sys.stderr)
            return 1

    return run


def _log_file(args: argparse.Namespace) -> str:
    """The log `--log` names, else the package's (LING_LOG, else the default file)."""
    from ling_notebook import config

    path: str = config.validate("log", getattr(args, "log", None) or os.environ.get("LING_LOG") or config.DEFAULT_LOG)
    if path == "off":
        raise config.ConfigurationError("the reply log is off (LING_LOG=off): name a file with --log PATH.")
    return path


def _log_list(args: argparse.Namespace) -> int:
    from ling_notebook import export

    needle = args.grep.casefold() if args.grep else None
    found: list[export.Logged] = []
    for reply in export.latest(_log_file(args)):
        if needle is None or needle in reply.prompt.casefold() or needle in reply.text.casefold():
            found.append(reply)
        if len(found) == args.count:
            break
    rows = [(reply.id[:8], reply.time[:19].replace("T", " "), reply.origin["notebook"] or "–",
             reply.origin["conversation"] or "–", reply.model, reply.status,
             f"{reply.usage.prompt_tokens}+{reply.usage.completion_tokens}" if reply.usage else "–",
             reply.prompt[:60]) for reply in reversed(found)]
    header = ("id", "time (UTC)", "notebook", "conversation", "model", "status", "tokens", "prompt")
    print(_table([header, *rows]) if rows else "No reply in the log" + (" contains that text." if needle else " yet."))
    return 0


def _table(rows: list[tuple[str, ...]]) -> str:
    """Rows of fields as aligned columns (the last one ragged), each field on one line and printable."""
    lines = [[" ".join(printable(field).split()) for field in row] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return "\n".join("  ".join([*(f.ljust(w) for f, w in zip(line, widths, strict=False)), line[-1]]) for line in lines)


def _log_show(args: argparse.Namespace) -> int:
    import json

    from ling_notebook import export, render

    reply = export.one(_log_file(args), args.id)
    where = " · ".join(f"{name} {value}" for name, value in reply.origin.items() if value)
    lines = [f"reply {reply.id} · {reply.time}", *([where] if where else []),
             f"server {reply.server} · model asked for {reply.request.get('model')} · "
             f"params {json.dumps(reply.request.get('params') or {}, ensure_ascii=False)}",
             render.status_line(reply), "", "request:"]
    for message in [*reply.messages, *(reply.request.get("exchange") or [])]:
        content = message.get("content")
        text = content if isinstance(content, str) or content is None else json.dumps(content, ensure_ascii=False)
        calls = " ".join(f"[calls {c['function']['name']}({c['function']['arguments']})]"
                         for c in message.get("tool_calls") or [])
        lines.append(f"  [{message.get('role')}] {' '.join(filter(None, (text, calls)))}")
    lines += ["", "reply:", export.reply_markdown(reply)]
    print(printable("\n".join(lines)))
    return 0


def _log_export(args: argparse.Namespace) -> int:
    from ling_notebook import export
    from ling_notebook.config import ConfigurationError
    from ling_notebook.magics import DEFAULT_CHAT

    to, path = args.to
    export.check(to, path, force=args.force)
    log = _log_file(args)
    name = args.name or DEFAULT_CHAT
    known = export.conversations(log)
    if name not in known:
        raise export.unknown(name, list(known))
    notebooks = [notebook for notebook in known[name] if notebook is not None]
    notebook = args.notebook or (notebooks[0] if len(notebooks) == 1 else None)
    if notebook not in notebooks:
        raise ConfigurationError(
            f"conversation {name!r} is in the notebooks {', '.join(notebooks)}: choose one with --notebook NB."
            if notebooks else f"conversation {name!r} was asked where the notebook was not known (nbclient, a "
            "terminal): export it from its kernel with %ling export.")
    replies = export.replies(log, export.turn_ids(log, notebook, name))
    export.write(replies, to, path, name)
    print(printable(f"Exported conversation {name!r} of {notebook}, {len(replies)} turn(s), to {path}."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
