"""Data-parallel training on several devices through Keras's own engine.

On JAX, `keras.distribution.DataParallel` keeps a replica of G, D and both optimizers on
every device and shards each batch across them; XLA all-reduces the gradients. BatchNorm's
batch statistics are reduced over the whole batch too, so N devices compute the same step
as one device, only faster. The distribution must be set before the networks are built.

TensorFlow's MirroredStrategy is not used: Keras's `train_on_batch`, which the two-phase
step is made of, hands every replica the whole batch instead of a shard of it.
"""

import keras

from facegan.errors import FaceganError


def use_devices(count, batch_size):
    """Train on `count` devices (GPUs, else CPUs) from now on; 1 restores single-device training."""
    backend = keras.backend.backend()
    if count == 1:
        if backend == "jax":
            keras.distribution.set_distribution(None)
        return
    if backend != "jax":
        raise FaceganError(f"--devices {count} needs the jax backend (keras.distribution."
                           f"DataParallel); {backend} trains on one device")
    devices = keras.distribution.list_devices()
    if count > len(devices):
        raise FaceganError(f"--devices {count}: only {len(devices)} device(s) visible: "
                           f"{', '.join(devices)}")
    if batch_size % count:
        raise FaceganError(f"batch size {batch_size} does not split evenly over {count} devices")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices[:count]))
