"""Atomic file writes: a file is replaced whole or not at all, so a kill, a full disk or a
read-only folder in the middle of a write leaves the previous version readable."""

import os
from pathlib import Path


def atomic_write(path, write):
    """`write(tmp_path)`, then rename over `path`; on failure the temporary file goes and
    the error names `path`, the file the user knows."""
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")  # keeps the suffix savers check
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as error:
        error.filename = str(path)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path, text):
    atomic_write(path, lambda tmp: tmp.write_text(text))
