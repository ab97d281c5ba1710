"""The one error every command ends with: one line on stderr, a non-zero exit code."""

from __future__ import annotations


class CliError(Exception):
    """What went wrong, in one line; ``code`` is the exit code (1 unless told)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(" ".join(str(message).split()))
        self.code = code
