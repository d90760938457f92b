"""The one error type the CLI reports as a single line instead of a traceback."""


class FaceganError(Exception):
    """A user-facing problem: bad input, a missing file, an impossible setting."""
