"""The errors the CLI reports as one line instead of a traceback, each with its exit code.

2: bad arguments or bad input files (nothing was done); 1: work that started and failed
(the last good checkpoint is kept); 130: Ctrl-C (after the checkpoint is saved).
"""


class FaceganError(Exception):
    """A user-facing problem with the input: a missing or malformed file, an impossible setting."""

    exit_code = 2


class WorkFailed(FaceganError):
    """Work that started could not finish: training diverged, or a write failed."""

    exit_code = 1


def first_line(error):
    """The first line of an error's message (a library's may span many), or its type."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
