"""A run's TensorBoard log (RUN/tensorboard/): scalars and sample grids, on every backend.

tensorboardX writes the event files: TensorBoard's own writer goes through TensorFlow,
which a JAX or PyTorch run should not have to load. `tensorboard --logdir RUN/tensorboard`,
or `%tensorboard` in a notebook, shows them.
"""

import time

import numpy as np

from facegan.errors import FaceganError


class TensorBoardLog:
    """Event files in `log_dir`. With `resume_step`, TensorBoard drops what an earlier,
    interrupted writer logged from that step on, so a resumed run's curves do not fold back."""

    def __init__(self, log_dir, resume_step=None):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise FaceganError("TensorBoard logging needs tensorboardX: "
                               "pip install 'facegan[tensorboard]'") from None
        # tensorboardX names files by the second, so a writer started within the same
        # second (a quick resume) would overwrite its predecessor's file: the nanoseconds
        # keep the names apart and in the order TensorBoard must read them.
        self._writer = SummaryWriter(logdir=str(log_dir), purge_step=resume_step,
                                     filename_suffix=f".{time.time_ns()}")

    def scalars(self, step, mapping):
        """One point per name at `step`; "loss/d" and "loss/g" share a chart section."""
        for name, value in mapping.items():
            self._writer.add_scalar(name, float(value), step)

    def image(self, step, tag, image):
        """A height x width x 3 uint8 image, such as a sample grid, at `step`."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a height x width x 3 uint8 image, "
                             f"got {image.dtype} {image.shape}")
        self._writer.add_image(tag, image, step, dataformats="HWC")

    def flush(self):
        """Write what is buffered, so that TensorBoard shows it now."""
        self._writer.flush()

    def close(self):
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
