"""The notebooks as committed: each one executed top to bottom (by `make notebooks`), showing
its figures inline, small enough for GitHub to render, and free of the paths of the machine
that ran it. Reads the files only; tests/test_notebooks.py executes copies of them."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
SIZE_BUDGET = 5 * 2**20  # bytes: GitHub renders a notebook this size quickly
# Absolute paths that name a machine's folders (home, root's home, scratch and checkout
# folders, Colab's /content); relative paths and "~" say nothing about the machine.
MACHINE_PATH = re.compile(r"(?<![\w.~])(/(root|home|Users|tmp|work|content|mnt|private|var)/"
                          r"|[A-Za-z]:\\(Users|Windows)\\)")


def text_of(output):
    """The human-readable text of one cell output (images excluded: base64 has slashes)."""
    if output["output_type"] == "stream":
        return "".join(output["text"])
    if output["output_type"] == "error":
        return "\n".join(output["traceback"])
    data = output.get("data", {})
    return "".join("".join(data[kind]) for kind in ("text/plain", "text/html", "text/markdown")
                   if kind in data)


@pytest.fixture(params=NOTEBOOKS, ids=lambda path: path.stem)
def notebook(request):
    path = request.param
    return path, json.loads(path.read_text())


def test_there_are_seven_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["00", "01", "02", "03", "04", "05", "06"]


def test_committed_notebook_is_within_the_size_budget(notebook):
    path, _ = notebook
    assert path.stat().st_size <= SIZE_BUDGET, f"{path.name}: {path.stat().st_size:,} bytes"


def test_committed_notebook_ran_top_to_bottom(notebook):
    path, content = notebook
    code = [cell for cell in content["cells"] if cell["cell_type"] == "code"]
    counts = [cell["execution_count"] for cell in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: execution counts {counts}"
    assert any(cell["outputs"] for cell in code), f"{path.name} has no outputs"


def test_committed_notebook_shows_images_and_no_errors(notebook):
    path, content = notebook
    outputs = [output for cell in content["cells"] if cell["cell_type"] == "code"
               for output in cell["outputs"]]
    errors = [text_of(o)[:200] for o in outputs if o["output_type"] == "error"]
    assert not errors, f"{path.name}: error outputs {errors}"
    tracebacks = [text_of(o)[:200] for o in outputs if "Traceback (most recent call last)" in text_of(o)]
    assert not tracebacks, f"{path.name}: tracebacks in outputs {tracebacks}"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} shows no image"


def test_committed_notebook_names_no_machine_path(notebook):
    path, content = notebook
    texts = [text_of(output) for cell in content["cells"] if cell["cell_type"] == "code"
             for output in cell["outputs"]]
    texts.append(json.dumps(content["metadata"]))
    found = sorted({match.group(0) for text in texts for match in MACHINE_PATH.finditer(text)})
    assert not found, f"{path.name} names this machine's paths: {found}"
