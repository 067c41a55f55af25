"""nnlab: a command-line experiment runner for a classic neural-network lab."""

__version__ = "0.1.0"
