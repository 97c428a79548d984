"""The one error type users see: a single line naming the file and what is wrong."""


class EdgeDenoiseError(Exception):
    """A user mistake or bad input. The CLI prints it as one line, without a traceback."""
