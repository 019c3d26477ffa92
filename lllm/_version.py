"""The installed version of LLLM (a leaf module: anything may import it)."""

__version__ = "0.2.0"
