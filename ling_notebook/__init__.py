"""Stream a large language model's reply into a Jupyter notebook."""

__version__ = "0.1.0"
