"""Shared fixtures. Tests run on the backend in $KERAS_BACKEND (TensorFlow by default);
tests/test_backends.py re-runs the backend-sensitive tests on PyTorch and JAX."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached Inception weights: no FID


@pytest.fixture
def rng():
    return np.random.default_rng(0)
