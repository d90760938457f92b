"""Colab in one click: every notebook opens with an "Open in Colab" badge and a first code
cell that, on Colab only, clones this repository (or uses a copy on Drive) and installs it
into the running kernel. Both are stamped from `facegan.REPOSITORY` by

    python -m facegan.notebooks.colab   # rewrites the badge and install cell in notebooks/*.ipynb

The cell cannot import facegan to learn the address (it is what installs facegan), so the
address is written into it; tests/test_colab.py fails when a copy disagrees.
"""

import sys
from pathlib import Path

from facegan import REPOSITORY

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
INSTALL_TAG = "colab-install"

# A regular install, not an editable one: site-packages is already on the kernel's path,
# while an editable install works through a .pth file that only a new process reads.
INSTALL_CELL = '''\
# Colab: clone facegan (or use your copy in Drive's MyDrive/facegan) and install it into
# this kernel, no restart needed. Elsewhere this cell does nothing.
import importlib, os, subprocess, sys

try:
    import google.colab  # noqa: F401  (importable only on Colab)
    on_colab = True
except ImportError:
    on_colab = False
if on_colab:
    root = os.environ.get("FACEGAN_COLAB_ROOT", "/content")
    repository = os.environ.get("FACEGAN_REPOSITORY", "{REPOSITORY}")
    checkout = os.path.join(root, "drive", "MyDrive", "facegan")
    if not os.path.isdir(checkout):
        checkout = os.path.join(root, "facegan")
    if not os.path.isdir(checkout):
        subprocess.run(["git", "clone", "-q", "--depth", "1", repository, checkout], check=True)
        print(f"Cloned {repository} into {checkout}")
    # Not editable: this kernel reads site-packages already, but not a new .pth file. The
    # runtime's setuptools builds it; pip downloads only what Colab lacks (tensorboardX).
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation",
                    checkout + "[tensorboard]"], check=True)
    importlib.invalidate_caches()
    import facegan
    print(f"Installed facegan {facegan.__version__} from {checkout} into this kernel")
    os.chdir(os.path.join(checkout, "notebooks"))'''


def badge(notebook):
    """The Markdown badge that opens `notebook` (a file name in notebooks/) in Colab."""
    repository = REPOSITORY.removeprefix("https://github.com/")
    return (f"[![Open In Colab]({BADGE_IMAGE})](https://colab.research.google.com/github/"
            f"{repository}/blob/main/notebooks/{notebook})")


def install_cell():
    return INSTALL_CELL.replace("{REPOSITORY}", REPOSITORY)


def stamp(path):
    """Put the badge on the first line of notebook `path` (its title cell) and the install
    cell right after the title, replacing earlier versions; True if the file changed."""
    import nbformat

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    before = nbformat.writes(notebook)
    title = notebook.cells[0]
    lines = title.source.splitlines()
    if lines and lines[0].startswith("[![Open In Colab]"):
        lines = lines[2:] if len(lines) > 1 and not lines[1].strip() else lines[1:]
    title.source = "\n".join([badge(path.name), ""] + lines)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if code and INSTALL_TAG in code[0].metadata.get("tags", []):
        code[0].source = install_cell()
    else:
        cell = nbformat.v4.new_code_cell(install_cell(), metadata={"tags": [INSTALL_TAG]})
        notebook.cells.insert(1, cell)
    if nbformat.writes(notebook) == before:
        return False
    nbformat.write(notebook, path)
    return True


def main():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        print(f"{path.name}: {'stamped' if stamp(path) else 'up to date'}")


if __name__ == "__main__":
    sys.exit(main())
