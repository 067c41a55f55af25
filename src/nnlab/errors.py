"""The project's exception types.

Library code raises these with a message that names the input and suggests the fix; only ``cli.py`` turns
them into a one-line message and an exit code.
"""

from __future__ import annotations


class NnlabError(Exception):
    """Base class of every foreseeable nnlab failure."""

    exit_code = 1


class ConfigError(NnlabError):
    """A bad option value or config file (exit code 2)."""

    exit_code = 2


class DataError(NnlabError):
    """A dataset that is missing, unreachable or malformed."""


class CheckpointError(NnlabError):
    """A checkpoint that is missing, corrupt, or for another model."""


class OutputError(NnlabError):
    """An output folder or file that cannot be written."""


class TrainingDiverged(NnlabError):
    """Training produced non-finite weights or loss."""
