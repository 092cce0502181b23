"""`%%ling` (the cell is the prompt) and `%ling` (everything else): parsing, {expr} filling, conversations.

The magics class is an IPython `Configurable`: `%config LingMagics.model = "..."` and
`ipython_config.py` set the same session-wide settings as `ling_notebook.configure(...)`.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import shlex
import sys
from typing import Any

import traitlets
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from . import config, record, render
from . import display as show
from .compare import Comparison, check_models
from .conversation import Conversation, Turn
from .cost import Prices, money
from .errors import LingError
from .fill import fill
from .reply import MAX_ROUNDS, Reply, stop_all
from .tools import Tool, toolbox

DEFAULT_CHAT = "default"


def _option(name: str) -> Any:
    if name in config.REQUEST_OPTIONS:
        help_text = f"{config.REQUEST_OPTIONS[name][1]} Sent with every request that gives none. Default: the server's."
        return traitlets.Any(None, allow_none=True, help=help_text).tag(config=True)
    default, env, help_text = config.OPTIONS[name]
    where = f" Environment: {env}." if env else ""
    return traitlets.Any(None, allow_none=True, help=f"{help_text} Default: {default!r}.{where}").tag(config=True)


CONFIGURABLE = (*config.OPTIONS, *config.REQUEST_OPTIONS)  # what %config and %ling config set


def _block_number(value: str) -> int:
    """`--code N`: N counts from 1 (`--code` alone, 0 inside, means all the code blocks)."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value}: code blocks count from 1 (--code alone puts all of them)")
    return number


@magics_class
class LingMagics(Magics):
    """Talk to an OpenAI-compatible chat API from cells."""

    base_url = _option("base_url")
    model = _option("model")
    api_key_env = _option("api_key_env")
    timeout = _option("timeout")
    max_retries = _option("max_retries")
    frame_interval = _option("frame_interval")
    log = _option("log")
    replay = _option("replay")
    prices = _option("prices")
    background = _option("background")
    temperature = _option("temperature")
    top_p = _option("top_p")
    max_tokens = _option("max_tokens")

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.conversations: dict[str, Conversation] = {}
        self._resumed: dict[str, int] = {}  # conversation -> the earlier turns it took from the log, until shown
        self.current = DEFAULT_CHAT
        self._runs = itertools.count(1)  # keys for runs of cells that come without an id
        self._comparisons: dict[str, Comparison] = {}  # the last comparison of each cell, while it runs
        for name in CONFIGURABLE:  # values from ipython_config.py arrive before observers exist
            if getattr(self, name) is not None:
                config.configure(**{name: getattr(self, name)})

    @traitlets.observe(*CONFIGURABLE)
    def _configure(self, change: dict[str, Any]) -> None:
        try:
            config.configure(**{change["name"]: change["new"]})
        except LingError as exc:  # `%config LingMagics.timeout = -1`: the same one line as every bad input
            self.set_trait(change["name"], change["old"])
            report(exc)

    # -- %%ling -----------------------------------------------------------------------------
    @magic_arguments()
    @argument("-m", "--model", action="append",
              help="Model name (default: the configured model). Repeat it (2 to 6 models) to compare models "
                   "side by side: every model gets the same messages and options at once, and the "
                   "comparison sends the conversation so far but adds no turn to it.")
    @argument("-s", "--system", help="System prompt; kept for the rest of the conversation.")
    @argument("-t", "--temperature", type=float, help="Sampling temperature, 0 to 2 (session default: "
              "%%ling config temperature X).")
    @argument("--top-p", type=float, help="Nucleus sampling, 0 to 1.")
    @argument("--max-tokens", type=int, help="Most tokens the reply may have.")
    @argument("-o", "--output", metavar="NAME", help="Bind the reply object to NAME at once.")
    @argument("--no-stream", action="store_true", help="One request without streaming; same view when done.")
    @argument("--wait", action="store_true", help="The cell waits while the reply streams (interrupt the kernel "
              "to stop it), for front ends that show no update after a cell ended: the default in Google Colab "
              "(%%ling config background false makes it the default anywhere).")
    @argument("--new", action="store_true", help="Start a fresh conversation.")
    @argument("--replay", action="store_true", help="Answer from the reply log when it has a complete reply to "
              "the same request (server, model, messages, options): no request is sent.")
    @argument("--chat", metavar="NAME", help="Use (or create) the named conversation.")
    @argument("--no-history", action="store_true", help="A one-off prompt: no history sent or kept.")
    @argument("--base-url", help="Base URL of the OpenAI-compatible API for this cell.")
    @argument("--api-key-env", metavar="VAR", help="Environment variable holding the key (never the key itself).")
    @argument("--batch", metavar="EXPR", help="Run the cell once per item of EXPR (a list or Series fills {item}, "
              "a DataFrame or list of dicts fills {column}); -o binds the Batch.")
    @argument("--concurrency", type=int, default=8, help="With --batch: most requests open at once (default 8).")
    @argument("--code", nargs="?", const=0, type=_block_number, metavar="N",
              help="When the reply has ended, put its code blocks (all, joined; or block N, from 1) into a "
                   "new cell below. The cell waits for the reply, as with --wait; nothing is run.")
    @argument("-f", "--format", metavar="code", help="-f code: the same as --code (as jupyter-ai's %%%%ai -f code).")
    @argument("--tools", metavar="NAMES", help="Functions the model may call, by name from your namespace, "
              "comma-separated: --tools revenue,plot. Not with -m twice or --batch.")
    @argument("--approve", action="store_true", help="With --tools: Run and Skip on each call before it runs.")
    @argument("--max-rounds", type=int, default=MAX_ROUNDS, help="With --tools: most requests per reply "
              f"(default {MAX_ROUNDS}).")
    @argument("--search", action="store_true", help=config.LING_OPTIONS["search"][1])
    @argument("--effort", metavar="|".join(config.EFFORTS), help=config.LING_OPTIONS["effort"][1])
    @argument("--extra", metavar="JSON", help='Other request fields as JSON, in quotes: '
              '--extra \'{"enable_thinking": true}\'.')
    @cell_magic
    def ling(self, line: str, cell: str) -> None:
        """Send the cell as a prompt and stream the reply into the output.

        `{expr}` in the cell is filled from your variables (write `{{` and `}}` for literal braces), except
        in Markdown code: inline `code`, fenced and indented code blocks are sent exactly as written.
        Consecutive cells form one conversation; running a cell again replaces its earlier turn (and
        stops its reply if it is still streaming). Where the front end sends no cell id (nbclient,
        papermill, terminal IPython) every run is a new turn.

        With `-m` repeated (2 to 6 models) the cell is a comparison: the replies stream side by side,
        each with its own Stop, and a summary table follows when all have ended. It sends the
        conversation so far but adds no turn to it (which answer would it be?); `-o NAME` binds a
        `Comparison` (a sequence of replies).
        """
        try:
            self._ask(line, cell)
        except LingError as exc:
            report(exc)

    def _ask(self, line: str, cell: str) -> None:
        options = _parse(line)
        params = _request_params(options)
        models = options["model"] or [None]
        code = _code_option(options)
        connection = {"base_url": options["base_url"], "api_key_env": options["api_key_env"],
                      "replay": options["replay"] or None,
                      "background": False if options["wait"] or code is not None else None}
        if code is not None and (options["batch"] or len(models) > 1):
            raise config.ConfigurationError("--code takes the code of one reply: not with --batch or several -m.")
        tools = self._tools(options)
        if tools and (options["batch"] or len(models) > 1):
            raise config.ConfigurationError("--tools works with one model and no --batch (comparisons and batches "
                                            "do not run tools yet). Nothing was sent.")
        with_tools = {"tools": tools, "approve": options["approve"], "max_rounds": options["max_rounds"]}
        if options["batch"]:
            if len(models) > 1:
                raise config.ConfigurationError("--batch runs one model: give -m once (or compare without --batch).")
            settings = [config.resolve(model=models[0], **connection)]
            batch = self._batch(options, cell, params, settings[0])
            if options["output"]:
                self.shell.user_ns[options["output"]] = batch
            show.hold(batch, settings[0].background)
            return
        if len(models) > 1:
            check_models(models)
        prompt = self._fill(cell)
        settings = [config.resolve(model=model, **connection) for model in models]
        if options["chat"]:
            self.current = options["chat"]
        if options["new"]:
            self._start_afresh(self.current, settings[0].log)

        if len(settings) > 1:
            result: Any = self._compare(prompt, settings, options, params)
        elif options["no_history"]:
            messages = show.build_messages(prompt, options["system"])
            result = show.start(messages, settings[0], stream=not options["no_stream"], params=params, **with_tools)
        else:
            chat = self._conversation(self.current, settings[0].log)
            continues = self._resumed.pop(self.current, 0)  # shown by the first cell that continues it
            if options["system"]:
                chat.system = options["system"]
            cell_id = self._cell_id()
            with record.asked_in(conversation=self.current, cell=cell_id):  # what resuming reads back
                result = show.start(
                    lambda: chat.messages_before(cell_id, prompt),
                    settings[0],
                    stream=not options["no_stream"],
                    params=params,
                    after=lambda: chat.unfinished_before(cell_id),
                    continues=continues,
                    **with_tools,
                )
            chat.record(cell_id, prompt, result)
        if options["output"]:
            self.shell.user_ns[options["output"]] = result
        show.hold(result, settings[0].background)  # after the turn is kept and bound: an interrupt ends the cell
        if code is not None:
            self._next_cell_code(result, code)

    def _next_cell_code(self, reply: Reply, number: int) -> None:
        """`--code`: once `reply` has ended (the cell waited for it), its code blocks go into a new cell below."""
        if reply.status != "done":
            raise config.ConfigurationError(
                f"no new cell: the reply did not end on its own ({render.state_text(reply)}).")
        blocks = render.code_blocks(reply.text)
        if not blocks:
            raise config.ConfigurationError("the reply has no code block: no new cell was made.")
        if number > len(blocks):
            raise config.ConfigurationError(
                f"--code {number}: the reply has {len(blocks)} code block(s); give a number from 1 to "
                f"{len(blocks)}, or --code alone for all of them. No new cell was made.")
        chosen = blocks if number == 0 else [blocks[number - 1]]
        self.shell.set_next_input("\n\n".join(block.rstrip("\n") for block in chosen), replace=False)

    def _tools(self, options: dict[str, Any]) -> dict[str, Tool]:
        """The functions `--tools` names, from the user's namespace, described (or refused) before sending."""
        if options["approve"] and not options["tools"]:
            raise config.ConfigurationError("--approve asks before each tool call: give the tools with --tools.")
        names = [name.strip() for name in (options["tools"] or "").split(",") if name.strip()]
        missing = [name for name in names if not callable(self.shell.user_ns.get(name))]
        if missing:
            raise config.ConfigurationError(f"--tools: no function named {', '.join(missing)} in your namespace "
                                            "(define it in a cell first). Nothing was sent.")
        return toolbox(self.shell.user_ns[name] for name in names)

    def _compare(
        self, prompt: str, settings: list[config.Settings], options: dict[str, Any], params: dict[str, Any]
    ) -> Comparison:
        """Every model gets the conversation so far and the prompt; no turn is added (which answer would
        it be?). Running the cell again stops its earlier comparison if that is still streaming."""
        stream = not options["no_stream"]
        if options["no_history"]:
            messages = show.build_messages(prompt, options["system"])
            return show.start_comparison(messages, settings, stream=stream, params=params)
        chat = self._conversation(self.current, settings[0].log)
        if options["system"]:
            chat.system = options["system"]
        cell_id = self._cell_id()
        earlier = self._comparisons.pop(cell_id, None)
        if earlier is not None:
            earlier.stop()
        comparison = show.start_comparison(
            lambda: chat.messages_before(cell_id, prompt),
            settings,
            stream=stream,
            params=params,
            after=lambda: chat.unfinished_before(cell_id),
        )
        # Kept only to stop it when its cell runs again: not without a cell id (no run comes again by that
        # key), nor once it has ended (nothing left to stop); a comparison holds all its replies' text.
        self._comparisons = {key: c for key, c in self._comparisons.items() if not c.ended}
        if not cell_id.startswith("run:"):
            self._comparisons[cell_id] = comparison
        return comparison

    def _conversation(self, name: str, log: str) -> Conversation:
        """The named conversation; the first time this kernel uses it, it continues from the log: the turns
        this notebook's cells had in it, in a kernel before a restart (record.read_turns)."""
        chat = self.conversations.get(name)
        if chat is not None:
            return chat
        chat = self.conversations[name] = Conversation(name)
        notebook = record.notebook_path()
        if notebook is None or log == record.OFF:
            return chat
        record.flush()  # a reset or reply of this kernel still on its way to the file
        try:
            turns = record.read_turns(log, notebook, name)
        except FileNotFoundError:
            return chat
        except Exception as exc:  # sqlite3.Error, a row of a newer schema: the log is unreadable, the cell goes on
            print(f"ling: earlier turns are not resumed: the reply log {log} cannot be read ({exc}).", file=sys.stderr)
            return chat
        chat.turns = [Turn(cell, prompt, reply) for cell, prompt, reply in turns]  # type: ignore[arg-type]
        self._resumed[name] = len(turns)
        if turns:
            print(f"ling: continues {len(turns)} earlier turn(s) of conversation {name!r} of this notebook, "
                  "from the reply log (--new or %ling reset starts afresh).")
        return chat

    def conversation(self, name: str, log: str) -> Conversation:
        """The named conversation, as a cell using it would get it (for a chat box: chatbox.py)."""
        return self._conversation(name, log)

    def _start_afresh(self, name: str, log: str) -> None:
        """Forget the conversation, here and for a kernel that resumes it after a restart."""
        old = self.conversations.get(name)
        self.conversations[name] = Conversation(name)
        self._resumed.pop(name, None)
        if old is not None:  # a chat box then shows the new one
            old.tell_watchers()
        notebook = record.notebook_path()
        if notebook is not None:
            record.reset(log, notebook, name)

    def _batch(self, options: dict[str, Any], cell: str, params: dict[str, Any], settings: config.Settings) -> Any:
        """`--batch EXPR`: the cell is a template filled per item; no conversation is read or written."""
        from .batch import Batch, fill_rows

        if not cell.strip():
            raise config.ConfigurationError("The cell is empty: write the prompt template below the %%ling line.")
        try:
            data = self.shell.ev(options["batch"])
        except Exception as exc:
            raise config.ConfigurationError(
                f"Could not evaluate --batch {options['batch']} ({type(exc).__name__}: {exc}). Nothing was sent."
            ) from None
        prompts, index = fill_rows(cell, data, self.shell.user_ns)
        requests = [show.build_messages(prompt, options["system"]) for prompt in prompts]
        return Batch(requests, settings, params=params, concurrency=options["concurrency"], index=index,
                     stream=not options["no_stream"]).show()

    def _fill(self, cell: str) -> str:
        if not cell.strip():
            raise config.ConfigurationError("The cell is empty: write your prompt below the %%ling line.")
        try:
            return fill(cell, self.shell.user_ns).strip()
        except config.ConfigurationError:
            raise
        except NameError as exc:
            raise config.ConfigurationError(
                f"{exc} (in a {{...}} of the prompt). Define it in an earlier cell, "
                "or write {{ and }} for literal braces. Nothing was sent."
            ) from None
        except Exception as exc:
            raise config.ConfigurationError(
                f"Could not fill a {{...}} in the prompt ({type(exc).__name__}: {exc}). "
                "Write {{ and }} for literal braces. Nothing was sent."
            ) from None

    def _cell_id(self) -> str:
        """The key of this cell's turn: the front end's cell id (JupyterLab, Notebook 7 and VS Code send one).

        Without one (nbclient, papermill, classic Notebook, terminal IPython) nothing tells two runs of
        one cell from two cells with the same text ("Continue."), so every run is a new turn, appended:
        a notebook run top to bottom is a conversation in cell order. There, start over with `--new`.
        """
        kernel = getattr(self.shell, "kernel", None)
        parent = kernel.get_parent() if kernel is not None and hasattr(kernel, "get_parent") else {}
        cell_id = (parent or {}).get("metadata", {}).get("cellId")
        return f"cell:{cell_id}" if cell_id else f"run:{next(self._runs)}"

    # -- %ling ------------------------------------------------------------------------------
    @line_magic("ling")
    def ling_line(self, line: str) -> None:
        """%ling config [KEY VALUE] | history [NAME] | reset [NAME] | models | stop

          %ling config              show the effective settings and where each came from
          %ling config KEY VALUE    set one for this session, like ling_notebook.configure(KEY=VALUE):
                                    base_url, model, api_key_env, timeout, max_retries, frame_interval,
                                    background (false: cells wait for their replies), and the
                                    request defaults temperature, top_p, max_tokens (a cell's
                                    own -t/--top-p/--max-tokens wins); VALUE `default` unsets it
          %ling history [NAME]      show a conversation (default: the current one)
          %ling reset [NAME]        forget a conversation
          %ling models              list the models of the configured server (GET /models)
          %ling stop                stop every running reply, comparison and batch (as Jupyter's
                                    interrupt does while the kernel is idle)
          %ling log [off|on|PATH]   say where replies are recorded (a SQLite file), or turn it off
                                    or on, or choose the file, for this session
          %ling usage [--since YYYY-MM-DD] [--notebook]
                                    requests and tokens per model in this session, and per day,
                                    model and conversation in the reply log (--notebook: this one's)
          %ling export [NAME] --to md|ipynb PATH [--force]
                                    write a conversation (default: the current one) from the reply
                                    log as Markdown, or as a notebook of %%ling cells and replies

        The options of a %%ling cell (two % signs: the cell is the prompt): %%ling?
        """
        handlers = {"config": self._config, "history": self._history, "reset": self._reset,
                    "models": self._models, "stop": self._stop, "log": self._log, "usage": self._usage,
                    "export": self._export}
        try:
            try:
                words = shlex.split(line)
            except ValueError as exc:
                raise config.ConfigurationError(f"{exc}: close the quote.") from None
            command, rest = (words[0], words[1:]) if words else ("config", [])
            if command not in handlers:
                raise config.ConfigurationError(
                    f"unknown command {command!r}{config.suggest(command, handlers)}. "
                    f"Use one of: {', '.join(handlers)} (%ling? explains them)."
                )
            handlers[command](rest)
        except LingError as exc:
            report(exc)

    def _config(self, rest: list[str]) -> None:
        if len(rest) == 2:
            name, value = rest
            if name not in CONFIGURABLE:
                raise config.ConfigurationError(
                    f"Unknown setting {name!r}{config.suggest(name, CONFIGURABLE)}. Settings: "
                    f"{', '.join(CONFIGURABLE)}. The API key is never set here: put it in an environment variable."
                )
            if value.lower() in ("default", "none"):
                setattr(self, name, None)  # the observer passes it to configure(), which forgets it
                _, effective, source = next(row for row in config.describe() if row[0] == name)
                print(f"ling: {name} is unset: {source} applies ({effective}).")
                return
            setattr(self, name, config.validate(name, value))  # the observer passes it to configure()
            _, shown, _ = next(row for row in config.describe() if row[0] == name)  # as shown: no credentials
            print(f"ling: {name} = {shown} for this session.")
            return
        if rest:
            raise config.ConfigurationError(
                "Use `%ling config` to show settings or `%ling config KEY VALUE` to set one."
            )
        rows = list(config.describe())
        plain = "\n".join(f"{name} = {value}  ({source})" for name, value, source in rows)
        display(render.bundle(render.table_html(["setting", "value", "from"], rows), plain), raw=True)

    def _history(self, rest: list[str]) -> None:
        name = rest[0] if rest else self.current
        if name not in self.conversations:  # no cell of this kernel used it yet: say whether it is resumed
            if record.notebook_path() is None:
                print("ling: the kernel does not know this notebook's path (Jupyter Server sets JPY_SESSION_NAME, "
                      "VS Code __vsc_ipynb_file__), so no earlier turns are resumed from the reply log.")
            elif _log_path() == record.OFF:
                print("ling: the reply log is off, so no earlier turns are resumed after a restart.")
        display(render.history_bundle(self._conversation(name, _log_path())), raw=True)

    def _reset(self, rest: list[str]) -> None:
        name = rest[0] if rest else self.current
        self._start_afresh(name, _log_path())
        print(f"ling: conversation {name!r} is empty now.")

    def _log(self, rest: list[str]) -> None:
        if len(rest) > 1:
            raise config.ConfigurationError("Use `%ling log`, `%ling log off`, `%ling log on` or `%ling log PATH`.")
        if rest:
            self.log = config.DEFAULT_LOG if rest[0].lower() == "on" else config.validate("log", rest[0])
        _, path, source = next(row for row in config.describe() if row[0] == "log")
        print("ling: replies are not recorded (%ling log on records them)." if path == "off"
              else f"ling: replies are recorded in {path} ({source}).")

    def _usage(self, rest: list[str]) -> None:
        import datetime

        since, notebook, words = "", None, iter(rest)
        for word in words:
            if word == "--since":
                try:
                    since = datetime.date.fromisoformat(next(words, "")).isoformat()
                except ValueError:
                    raise config.ConfigurationError("--since takes a date: --since 2026-01-31.") from None
            elif word == "--notebook":
                notebook = record.notebook_path()
                if notebook is None:
                    raise config.ConfigurationError("--notebook: the kernel does not know this notebook's path.")
            else:
                raise config.ConfigurationError("Use `%ling usage [--since YYYY-MM-DD] [--notebook]`.")
        prices = config.prices()
        header = ["requests", "prompt tokens", "completion tokens", *(["cost"] if prices else [])]
        session = _usage_rows(record.session_usage(), prices)
        parts = [render.text_html("This session", "ling-title"),
                 render.table_html(["model", *header], session) if session else render.text_html("No requests yet.")]
        plain = ["This session:", *map(_plain_row, session)]
        log = _log_path()
        record.flush()
        try:
            logged = record.logged_usage(log, since, notebook) if log != record.OFF else None
        except FileNotFoundError:
            logged = []
        except Exception as exc:  # sqlite3.Error, a log of a newer schema
            raise config.ConfigurationError(f"The reply log {log} cannot be read ({exc}).") from None
        title = "The reply log is off" if logged is None else f"The reply log ({log})" + (
            f" since {since}" if since else "") + (", this notebook" if notebook else "")
        parts.append(render.text_html(title, "ling-title"))
        plain.append(title + ":")
        if logged:
            rows = _usage_rows([(day, model, chat or "–", *numbers) for day, model, chat, *numbers in logged], prices,
                               model=1, labels=3)
            parts.append(render.table_html(["day", "model", "conversation", *header], rows))
            plain += map(_plain_row, rows)
        display(render.bundle("".join(parts), "\n".join(plain)), raw=True)

    def _export(self, rest: list[str]) -> None:
        from . import export

        name, to, path, force = _export_words(rest)
        export.check(to, path, force=force)
        log = _log_path()
        if log == record.OFF:
            raise config.ConfigurationError("the reply log is off, so there is nothing to export (%ling log on).")
        name = name or self.current
        record.flush()
        known = list(dict.fromkeys([*self.conversations, *export.names(log, record.notebook_path())]))
        if name not in known:
            raise export.unknown(name, known)
        turns = self._conversation(name, log).turns  # after a restart, its earlier turns come from the log
        replies = export.replies(log, [turn.reply.id for turn in turns])
        export.write(replies, to, path, name)
        missing = len(turns) - len(replies)
        print(f"ling: exported conversation {name!r}, {len(replies)} turn(s), to {path}"
              + (f" ({missing} left out: not in the log yet)." if missing else "."))

    def _models(self, rest: list[str]) -> None:
        import openai

        from .engine import translate_error, valid_text

        settings = config.resolve()
        client = openai.OpenAI(
            api_key=settings.api_key, base_url=settings.base_url, timeout=settings.timeout, max_retries=1
        )
        try:
            names = sorted(valid_text(model.id) for model in client.models.list())
        except openai.OpenAIError as exc:
            raise translate_error(exc, settings) from None
        finally:
            client.close()
        print(f"{len(names)} model(s) at {settings.shown_url}:\n" + "\n".join(f"  {n}" for n in names))

    def _stop(self, rest: list[str]) -> None:
        from .batch import stop_all as stop_batches

        batches = stop_batches()
        print(f"ling: stopped {stop_all()} running reply(s)" + (f" and {batches} batch(es)." if batches else "."))


def _usage_rows(rows: list[tuple[Any, ...]], prices: Prices, model: int = 0, labels: int = 1) -> list[tuple[Any, ...]]:
    """Usage rows ending in (requests, prompt tokens, completion tokens) as shown: their cost at `prices` after
    them when there are prices (`–` for a model without one), and after them a total row when there is more
    than one (the counts summed; the cost of the priced rows, saying so when some have none). `model`: the
    model's column; `labels`: the columns before the counts (model, or day, model and conversation)."""
    costs = [prices.cost(row[-2], row[-1], row[model]) for row in rows] if prices else []
    shown = [(*row, "–" if spent is None else money(spent)) for row, spent in zip(rows, costs, strict=True)] \
        if prices else list(rows)
    if len(rows) < 2:
        return shown
    total = ("total", *[""] * (labels - 1), *(sum(row[i] for row in rows) for i in (-3, -2, -1)))
    if not prices:
        return [*shown, total]
    known = [spent for spent in costs if spent is not None]
    cost = "–" if not known else money(sum(known)) + ("" if len(known) == len(costs) else " (priced models only)")
    return [*shown, (*total, cost)]


def _plain_row(row: tuple[Any, ...]) -> str:
    return " · ".join(str(cell) for cell in row if cell != "")


def _log_path() -> str:
    """The reply log's path as the settings stand (or off), read without needing a key."""
    return next(value for name, value, _ in config.describe() if name == "log")


def _export_words(rest: list[str]) -> tuple[str | None, str, str, bool]:
    """`%ling export [NAME] --to FORMAT PATH [--force]`: NAME (or None), FORMAT, PATH and --force."""
    names, to, path, force, items = [], None, None, False, iter(rest)
    for word in items:
        if word == "--to":
            to, path = next(items, None), next(items, None)
        elif word == "--force":
            force = True
        else:
            names.append(word)
    if to is None or path is None or len(names) > 1 or any(name.startswith("-") for name in names):
        raise config.ConfigurationError("Use `%ling export [NAME] --to md|ipynb PATH [--force]`.")
    return (names[0] if names else None), to, path, force


def _document_cell_magic() -> None:
    """`%%ling?`: the usage as a cell magic (IPython's generated help says `%ling`, behind a reST `::`), the
    options, and the `%ling` commands."""
    parser = LingMagics.ling.parser
    parser.prog = "%%ling"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.usage = "%(prog)s [options]\n<the prompt, in the rest of the cell>"
    parser.description = inspect.cleandoc(parser.description or "")
    parser.epilog = "%ling (one % sign) does everything else:\n\n" + inspect.cleandoc(
        LingMagics.ling_line.__doc__ or "").split("\n", 1)[1].strip("\n").rsplit("\n\n", 1)[0]
    LingMagics.ling.__doc__ = parser.format_help()


def _unquote(value: Any) -> Any:
    """IPython's parse_argstring keeps the quotes of a quoted option: `-s "Be terse"` -> `"Be terse"`."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


_EXTRA_EXAMPLE = """--extra '{"enable_thinking": true}'"""


def report(exc: LingError) -> None:
    """The one way the magics report bad input: one line on stderr, `ling: ...`, no traceback (and nothing sent).
    `LingError._render_traceback_` gives errors raised from code the same line."""
    print(f"ling: {exc}", file=sys.stderr)


def _parse(line: str) -> dict[str, Any]:
    """The options of a `%%ling` line, or a ConfigurationError that says what is wrong and how to write it."""
    parser = LingMagics.ling.parser
    try:
        args, unknown = parser.parse_argstring(line, partial=True)
    except UsageError as exc:
        raise config.ConfigurationError(f"{exc}. See %%ling? for the options.") from None
    options = {k: [_unquote(x) for x in v] if isinstance(v, list) else _unquote(v) for k, v in vars(args).items()}
    if unknown:
        raise config.ConfigurationError(_unknown_words(unknown, options, parser))
    return options


def _unknown_words(unknown: list[str], options: dict[str, Any], parser: Any) -> str:
    flags = [flag for action in parser._actions for flag in action.option_strings]
    first = unknown[0]
    if first.startswith("-"):
        return f"unknown option {first}{config.suggest(first, flags)}. See %%ling? for the options."
    if options["extra"] and options["extra"][0] in "{[":
        # `--extra {"a": 1, "b": 2}` is split at its spaces: only `{"a":` reached --extra.
        return f"--extra takes the JSON in quotes, as one word: {_EXTRA_EXAMPLE}. Nothing was sent."
    return (f"unexpected {' '.join(unknown)!r} on the %%ling line: put a value with spaces in quotes "
            '(-s "Be terse."), and the prompt in the cell below. See %%ling? for the options.')


def _code_option(options: dict[str, Any]) -> int | None:
    """`--code` / `-f code` (0: all the code blocks), `--code N` (the Nth), or None (no code cell)."""
    if options["format"] not in (None, "code"):
        raise config.ConfigurationError(
            f"-f takes `code` (the reply's code into a new cell), not {options['format']!r}.")
    code: int | None = options["code"]
    return 0 if code is None and options["format"] == "code" else code


def _request_params(options: dict[str, Any]) -> dict[str, Any]:
    """Validate the request fields of the magic line and gather them (plus --extra) into one dict."""
    fields = {name: options[name] for name in config.REQUEST_OPTIONS if options[name] is not None}
    params = config.request_params({**fields, "search": options["search"] or None, "effort": options["effort"]},
                                   flags=True)
    if options["extra"]:
        try:
            extra = json.loads(options["extra"])
        except json.JSONDecodeError as exc:
            raise config.ConfigurationError(
                f"--extra must be a JSON object in quotes, like {_EXTRA_EXAMPLE} ({exc})."
            ) from None
        if not isinstance(extra, dict):
            raise config.ConfigurationError(f"--extra must be a JSON object, like {_EXTRA_EXAMPLE}.")
        params.update(extra)
    return params


_document_cell_magic()
