"""A stand-in for a Colab runtime, to run a notebook as Colab would without Colab.

- The kernel's Python is a new venv in which facegan is not installed. It reads the test
  venv's site-packages through a plain path line, so keras, TensorFlow, pip and setuptools
  are there (as Colab preinstalls them), but none of that folder's .pth files run: the
  editable install of facegan in it stays invisible. What the notebook installs goes into
  the new venv.
- `google.colab` is a stub module, imported when the kernel starts, as on Colab.
- The repository's address ($FACEGAN_REPOSITORY) is a file:// git repository holding this
  checkout's files as they are now; /content ($FACEGAN_COLAB_ROOT) is a tmp folder.
- PIP_NO_INDEX: pip cannot download anything, so the install must need nothing new.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
KERNEL = "colab-runtime"


def snapshot_repository(folder):
    """A git repository in `folder` holding this checkout's files, committed or not, as one commit."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=CHECKOUT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (CHECKOUT / name).is_file():  # a tracked file deleted in the working tree is skipped
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(CHECKOUT / name, folder / name)
    git = ["git", "-C", str(folder), "-c", "user.name=test", "-c", "user.email=test@localhost"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "snapshot"], check=True)
    return folder


def make_runtime(folder):
    """Build the runtime under `folder`; returns (JUPYTER_PATH with its kernel, /content)."""
    content = folder / "content"
    content.mkdir(parents=True)
    repository = snapshot_repository(folder / "repository")

    stub = folder / "stub" / "google" / "colab"  # no google/__init__.py: protobuf's google.* stays
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""Colab\'s own module, a stand-in: its presence means Colab."""\n')

    venv = folder / "python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "colab_preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    found = subprocess.run([python, "-c", "import facegan"], cwd=content, capture_output=True)
    assert found.returncode != 0, "facegan must not be importable before the notebook installs it"

    spec = folder / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=import google.colab"],
        "display_name": "Colab stand-in", "language": "python",
        "env": {"PYTHONPATH": str(folder / "stub"), "FACEGAN_COLAB_ROOT": str(content),
                "FACEGAN_REPOSITORY": repository.as_uri(), "PIP_NO_INDEX": "1"},
    }))
    return folder / "jupyter", content
