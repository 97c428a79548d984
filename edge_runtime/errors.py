"""The one error type users see: a single line naming the file and what is wrong."""

from __future__ import annotations


class EdgeDenoiseError(Exception):
    """A user mistake or bad input. The CLI prints it as one line, without a traceback."""


class WriteError(EdgeDenoiseError):
    """An output could not be written (disk full, read-only, permission): ``errno`` says which.

    Still one line for the user; code that keeps going without saving (``run``'s disk guard)
    tells it apart from bad input by this type.
    """

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno
