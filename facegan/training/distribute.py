"""Data-parallel training on several devices, and on several processes (hosts), through
Keras's own engine.

On JAX, `keras.distribution.DataParallel` keeps a replica of G, D and both optimizers on
every device and shards each batch across them; XLA all-reduces the gradients. BatchNorm's
batch statistics are reduced over the whole batch too, so N devices compute the same step
as one device, only faster. The distribution must be set before the networks are built.

Several processes (one per host) join one job through JAX's distributed runtime, as
`keras.distribution.initialize` exposes it: every process runs the same command with its
own process id, and process 0's address is the coordinator. The devices of all processes
then form one mesh; each process draws the same global batch order (same seed) and feeds
only its own rows of every batch, which JAX assembles into the global batch. Process 0
alone writes the run folder (which every process must be able to read, to resume).

TensorFlow's MirroredStrategy is not used: Keras's `train_on_batch`, which the two-phase
step is made of, hands every replica the whole batch instead of a shard of it.
"""

import weakref

import keras
import numpy as np

from facegan.errors import FaceganError
from facegan.networks.dcgan import local_clone


def join(coordinator, processes, process_id):
    """Join a job of `processes` processes as `process_id` (0 is the coordinator, listening
    at `coordinator`, HOST:PORT). Call before anything touches a device; blocks until every
    process has joined."""
    if keras.backend.backend() != "jax":
        raise FaceganError(f"--processes {processes} needs the jax backend (JAX's distributed "
                           f"runtime); {keras.backend.backend()} trains in one process")
    if not 0 <= process_id < processes:
        raise FaceganError(f"--process-id {process_id} must be in 0..{processes - 1}")
    if ":" not in coordinator:
        raise FaceganError(f"--coordinator {coordinator!r} must be HOST:PORT (process 0's)")
    try:
        keras.distribution.initialize(coordinator, processes, process_id)
    except RuntimeError as error:  # JAX already started its devices in this process
        raise FaceganError(f"cannot join the job of {processes} processes: {error}") from None


def process_index():
    """This process's id in a multi-process job; 0 when training alone."""
    if keras.backend.backend() != "jax":
        return 0
    import jax

    return jax.process_index()


def process_count():
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count()


def local_rows(batch_size):
    """The slice of every global batch that this process feeds (its shard)."""
    count, index = process_count(), process_index()
    if batch_size % count:
        raise FaceganError(f"batch size {batch_size} does not split evenly over {count} processes")
    share = batch_size // count
    return slice(index * share, (index + 1) * share)


def use_devices(count, batch_size):
    """Train on `count` devices (GPUs, else CPUs; of every process) from now on; 1 restores
    single-device training."""
    backend = keras.backend.backend()
    if process_count() > 1 and count != len(keras.distribution.list_devices()):
        raise FaceganError(f"--devices {count}: a job of {process_count()} processes trains on "
                           f"all their {len(keras.distribution.list_devices())} devices")
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


class NoLock:
    """The run folder's lock for the processes that do not write it (all but process 0)."""

    def acquire(self):
        return None

    def release(self):
        pass


def on_this_process(model):
    """`model`, or in a multi-process job a copy of it on this process's devices alone with
    its current weights: a model laid out over every process's devices runs only when every
    process calls it."""
    if process_count() == 1:
        return model
    copy = _local_copies.get(model)
    if copy is None:
        copy = _local_copies[model] = local_clone(model)
    copy.set_weights([np.asarray(v.value) for v in model.weights])
    return copy


_local_copies = weakref.WeakKeyDictionary()  # trained model -> its local copy
