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
  lock                   pid and host of the process training in the folder
  snapshots/generator_epoch_0010.keras
  generator.keras        the final generator
  generator_ema.keras    its exponential moving average, when the run keeps one (--ema)
  tensorboard/           TensorBoard event files, with --tensorboard
"""

import json
import logging
import os
import platform
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from facegan.atomic import atomic_write, atomic_write_text
from facegan.errors import FaceganError, WorkFailed
from facegan.networks.dcgan import portable


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
        self.tensorboard = self.path / "tensorboard"
        self.lock = self.path / "lock"

    def sample_grid(self, epoch):
        return self.samples / f"epoch_{epoch:04d}.png"

    def snapshot(self, epoch, ema=False):
        return self.snapshots / f"generator{'_ema' if ema else ''}_epoch_{epoch:04d}.keras"

    @property
    def keeps_ema(self):
        """Whether the run trains a weight average of G, which is then what it samples."""
        return self.config.exists() and bool(self.read_config().get("ema"))

    @property
    def sampling_generator(self):
        """The final generator the run samples, and what figures and export use: its weight
        average when the run keeps one, else G itself."""
        return self.generator_ema if self.keeps_ema else self.generator

    def sampling_snapshots(self):
        """{epoch: path} of the sampling generator's snapshots (see sampling_generator)."""
        pattern = self.snapshot(0, ema=self.keeps_ema).name.replace("0000", "*")
        return {int(path.stem[-4:]): path for path in sorted(self.snapshots.glob(pattern))}

    def sampling_snapshot(self, epoch):
        """The sampling generator as snapshotted at the end of `epoch`; FaceganError if the
        run saved none then."""
        saved = self.sampling_snapshots()
        if epoch not in saved:
            raise FaceganError(f"{self.path} has no snapshot of epoch {epoch} (it has "
                               f"{', '.join(map(str, saved)) or 'none'}; see --snapshot-every)")
        return saved[epoch]

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
        """Append one row; a failed write (disk full) is cut back off, so no half row stays."""
        size = self.history.stat().st_size if self.history.exists() else 0
        try:
            pd.DataFrame([row], columns=HISTORY_COLUMNS).to_csv(
                self.history, mode="a", header=size == 0, index=False)
        except OSError:
            os.truncate(self.history, size)
            raise

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
        from facegan import backend

        if backend.startup_messages.strip():  # kept off the console by backend.start
            with open(self.log, "a") as f:
                f.write(f"backend start-up messages:\n{backend.startup_messages.rstrip()}\n")
        handler = logging.FileHandler(self.log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        handler.facegan_run = True
        logger.addHandler(handler)
        if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
                   for h in logger.handlers):
            logger.addHandler(logging.StreamHandler())


def snapshots(run_dir):
    """[(epoch, path)] of the run's snapshots and final generator, by epoch: those of its
    weight average when it keeps one (what it samples), else G's."""
    run = RunDir(run_dir)
    found = run.sampling_snapshots()
    if run.sampling_generator.exists():
        found[int(run.read_history()["epoch"].max())] = run.sampling_generator
    return sorted(found.items())


def save_model(model, path):
    """Save a generator atomically, in Keras's own layers computing in float32
    (dcgan.portable), after checking its weights are finite."""
    check_finite({"generator": model.variables}, f"saving {Path(path).name}")
    atomic_write(path, portable(model).save)


def check_finite(groups, when):
    """{name: variables} -> {name: their values as NumPy arrays}, refusing NaN or infinite
    weights (WorkFailed names the first): they are never written over good ones."""
    values = {}
    for name, variables in groups.items():
        values[name] = [keras.ops.convert_to_numpy(v) for v in variables]
        for variable, value in zip(variables, values[name]):
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise WorkFailed(f"non-finite weights in the {name} ({variable.path}) when "
                                 f"{when}; nothing was written")
    return values


class RunLock:
    """One process at a time in a run folder: a lock file with the holder's pid and host.

    A lock left by a process that no longer runs on this host (killed) is stale and taken
    over; one held by the current process (a notebook re-running its cell) is reused.
    """

    def __init__(self, path):
        self.path = Path(path)

    def acquire(self):
        """Take the lock, or raise FaceganError naming its live holder. Returns the pid of
        the dead process whose stale lock was taken over, if any."""
        me, stale = {"pid": os.getpid(), "host": platform.node()}, None
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self._holder()
                if holder == me:
                    return stale
                if holder is not None and self._alive(holder):
                    raise FaceganError(
                        f"{self.path.parent} is in use by process {holder['pid']} on "
                        f"{holder['host']} (lock file {self.path}); wait for it to finish, "
                        f"or delete the lock file if that process is gone")
                stale = holder and holder["pid"]
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return stale

    def release(self):
        if self._holder() == {"pid": os.getpid(), "host": platform.node()}:
            self.path.unlink(missing_ok=True)

    def _holder(self):
        try:
            holder = json.loads(self.path.read_text())
            return {"pid": int(holder["pid"]), "host": str(holder["host"])}
        except (OSError, ValueError, KeyError, TypeError):
            return None  # gone, or half-written by a process killed while writing it

    @staticmethod
    def _alive(holder):
        if holder["host"] != platform.node():
            return True  # cannot tell: another machine's process, on a shared disk
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # another user's process
        try:  # a killed child its parent has not reaped yet still answers kill(0)
            return Path(f"/proc/{holder['pid']}/stat").read_text().split(")")[-1].split()[0] != "Z"
        except OSError:
            return True


def variable_groups(gan, extra=None):
    return {"generator": gan.generator.variables, "discriminator": gan.discriminator.variables,
            **{name: opt.variables for name, opt in gan.optimizers.items()}, **(extra or {})}


def save_checkpoint(path, gan, state, extra=None):
    """Every variable of G, D and both optimizers plus a JSON `state`, in one atomic write.

    extra: more {group: variables} to save, such as the generator EMA; an empty group
    saves nothing, so checkpoints of runs without it stay interchangeable. Non-finite
    weights are refused: a diverged run keeps its last good checkpoint.
    """
    values = check_finite(variable_groups(gan, extra), f"checkpointing step {state['step']}")
    arrays = {f"{group}/{i:04d}": value
              for group, group_values in values.items() for i, value in enumerate(group_values)}
    arrays["state"] = np.frombuffer(json.dumps(state).encode(), np.uint8)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)  # a run killed mid-write keeps its previous checkpoint


MODEL_FIELDS = ("resolution", "latent_dim", "base_channels", "upsampling", "loss",
                "spectral_norm", "augment", "ema")  # the settings that shape its variables


def load_checkpoint(path, gan, extra=None, config=None):
    """Restore `gan` (and the `extra` groups) from `path` in place; return the saved state.

    config: this run's settings, compared with those the checkpoint was saved under, so
    that a checkpoint of another resolution or set of options is named as such.
    """
    try:
        saved = np.load(path)
        state = json.loads(saved["state"].tobytes().decode())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise FaceganError(f"{path} is not a readable checkpoint (truncated or corrupt: "
                           f"{error})") from None
    with saved:
        if config is not None and "model" in state:
            differ = [f"{k} {state['model'][k]!r} (this run: {config[k]!r})"
                      for k in MODEL_FIELDS  # a field newer than the checkpoint: its default
                      if k in state["model"] and state["model"][k] != config[k]]
            if differ:
                raise FaceganError(f"{path} was saved with other settings: {', '.join(differ)}")
        for group, variables in variable_groups(gan, extra).items():
            names = sorted(k for k in saved.files if k.startswith(group + "/"))
            if len(names) != len(variables):
                raise FaceganError(f"{path} does not match this model ({group}: "
                                   f"{len(names)} saved, {len(variables)} expected)")
            for variable, name in zip(variables, names):
                if tuple(saved[name].shape) != tuple(variable.shape):
                    raise FaceganError(f"{path} does not match this model ({name}: "
                                       f"{saved[name].shape} vs {tuple(variable.shape)})")
                variable.assign(saved[name])
        return state
