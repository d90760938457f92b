"""Start Keras's backend without its start-up noise on the console.

TensorFlow prints oneDNN, CUDA-driver and cuInit notices from C++ when it is imported and
when it first creates its devices ("failed call to cuInit: UNKNOWN ERROR (303)" on a
machine without a GPU reads like a failure), and TF_CPP_MIN_LOG_LEVEL does not silence all
of them; JAX warns through Python logging when it looks for accelerators. So the CLI
imports Keras and creates the backend's devices once, with the process's stderr (file
descriptor 2, which C++ writes to) sent to a buffer, and keeps the text for the run's log.
Keras imports TensorFlow on every backend when it is installed (keras.utils.set_random_seed
seeds it, saving a model checks its types): for work that trains or saves, start imports it too.
"""

import contextlib
import importlib.util
import os
import sys
import tempfile

BACKENDS = ("tensorflow", "jax", "torch")
INSTALL = {"tensorflow": "tensorflow", "jax": "'jax[cpu]' (or jax[cuda12])", "torch": "torch"}

startup_messages = ""  # what the backend printed while starting, for log files


def start(backend=None, job=None, with_tensorflow=True):
    """Import Keras on `backend` (default: $KERAS_BACKEND, else tensorflow) quietly.

    job: (coordinator, processes, process_id) to join a multi-process job first, before
    the devices exist (facegan.training.distribute.join). with_tensorflow: on another backend,
    import TensorFlow too, for work that trains or saves (False spares sampling its import
    time). Returns the backend's name; its start-up output is kept in `startup_messages`.
    """
    from facegan.errors import FaceganError

    if backend:
        os.environ["KERAS_BACKEND"] = backend
    name = os.environ.get("KERAS_BACKEND", "tensorflow")
    if "keras" in sys.modules:  # already started (a notebook, a test): nothing to hide
        if job:
            from facegan.training.distribute import join

            join(*job)
        return sys.modules["keras"].backend.backend()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _stderr_kept():
        try:
            import keras

            if job:
                from facegan.training.distribute import join

                join(*job)
            keras.ops.convert_to_numpy(keras.ops.zeros(1))  # creates the devices
        except ImportError as error:
            missing = INSTALL.get(name, name)
            raise FaceganError(f"the Keras backend {name!r} is not installed ({error}); "
                               f"pip install {missing}") from None
        if with_tensorflow and name != "tensorflow" and importlib.util.find_spec("tensorflow"):
            import tensorflow  # noqa: F401
    return keras.backend.backend()


@contextlib.contextmanager
def _stderr_kept():
    """The process's stderr (file descriptor 2) sent to a buffer, its text kept in
    `startup_messages`."""
    global startup_messages
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buffer:
        os.dup2(buffer.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            buffer.seek(0)
            startup_messages = buffer.read().decode(errors="replace")
