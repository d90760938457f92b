"""Helpers that keep the notebooks' cells short: which Keras backend to run, where outputs
go, which accelerator Keras found, the precision to train in, and a live view of training
(the newest sample grid and the loss curves). Importing this module does not import Keras:
the backend is chosen first."""

import importlib.util
import io
import os
import sys
from pathlib import Path

# JAX's accelerator plugins: with one installed, JAX may see a GPU or TPU.
JAX_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "libtpu")


def fastest_backend():
    """(backend, why) for training here, from the README's measurements: JAX where it sees
    a GPU or TPU (2 to 4 times the others' rate on an H100), else TensorFlow (the fastest
    on CPUs with TensorFlow 2.21), else PyTorch. JAX is imported only when an accelerator
    plugin is installed."""
    if any(importlib.util.find_spec(plugin) for plugin in JAX_ACCELERATOR_PLUGINS):
        import jax

        try:
            accelerators = sorted({d.platform for d in jax.devices()} - {"cpu"})
        except RuntimeError:  # a plugin that cannot start: no usable accelerator
            accelerators = []
        if accelerators:
            return "jax", f"the fastest on accelerators; JAX sees {', '.join(accelerators)}"
    if importlib.util.find_spec("tensorflow"):
        return "tensorflow", "no accelerator for JAX here; TensorFlow is the fastest on CPUs"
    return "torch", "no accelerator for JAX and no TensorFlow here"


def choose_backend(backend=None):
    """Set Keras's backend and import Keras: `backend`, or the fastest here when it is None.
    Prints the choice and why, and returns the backend Keras runs."""
    why = "set by the backend parameter"
    if not backend:
        backend, why = fastest_backend()
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
        running = sys.modules["keras"].backend.backend()
        print(f"Keras already runs on {running} in this kernel: restart it to use {backend}")
        return running
    os.environ["KERAS_BACKEND"] = backend
    print(f"Keras backend: {backend} ({why})")
    from facegan import backend as keras_backend

    keras_backend.start()  # imports Keras now, its start-up notices kept out of the notebook
    return backend


def output_folders(output_dir):
    """(figures/, generated_images/) under `output_dir`, created if needed."""
    folders = Path(output_dir) / "figures", Path(output_dir) / "generated_images"
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def accelerators():
    """The GPUs or TPUs that Keras's backend computes on (names; empty on a CPU)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices() if d.device_type != "CPU"]
    if backend == "torch":
        import torch

        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return devices or (["Apple MPS"] if torch.backends.mps.is_available() else [])
    import jax

    return [str(d) for d in jax.devices() if d.platform != "cpu"]


def accelerator():
    """One line: the Keras backend and the devices it computes on."""
    import keras

    devices = accelerators()
    found = ", ".join(devices) if devices else "no GPU or TPU: CPU only (train in quick mode or be patient)"
    return f"Keras {keras.__version__}, backend {keras.backend.backend()}: {found}"


def recommended_precision():
    """The recommended way's precision: mixed_bfloat16 when training runs on a CPU that
    computes bfloat16 itself (AVX-512 BF16 or AMX; 1.2 to 1.7 times the float32 rate,
    docs/benchmarks.md), else float32 (on GPUs it paid only at large batches)."""
    if accelerators():
        return "float32"
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:  # not Linux
        return "float32"
    return "mixed_bfloat16" if flags & {"avx512_bf16", "amx_bf16"} else "float32"


def show_image(path, width=None):
    """Show an image file inline, stored at most `width` pixels wide: a notebook carries
    every image it shows, so a large grid meant to be seen small is embedded small."""
    from IPython.display import Image, display
    from PIL import Image as PILImage

    image = PILImage.open(path)
    if not width or image.width <= width:
        return display(Image(filename=str(path)))
    image = image.resize((width, round(image.height * width / image.width)), PILImage.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    display(Image(data=buffer.getvalue(), format="png"))


def live_view(every=1):
    """An `on_epoch_end(trainer, epoch)` for `Trainer.fit` that redraws the newest sample
    grid and the loss curves in place (one output, replaced), every `every` epochs and
    after the last."""
    from IPython.display import clear_output

    def show(trainer, epoch):
        if epoch % every and epoch != trainer.config.epochs:
            return
        clear_output(wait=True)
        history = trainer.run.read_history().iloc[-1]
        print(f"epoch {epoch}/{trainer.config.epochs}  step {trainer.step}  "
              f"D loss {history.d_loss:.3f}  G loss {history.g_loss:.3f}  "
              f"{history.images_per_sec:.0f} images/s")
        show_image(trainer.run.sample_grid(epoch), width=520)
        show_image(trainer.run.loss_curves, width=640)

    return show
