"""Stream a large language model's reply into a Jupyter notebook.

    %load_ext ling_notebook        # then %%ling cells
    ling_notebook.stream("...")    # or from code: shows the live widget, returns a Reply
    ling_notebook.compare("...", models=["a", "b"])   # several models side by side: a Comparison
    ling_notebook.batch("... {item}", data=items)       # one request per item, with one progress view
    ling_notebook.chat("notes")    # a chat box for the conversation that %%ling --chat notes cells share
"""

from .batch import Batch
from .chatbox import chat
from .compare import Comparison
from .config import configure
from .display import batch, compare, stream
from .errors import ConfigurationError, LingError, ReplyError
from .reply import Reply
from .toolrun import stop_requested
from .tools import Tool, tool

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "Comparison",
    "ConfigurationError",
    "LingError",
    "Reply",
    "ReplyError",
    "Tool",
    "__version__",
    "batch",
    "chat",
    "compare",
    "configure",
    "load_ipython_extension",
    "stop_requested",
    "stream",
    "tool",
]


def load_ipython_extension(ipython):  # type: ignore[no-untyped-def]
    """`%load_ext ling_notebook`: register the %%ling and %ling magics."""
    from .interrupt import install
    from .magics import LingMagics

    ipython.register_magics(LingMagics(shell=ipython))
    install()  # Jupyter's interrupt stops what streams, from now on
