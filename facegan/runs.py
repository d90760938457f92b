"""The self-describing run folder: config, log, history, samples, checkpoints, snapshots.

runs/NAME/
  config.json            every setting, backend, library versions, seed
  log.txt                what happened, including skipped input files
  history.csv            step, epoch, losses, D accuracies, images/s, wall time
  fixed_latents.npy      the latent batch behind every sample grid
  samples/epoch_0001.png sample grid per epoch
  loss_curves.png
  metrics.csv            face rate, diversity, memorisation, FID/KID every --eval-every epochs
  metrics.png
  checkpoint.npz         G, D, both optimizers, step, RNG state (written atomically)
  snapshots/generator_epoch_0010.keras
  generator.keras        the final generator
  generator_ema.keras    its exponential moving average, when the run keeps one (--ema)
"""

import json
import logging
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from facegan.errors import FaceganError

HISTORY_COLUMNS = ["step", "epoch", "d_loss", "g_loss", "d_acc_real", "d_acc_fake",
                   "images_per_sec", "wall_time"]


class RunDir:
    """Paths of one run folder."""

    def __init__(self, path):
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.log = self.path / "log.txt"
        self.history = self.path / "history.csv"
        self.fixed_latents = self.path / "fixed_latents.npy"
        self.samples = self.path / "samples"
        self.loss_curves = self.path / "loss_curves.png"
        self.metrics = self.path / "metrics.csv"
        self.metrics_plot = self.path / "metrics.png"
        self.checkpoint = self.path / "checkpoint.npz"
        self.snapshots = self.path / "snapshots"
        self.generator = self.path / "generator.keras"
        self.generator_ema = self.path / "generator_ema.keras"

    def sample_grid(self, epoch):
        return self.samples / f"epoch_{epoch:04d}.png"

    def snapshot(self, epoch, ema=False):
        return self.snapshots / f"generator{'_ema' if ema else ''}_epoch_{epoch:04d}.keras"

    def write_config(self, config):
        import facegan

        versions = {"facegan": facegan.__version__, "keras": keras.__version__,
                    "numpy": np.__version__, "python": platform.python_version()}
        backend = keras.backend.backend()
        versions[backend] = __import__({"tensorflow": "tensorflow", "jax": "jax",
                                        "torch": "torch"}[backend]).__version__
        record = {"config": config, "backend": backend, "versions": versions,
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node()}
        atomic_write_text(self.config, json.dumps(record, indent=2))

    def read_config(self):
        if not self.config.exists():
            raise FaceganError(f"not a run folder (no config.json): {self.path}")
        return json.loads(self.config.read_text())["config"]

    def read_history(self):
        return pd.read_csv(self.history) if self.history.exists() else pd.DataFrame(columns=HISTORY_COLUMNS)

    def append_history(self, row):
        pd.DataFrame([row], columns=HISTORY_COLUMNS).to_csv(
            self.history, mode="a", header=not self.history.exists(), index=False)

    def read_metrics(self):
        return pd.read_csv(self.metrics) if self.metrics.exists() else pd.DataFrame()

    def append_metrics(self, row):
        """Add an evaluation row, dropping rows from `row`'s step on (a resumed run repeats
        them); columns may grow, e.g. FID once Inception weights are there."""
        table = self.read_metrics()
        if len(table):
            table = table[table["step"] < row["step"]]
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
        atomic_write_text(self.metrics, table.to_csv(index=False))

    def truncate_history(self, step):
        """Drop rows logged after `step` (the resumed run repeats those steps)."""
        if self.history.exists():
            history = self.read_history()
            history[history["step"] <= step].to_csv(self.history, index=False)

    def attach_log(self):
        """Send the facegan logger to log.txt (and the console) for this run."""
        logger = logging.getLogger("facegan")
        logger.setLevel(logging.INFO)
        for handler in list(logger.handlers):
            if getattr(handler, "facegan_run", False):
                logger.removeHandler(handler)
                handler.close()
        handler = logging.FileHandler(self.log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        handler.facegan_run = True
        logger.addHandler(handler)
        if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
                   for h in logger.handlers):
            logger.addHandler(logging.StreamHandler())


def atomic_write_text(path, text):
    tmp = Path(f"{path}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _variable_groups(gan, extra=None):
    return {"generator": gan.generator.variables, "discriminator": gan.discriminator.variables,
            **{name: opt.variables for name, opt in gan.optimizers.items()}, **(extra or {})}


def save_checkpoint(path, gan, state, extra=None):
    """Every variable of G, D and both optimizers plus a JSON `state`, in one atomic write.

    extra: more {group: variables} to save, such as the generator EMA; an empty group
    saves nothing, so checkpoints of runs without it stay interchangeable.
    """
    arrays = {f"{group}/{i:04d}": keras.ops.convert_to_numpy(v)
              for group, variables in _variable_groups(gan, extra).items()
              for i, v in enumerate(variables)}
    arrays["state"] = np.frombuffer(json.dumps(state).encode(), np.uint8)
    tmp = Path(f"{path}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # a run killed mid-write keeps its previous checkpoint


def load_checkpoint(path, gan, extra=None):
    """Restore `gan` (and the `extra` groups) from `path` in place; return the saved state."""
    with np.load(path) as saved:
        for group, variables in _variable_groups(gan, extra).items():
            names = sorted(k for k in saved.files if k.startswith(group + "/"))
            if len(names) != len(variables):
                raise FaceganError(f"{path} does not match this model ({group}: "
                                   f"{len(names)} saved, {len(variables)} expected)")
            for variable, name in zip(variables, names):
                if tuple(saved[name].shape) != tuple(variable.shape):
                    raise FaceganError(f"{path} does not match this model ({name}: "
                                       f"{saved[name].shape} vs {tuple(variable.shape)})")
                variable.assign(saved[name])
        return json.loads(saved["state"].tobytes().decode())
