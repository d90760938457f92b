"""Sampling a trained generator: seeded latents, batches of faces, latent interpolation."""

import zipfile
from pathlib import Path

import keras
import numpy as np

from facegan.data.images import to_uint8
from facegan.errors import FaceganError, first_line
from facegan.networks import dcgan  # also registers facegan's layers, which older files name


def load_generator(path):
    """A generator saved as `.keras` by a run (or shipped with the project), in Keras's own
    layers computing in float32 (dcgan.portable), as files written before runs saved them
    so (in facegan's layers, or at their training precision) are converted.

    Loaded in Keras's safe mode: a file that would run its own code when loaded (a Lambda
    layer) is refused, as are files that are not a whole generator (truncated, corrupt,
    or another network such as a discriminator): each with one line saying which.
    """
    path = Path(path)
    if not path.is_file():
        raise FaceganError(f"generator file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise FaceganError(f"{path} is not a .keras file (truncated or corrupt: not a zip archive)")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        if "Lambda" in str(error):
            raise FaceganError(f"{path} holds a Lambda layer (code that would run on loading); "
                               f"facegan loads models in Keras's safe mode and refuses it") from None
        raise FaceganError(f"cannot load a generator from {path}: {first_line(error)}") from None
    inputs, outputs = model.input_shape, model.output_shape
    if not (len(inputs) == 2 and len(outputs) == 4 and outputs[-1] == 3):
        raise FaceganError(f"{path} is not a generator: it maps {inputs} to {outputs}, not "
                           f"(None, latent_dim) latents to (None, R, R, 3) images"
                           f"{' (a discriminator?)' if len(inputs) == 4 else ''}")
    return dcgan.portable(model)


def latents(n, latent_dim, seed=0):
    """`n` standard-normal latent vectors; the same seed always gives the same faces."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim), np.float32)


def generate(generator, z, batch_size=256):
    """Latents (N, latent_dim) -> uint8 faces (N, R, R, 3), using BatchNorm's moving statistics.

    predict_on_batch runs compiled on TensorFlow and JAX and without autograd on PyTorch.
    """
    out = [generator.predict_on_batch(z[i:i + batch_size]) for i in range(0, len(z), batch_size)]
    return to_uint8(np.concatenate(out))


def sample(generator, n=64, seed=0):
    """`n` faces from a seed."""
    return generate(generator, latents(n, generator.input_shape[-1], seed))


def interpolate(z0, z1, steps=8, spherical=True):
    """Latents from z0 to z1. Spherical (slerp) keeps the norm typical of Gaussian samples;
    linear paths pass near the origin, where a generator rarely sees its inputs."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    if not spherical:
        return (1 - t) * z0 + t * z1
    cos = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * z0 + t * z1
    return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)
