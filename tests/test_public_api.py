"""The public surface is small, sorted, and the version is kept in one place."""

from importlib.metadata import version

import ling_notebook


def test_all_is_sorted_and_importable():
    assert ling_notebook.__all__ == sorted(ling_notebook.__all__)
    assert all(hasattr(ling_notebook, name) for name in ling_notebook.__all__)
    assert set(ling_notebook.__all__) == {
        "Batch", "Comparison", "ConfigurationError", "LingError", "Reply", "ReplyError", "Tool", "__version__",
        "batch", "chat", "compare", "configure",
        "load_ipython_extension", "stop_requested", "stream", "tool",
    }


def test_installed_version_is_the_package_version():
    assert version("ling-notebook") == ling_notebook.__version__
