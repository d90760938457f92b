"""The training loop and its checkpoint contract: data order, steps, sample grids,
checkpoints and resuming. What a step does is the GAN's (facegan.training.build); what is
logged is the History's (facegan.training.history).

Everything random on the host comes from one NumPy generator whose state is checkpointed,
and each epoch's data order from (seed, epoch), so a resumed run continues exactly where
the checkpoint left it: at the same step, with the same fixed latent grid, and the same
history rows (the losses of a half-logged interval are checkpointed too).

A run cannot silently go wrong: a non-finite loss stops it at that step, non-finite weights
are never written over a good checkpoint or generator, a full disk stops it with the last
checkpoint intact, and a lock keeps a second process out of its folder.
"""

import contextlib
import dataclasses
import functools
import logging
import signal
import threading
import time
import weakref

import keras
import numpy as np

from facegan.data.images import load_images, to_model_input
from facegan.errors import FaceganError, WorkFailed
from facegan.figures.grids import save_grid
from facegan.figures.plots import plot_losses
from facegan.networks.sampling import generate
from facegan.training.build import make_gan
from facegan.training.config import TrainConfig, check_steps_per_call
from facegan.training.distribute import (NoLock, local_rows, on_this_process, process_count,
                                         process_index)
from facegan.training.history import History
from facegan.training.runs import (MODEL_FIELDS, RunDir, RunLock, check_finite, load_checkpoint,
                                   save_checkpoint, save_model, variable_groups)

log = logging.getLogger("facegan")


class Trainer:
    """Owns one run: its config, data, networks and folder. `fit()` trains to `epochs`."""

    def __init__(self, run_dir, config=None):
        """A new run from `config`, or with no config the run in `run_dir` resumed.

        To train a resumed run longer, raise `trainer.config.epochs` before `fit()`.
        """
        self.run = RunDir(run_dir)
        resume = config is None
        self.config = config = self._open_folder(config)
        keras.utils.set_random_seed(config.seed)
        self.images = load_images(config.data, config.resolution, config.seed,
                                  config.synthetic_size, config.cache_dir)
        self.train_count = len(self.images) - config.holdout
        # A step is n_critic D batches and one G batch; an epoch shows D every image once.
        self.images_per_step = config.batch_size * config.n_critic
        self.steps_per_epoch = self.train_count // self.images_per_step
        if self.steps_per_epoch <= 0:
            raise FaceganError(f"{self.train_count} training images ({len(self.images)} less "
                               f"{config.holdout} held out) are fewer than one step of "
                               f"{config.n_critic} x {config.batch_size}")
        self.gan, self.ema = make_gan(config)
        self.rng = np.random.default_rng(config.seed)
        # drawn by every process alike (their random states stay equal), kept on resume
        self.fixed_latents = self.rng.standard_normal((64, config.latent_dim), np.float32)
        if self.run.fixed_latents.exists():
            self.fixed_latents = np.load(self.run.fixed_latents)
        elif self.writer:
            np.save(self.run.fixed_latents, self.fixed_latents)

        self.step, self.wall_time = 0, 0.0
        self.history = History(self.run, self.steps_per_epoch, self.images_per_step,
                               config.log_every, self.writer)
        if resume and self.run.checkpoint.exists():
            self._restore_checkpoint()
        if self.writer:
            self.run.truncate_history(self.step)
        log.info("%d images (%d held out), %d steps per epoch, backend %s%s", len(self.images),
                 config.holdout, self.steps_per_epoch, keras.backend.backend(),
                 f", {process_count()} processes" if process_count() > 1 else "")

    def _open_folder(self, config):
        """Lock the run folder and return the run's config: `config` for a new run (refused
        where a run already is), else the one saved there. In a multi-process job
        (facegan.training.distribute) process 0 alone writes the folder."""
        if self.run.path.exists() and not self.run.path.is_dir():
            raise FaceganError(f"{self.run.path} is a file, not a run folder")
        resume = config is None
        if resume:
            config = TrainConfig(**self.run.read_config())
        check_steps_per_call(config)
        if config.minutes and process_count() > 1:
            raise FaceganError("--minutes needs a single process: each process's clock "
                               "would stop it at a different step")
        self.writer = process_index() == 0
        self.rows = local_rows(config.batch_size)  # this process's rows of every batch
        self.lock = RunLock(self.run.lock) if self.writer else NoLock()
        if self.writer:
            self.run.path.mkdir(parents=True, exist_ok=True)
        stale = self.lock.acquire()
        weakref.finalize(self, self.lock.release)
        if self.writer and not resume and self.run.config.exists():
            self.lock.release()
            raise FaceganError(f"{self.run.path} already holds a run; resume it with --resume "
                               f"{self.run.path} or choose another --out")
        if self.writer:
            self.run.attach_log()
        if stale:
            log.info("took over the stale lock of process %s, which no longer runs", stale)
        return config

    @property
    def total_steps(self):
        return self.config.epochs * self.steps_per_epoch

    def save_checkpoint(self):
        if not self.writer:  # process 0 writes it
            self.saved_step = self.step
            return
        model = {k: getattr(self.config, k) for k in MODEL_FIELDS}
        state = {"step": self.step, "wall_time": self._wall(), "rng": self.rng.bit_generator.state,
                 "interval": self.history.interval, "model": model}
        save_checkpoint(self.run.checkpoint, self.gan, state, self._extra_variables())
        self.saved_step = self.step

    def _restore_checkpoint(self):
        state = load_checkpoint(self.run.checkpoint, self.gan, self._extra_variables(),
                                dataclasses.asdict(self.config))
        self.step, self.wall_time = state["step"], state["wall_time"]
        self.rng.bit_generator.state = state["rng"]
        self.history.interval = state.get("interval", self.history.interval)
        log.info("resumed %s at step %d (epoch %d)", self.run.path, self.step,
                 self.step // self.steps_per_epoch + 1)

    def _extra_variables(self):
        """Checkpointed beside G, D and the optimizers: the EMA, the in-graph random states."""
        return {"generator_ema": self.ema.variables if self.ema else [],
                "random": getattr(self.gan, "random_state", [])}

    def _wall(self):
        return self.wall_time + time.perf_counter() - self._started

    @property
    def sampler(self):
        """The generator to sample: the weight average when the run keeps one. In a
        multi-process job, a copy on this process's devices (the trained one spans them all)."""
        return on_this_process(self.ema.model if self.ema else self.gan.generator)

    def samples(self):
        """The fixed latent grid through the sampling generator, as uint8 images."""
        return generate(self.sampler, self.fixed_latents)

    def _save_generators(self, path, ema_path):
        if not self.writer:
            return
        save_model(on_this_process(self.gan.generator), path)
        if self.ema:
            save_model(self.sampler, ema_path)

    def fit(self, on_epoch_end=None, verbose=1):
        """Train to `config.epochs`, checkpointing as it goes; on Ctrl-C, checkpoint and re-raise.

        on_epoch_end(trainer, epoch) is called after each epoch's grid and plots are written.
        Raises WorkFailed (one line) if training diverges or a write fails; the last good
        checkpoint is then intact and the run resumable.
        """
        check_steps_per_call(self.config)  # again: a resumed run may change steps_per_call
        self._started = time.perf_counter()
        self.saved_step = self.step
        self.lock.acquire()  # again, for a Trainer whose earlier fit() released it
        try:
            if self.config.tensorboard and self.writer:  # steps after the checkpoint are redone
                from facegan.training.tensorboard import TensorBoardLog

                self.history.tensorboard = TensorBoardLog(self.run.tensorboard,
                                                          resume_step=self.step + 1)
            with _interrupts_between_steps() as self._interrupted:
                if self.writer:
                    self.run.write_config(dataclasses.asdict(self.config))
                while self.step < self.total_steps and not self._out_of_time():
                    epoch = self.step // self.steps_per_epoch + 1
                    self._train_epoch(epoch, verbose)
                    if self.step % self.steps_per_epoch:  # --minutes ran out inside it
                        self.save_checkpoint()
                        break
                    self._end_epoch(epoch)
                    if on_epoch_end:
                        on_epoch_end(self, epoch)
                    self._stop_if_interrupted()
                if self.step < self.total_steps:
                    log.info("stopped at step %d: the limit of %g minutes is spent; --resume "
                             "%s with a larger --minutes goes on", self.step,
                             self.config.minutes, self.run.path)
                self._save_generators(self.run.generator, self.run.generator_ema)
        except KeyboardInterrupt:
            self.save_checkpoint()  # by process 0; the others stop at the same step
            log.info("interrupted at step %d; checkpoint saved", self.step)
            raise
        except OSError as error:
            raise WorkFailed(f"cannot write {error.filename or 'to the run folder'}: "
                             f"{error.strerror or error}; the checkpoint of step "
                             f"{self.saved_step} is intact: resume with --resume "
                             f"{self.run.path}") from None
        except WorkFailed as error:
            log.error("stopped: %s", error)
            raise WorkFailed(f"{error}; the checkpoint of step {self.saved_step} is "
                             f"intact") from None
        finally:
            self.wall_time = self._wall()  # a later fit() on this Trainer counts on from here
            self.history.close()
            self.lock.release()
        log.info("done: %d steps in %.0f s; generator saved to %s", self.step, self.wall_time,
                 self.run.generator)
        return self.run.path

    def _out_of_time(self):
        return self.config.minutes > 0 and self._wall() >= 60 * self.config.minutes

    def _stop_if_interrupted(self):
        if self._interrupted():
            raise KeyboardInterrupt

    def _step_inputs(self, order, b):
        """Step b's real batch and noise, drawn from the host generator."""
        cfg = self.config
        chunk = order[b * self.images_per_step:(b + 1) * self.images_per_step]
        batch = np.sort(chunk.reshape(cfg.n_critic, cfg.batch_size), axis=1).ravel()
        real = to_model_input(self.images[batch], self.rng if cfg.flip else None)
        z = self.rng.standard_normal((cfg.n_critic + 1, cfg.batch_size, cfg.latent_dim),
                                     np.float32)
        if process_count() > 1:  # this process's rows of each of the n_critic + 1 batches
            real = real.reshape(cfg.n_critic, cfg.batch_size, *real.shape[1:])[:, self.rows]
            real, z = real.reshape(-1, *real.shape[2:]), z[:, self.rows]
        return real, z[:-1].reshape(-1, cfg.latent_dim), z[-1]

    def _train_call(self, inputs):
        """One call's steps from their (real, z_for_d, z_for_g) inputs: their metrics in
        order, the EMA updated after each step. Several steps are stacked on a leading axis
        for train_steps; a single step is passed as it is (no copy on the hot path)."""
        if self.config.steps_per_call > 1:
            stacked = (np.stack(x) for x in zip(*inputs))
            return self.gan.train_steps(*stacked, self.ema, self.step)
        metrics = self.gan.train_step(*inputs[0])
        if self.ema:
            self.ema.update(self.step + 1)
        return [metrics]

    def _train_epoch(self, epoch, verbose):
        cfg, spe, per_call = self.config, self.steps_per_epoch, self.config.steps_per_call
        order = np.random.default_rng([cfg.seed, epoch]).permutation(self.train_count)
        self.history.start_epoch(self.step, verbose)
        start = self.step % spe
        while start < spe:
            # A call ends at a multiple of K, where checkpoints fall, or at the epoch's end.
            steps = range(start, min(spe, start + per_call - self.step % per_call))
            inputs = [self._step_inputs(order, b) for b in steps]  # drawn in step order
            results = self._train_call(inputs)
            self.history.timed(len(results))
            for metrics in results:
                self.step += 1
                self.history.add(self.step, metrics, self._wall)
            if self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
            self._stop_if_interrupted()
            if self._out_of_time():
                return
            start = steps.stop

    @functools.cached_property
    def evaluator(self):
        """The real side of every metric, computed once per run (facegan.metrics.evaluate)."""
        from facegan.metrics.evaluate import Evaluator

        cfg = self.config
        return Evaluator(self.images, n=cfg.eval_samples, holdout=cfg.holdout,
                         inception_weights=cfg.inception_weights, seed=cfg.seed)

    def evaluate(self, epoch):
        """Score the sampling generator; append to metrics.csv and re-plot metrics.png."""
        from facegan.metrics.evaluate import flat_row, plot_metrics

        row = flat_row(self.evaluator.score(self.sampler))
        self.history.add_metrics(self.step, epoch, row)
        plot_metrics(self.run.read_metrics(), self.run.metrics_plot,
                     title=f"{self.run.path.name}: metrics on {self.config.eval_samples} samples")
        log.info("epoch %d metrics: %s", epoch, ", ".join(f"{k} {v:.4g}" for k, v in row.items()))

    def _end_epoch(self, epoch):
        # Before anything is drawn or saved from them: a NaN that no loss shows (say in
        # BatchNorm's moving statistics, unused in training) stops the run here.
        check_finite(variable_groups(self.gan, self._extra_variables()),
                     f"ending epoch {epoch} at step {self.step}")
        if self.writer:
            self._write_epoch(epoch)
        self.save_checkpoint()
        self.history.flush()
        log.info("epoch %d/%d done at step %d", epoch, self.config.epochs, self.step)

    def _write_epoch(self, epoch):
        """The epoch's sample grid, loss plot, snapshot and scores, into the run folder."""
        samples = self.samples()
        save_grid(self.run.sample_grid(epoch), samples, columns=8)
        self.history.add_samples(self.step, samples)
        plot_losses(self.run.read_history(), self.run.loss_curves,
                    title=f"{self.run.path.name}: {self.config.resolution}x"
                          f"{self.config.resolution}, {self.config.loss}")
        if epoch % self.config.snapshot_every == 0:
            self.run.snapshots.mkdir(exist_ok=True)
            self._save_generators(self.run.snapshot(epoch), self.run.snapshot(epoch, ema=True))
        if self.config.eval_every and epoch % self.config.eval_every == 0:
            self.evaluate(epoch)


@contextlib.contextmanager
def _interrupts_between_steps():
    """Ctrl-C (SIGINT) takes effect between steps (between calls, with steps_per_call > 1),
    where the weights, the step counter and the random state agree, so the checkpoint saved
    on the way out resumes exactly. Yields a function that says whether Ctrl-C was pressed;
    a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    pressed = []

    def handler(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)


def train(run_dir, **settings):
    """Train a new GAN into `run_dir`; `settings` are TrainConfig fields. Returns the run path."""
    return Trainer(run_dir, TrainConfig(**settings)).fit()


def resume(run_dir, epochs=None):
    """Continue the run in `run_dir` from its checkpoint, optionally to more `epochs`."""
    trainer = Trainer(run_dir)
    trainer.config.epochs = epochs or trainer.config.epochs
    return trainer.fit()
