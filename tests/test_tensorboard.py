"""facegan.training.tensorboard writes event files that TensorBoard's own reader (the one behind
`tensorboard --logdir`) reads back: scalars, sample grids, and a resumed run's purge."""

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from facegan.errors import FaceganError
from facegan.training.tensorboard import TensorBoardLog

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def read(log_dir):
    events = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_scalars_and_a_sample_grid_read_back(tmp_path, rng):
    grid = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    with TensorBoardLog(tmp_path) as log:
        for step in (10, 20, 30):
            log.scalars(step, {"loss/d": step / 10, "loss/g": -step, "images_per_sec": np.float32(2.5)})
        log.image(30, "samples", grid)
    events = read(tmp_path)
    assert [(e.step, e.value) for e in events.Scalars("loss/d")] == [(10, 1.0), (20, 2.0), (30, 3.0)]
    assert [e.value for e in events.Scalars("loss/g")] == [-10, -20, -30]
    assert events.Scalars("images_per_sec")[0].value == 2.5
    (image,) = events.Images("samples")
    assert (image.step, image.width, image.height) == (30, 60, 40)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(image.encoded_image_string))), grid)


def test_a_resumed_log_drops_what_the_interrupted_run_wrote_after_its_checkpoint(tmp_path):
    with TensorBoardLog(tmp_path) as log:  # killed after step 50, last checkpoint at step 30
        for step in (10, 20, 30, 40, 50):
            log.scalars(step, {"loss/d": 1.0})
    with TensorBoardLog(tmp_path, resume_step=30) as log:  # at once: the same second
        for step in (30, 40):
            log.scalars(step, {"loss/d": 2.0})
    assert [(e.step, e.value) for e in read(tmp_path).Scalars("loss/d")] == [
        (10, 1.0), (20, 1.0), (30, 2.0), (40, 2.0)]


def test_only_height_width_rgb_uint8_images(tmp_path):
    with TensorBoardLog(tmp_path) as log, pytest.raises(ValueError, match="uint8"):
        log.image(0, "samples", np.zeros((8, 8, 3), np.float32))


def test_writing_does_not_load_tensorflow(tmp_path):
    """JAX and PyTorch runs log without importing a third framework."""
    code = ("import sys, numpy as np; from facegan.training.tensorboard import TensorBoardLog\n"
            f"log = TensorBoardLog({str(tmp_path)!r}); log.scalars(1, {{'loss/d': 1}})\n"
            "log.image(1, 'samples', np.zeros((4, 4, 3), np.uint8)); log.close()\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == "[]"
    assert list(tmp_path.glob("events.out.tfevents.*"))


def test_without_tensorboardx_one_line_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(FaceganError, match=r"pip install 'facegan\[tensorboard\]'"):
        TensorBoardLog(tmp_path)
