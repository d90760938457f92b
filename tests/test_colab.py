"""Colab in one click: every notebook carries its badge and the install cell, all copies of
the repository's address agree with facegan.REPOSITORY, and the notebooks' backend rule.

That the install cell works is tested by running notebook 02 in a Colab stand-in
(tests/test_notebooks.py, tests/colab_runtime.py).
"""

import os
import re
import shutil
import sys
import tomllib
import types
from pathlib import Path

import pytest

from facegan import REPOSITORY, backend as keras_backend
from facegan.notebooks import colab, helpers

CHECKOUT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((CHECKOUT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_notebook_opens_with_its_badge_and_the_install_cell(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    assert not colab.stamp(copy), (f"{path.name} is out of date: run "
                                      f"`python -m facegan.notebooks.colab`")


def test_the_readme_and_pyproject_use_the_one_address():
    readme = (CHECKOUT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert colab.badge(path.name) in readme, f"README has no Colab badge for {path.name}"
    ours = "https://colab.research.google.com/github/" + REPOSITORY.removeprefix("https://github.com/")
    for link in re.findall(r"https://colab\.research\.google\.com/github/[^)\s]+", readme):
        assert link.startswith(ours + "/"), link
    assert f"pip install git+{REPOSITORY}" in readme
    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]
    assert project["urls"]["Repository"] == REPOSITORY


def test_the_install_cell_clones_the_address_and_installs_without_an_editable_finder():
    cell = colab.install_cell()
    assert f'"FACEGAN_REPOSITORY", "{REPOSITORY}"' in cell
    assert '"--no-build-isolation"' in cell and '"-e"' not in cell


@pytest.fixture
def installed(monkeypatch):
    """Pretend exactly the named modules are installed; `jax` sees the devices given."""
    def pretend(*modules, jax_platforms=("cpu",)):
        monkeypatch.setattr(helpers.importlib.util, "find_spec",
                            lambda name: object() if name in modules else None)
        devices = [types.SimpleNamespace(platform=platform) for platform in jax_platforms]
        monkeypatch.setitem(sys.modules, "jax", types.SimpleNamespace(devices=lambda: devices))
    return pretend


@pytest.mark.parametrize("modules, platforms, fastest", [
    (("jax_cuda12_plugin", "tensorflow", "torch"), ("gpu",), "jax"),
    (("libtpu",), ("tpu", "tpu"), "jax"),
    (("jax_cuda12_plugin", "tensorflow"), ("cpu",), "tensorflow"),  # CUDA JAX, no GPU
    (("tensorflow", "torch"), ("gpu",), "tensorflow"),  # JAX without a plugin is not asked
    (("torch",), ("cpu",), "torch"),
])
def test_the_fastest_backend(installed, modules, platforms, fastest):
    installed(*modules, jax_platforms=platforms)
    assert helpers.fastest_backend()[0] == fastest


def test_the_backend_parameter_overrides_the_choice(installed, monkeypatch, capsys):
    installed("jax_cuda12_plugin", jax_platforms=("gpu",))
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    started = []  # not a second Keras in this process: record what would start
    monkeypatch.setattr(keras_backend, "start", lambda: started.append(os.environ["KERAS_BACKEND"]))
    assert helpers.choose_backend("torch") == "torch"
    assert helpers.choose_backend(None) == "jax"
    assert capsys.readouterr().out.splitlines() == [
        "Keras backend: torch (set by the backend parameter)",
        "Keras backend: jax (the fastest on accelerators; JAX sees gpu)"]
    assert helpers.os.environ["KERAS_BACKEND"] == "jax" and started == ["torch", "jax"]


def test_once_keras_runs_the_backend_stays_and_says_so(monkeypatch, capsys):
    keras = types.SimpleNamespace(backend=types.SimpleNamespace(backend=lambda: "tensorflow"))
    monkeypatch.setitem(sys.modules, "keras", keras)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert helpers.choose_backend("jax") == "tensorflow"
    assert "restart it to use jax" in capsys.readouterr().out
    assert helpers.os.environ["KERAS_BACKEND"] == "tensorflow"
