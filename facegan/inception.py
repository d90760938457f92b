"""InceptionV3 pool features for FID and KID, with the weights found or a clear error.

The features are the 2048-d global-average-pooled activations of Keras' InceptionV3
(`include_top=False, pooling="avg"`), on images resized to 299x299 with plain bilinear
interpolation and scaled to [-1, 1] as InceptionV3 expects: the recipe of the reference FID
code. Keras' ImageNet weights are not the 2015 TF graph the papers' FID used, so absolute
values are comparable between facegan runs, not with published tables.
"""

import os
from pathlib import Path

import keras
import numpy as np

from facegan.errors import FaceganError

INPUT_SIZE = 299
FEATURES = 2048
NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
NOTOP_URL = f"https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/{NOTOP_FILE}"


def keras_cached_weights():
    """Where `weights="imagenet"` looks before it downloads (Keras' own cache)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / NOTOP_FILE


def weights_available(weights="imagenet"):
    """True when building the extractor needs no network: a local file, or Keras' cache."""
    if weights in (None, "imagenet"):
        return keras_cached_weights().is_file()
    return Path(weights).is_file()


def _how_to_get():
    return (f"download {NOTOP_URL} (on a machine with a network) and pass it with "
            f"--inception-weights FILE, or put it at {keras_cached_weights()}")


class InceptionExtractor:
    """uint8 images (N, R, R, 3) -> float64 (N, 2048) InceptionV3 pool features.

    weights: "imagenet" (Keras' cache, downloaded if missing), a local weights file (the
    Keras notop .h5, or a `.weights.h5` saved by Keras 3), or None for random weights,
    which only the tests use to check the mathematics.
    """

    def __init__(self, weights="imagenet", batch_size=50):
        self.batch_size = batch_size
        if weights is None:
            self.name = "inception_v3 pool 2048-d, RANDOM weights (tests only)"
        elif weights == "imagenet":
            self.name = "inception_v3 pool 2048-d, keras imagenet weights"
        else:
            if not Path(weights).is_file():
                raise FaceganError(f"Inception weights file not found: {weights}; {_how_to_get()}")
            self.name = f"inception_v3 pool 2048-d, weights {Path(weights).name}"
        try:
            self.model = keras.applications.InceptionV3(
                include_top=False, pooling="avg", weights=weights,
                input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
        except Exception as error:  # no network, a truncated or foreign file
            raise FaceganError(f"cannot load InceptionV3 weights ({weights}): "
                               f"{str(error).splitlines()[0][:160]}; {_how_to_get()}") from error

    def __call__(self, images):
        out = []
        for start in range(0, len(images), self.batch_size):
            x = keras.ops.convert_to_tensor(np.asarray(images[start:start + self.batch_size]),
                                            "float32")
            x = keras.ops.image.resize(x, (INPUT_SIZE, INPUT_SIZE), interpolation="bilinear",
                                       antialias=False)
            x = x / 127.5 - 1.0  # keras.applications.inception_v3.preprocess_input
            out.append(keras.ops.convert_to_numpy(self.model(x, training=False)))
        return np.concatenate(out).astype(np.float64)
