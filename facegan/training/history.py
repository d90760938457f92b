"""A run's history as it trains: the losses summed between rows; a row every `log_every`
steps and at each epoch's end, to history.csv, the progress bar and TensorBoard, with the
images per second since the previous row; the first non-finite loss; the collapse signal.

The sums of a half-logged interval are part of the checkpoint (`interval`), so a resumed
run writes the same rows as an uninterrupted one.
"""

import logging
import math
import time

import keras

from facegan.errors import WorkFailed
from facegan.figures.grids import image_grid

log = logging.getLogger("facegan")

# The collapse signal: D calls (almost) every real and generated image right, and G's loss
# is large, for this many history rows in a row. Warned about once; the run goes on.
COLLAPSE_ROWS = 5
COLLAPSE_D_ACCURACY = 0.99
COLLAPSE_G_LOSS = 10.0


class History:
    """The logging of one run. `writer`: whether this process writes the run folder (in a
    multi-process job process 0 alone does); `tensorboard`: a TensorBoardLog, or None."""

    def __init__(self, run, steps_per_epoch, images_per_step, log_every, writer=True):
        self.run, self.writer = run, writer
        self.steps_per_epoch, self.images_per_step = steps_per_epoch, images_per_step
        self.log_every = log_every
        self.interval = {"sums": {}, "count": 0}  # losses since the last history row
        self.step = 0  # the last step added
        self.collapse_rows, self.collapse_warned = 0, False
        self.tensorboard = None

    def start_epoch(self, step, verbose):
        """A progress bar over the epoch of step `step + 1`, the steps before it done."""
        self._progbar = keras.utils.Progbar(self.steps_per_epoch, verbose=verbose,
                                            stateful_metrics=["d_loss", "g_loss", "img/s"])
        self._progbar.update(step % self.steps_per_epoch)
        self._timed_steps, self._since, self._row_written = 0, time.perf_counter(), False

    def timed(self, steps):
        """A call of `steps` steps has just returned: its steps count toward the next row's
        images per second, measured over the calls since the last row's call."""
        now = time.perf_counter()
        if self._row_written:
            self._timed_steps, self._since, self._row_written = 0, self._returned, False
        self._timed_steps += steps
        self._returned = now

    def add(self, step, metrics, wall_time):
        """Step `step`'s metrics: stop at a non-finite loss (D's step runs first, so its loss
        is named first), else sum them and write a row if one falls due. `wall_time()`: the
        run's training time so far."""
        self.step = step
        for network, key in (("discriminator", "d_loss"), ("generator", "g_loss")):
            if not math.isfinite(metrics[key]):
                raise WorkFailed(f"training diverged at step {step}: the {network}'s "
                                 f"loss is {metrics[key]} (try a lower --lr)")
        sums = self.interval["sums"]
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + value
        self.interval["count"] += 1
        if step % self.log_every == 0 or step % self.steps_per_epoch == 0:
            self._write_row(wall_time())

    def _write_row(self, wall_time):
        step, spe = self.step, self.steps_per_epoch
        speed = self._timed_steps * self.images_per_step / (self._returned - self._since)
        row = {k: v / self.interval["count"] for k, v in self.interval["sums"].items()}
        if self.writer:
            self.run.append_history({"step": step, "epoch": (step - 1) // spe + 1, **row,
                                     "images_per_sec": speed, "wall_time": wall_time})
        self._progbar.update((step - 1) % spe + 1, [("d_loss", row["d_loss"]),
                                                    ("g_loss", row["g_loss"]), ("img/s", speed)])
        if self.tensorboard:
            self.tensorboard.scalars(step, {
                "loss/d": row["d_loss"], "loss/g": row["g_loss"],
                "accuracy/d_real": row["d_acc_real"], "accuracy/d_fake": row["d_acc_fake"],
                "speed/images_per_sec": speed})
        self._check_collapse(row)
        self.interval, self._row_written = {"sums": {}, "count": 0}, True

    def _check_collapse(self, row):
        """Warn once when the rows show the collapse signal."""
        collapsing = (min(row["d_acc_real"], row["d_acc_fake"]) >= COLLAPSE_D_ACCURACY
                      and row["g_loss"] > COLLAPSE_G_LOSS)
        self.collapse_rows = self.collapse_rows + 1 if collapsing else 0
        if self.collapse_rows >= COLLAPSE_ROWS and not self.collapse_warned:
            self.collapse_warned = True
            log.warning("warning: training may have collapsed at step %d: D has called over "
                        "%.0f%% of real and generated images right and G's loss has been above "
                        "%g for %d history rows; look at the samples, and consider a lower --lr",
                        self.step, 100 * COLLAPSE_D_ACCURACY, COLLAPSE_G_LOSS, COLLAPSE_ROWS)

    def add_metrics(self, step, epoch, row):
        """An evaluation's scores: a metrics.csv row and TensorBoard points."""
        self.run.append_metrics({"step": step, "epoch": epoch, **row})
        if self.tensorboard:
            self.tensorboard.scalars(step, {f"metrics/{k}": v for k, v in row.items()})

    def add_samples(self, step, samples):
        """The epoch's samples (uint8 faces) as one grid, for TensorBoard."""
        if self.tensorboard:
            self.tensorboard.image(step, "samples", image_grid(samples, columns=8))

    def flush(self):
        if self.tensorboard:
            self.tensorboard.flush()

    def close(self):
        if self.tensorboard:
            self.tensorboard.close()
            self.tensorboard = None
