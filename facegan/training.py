"""The training loop: data order, logging, sample grids, checkpoints and resuming.

Everything random on the host comes from one NumPy generator whose state is checkpointed,
and each epoch's data order from (seed, epoch), so a resumed run continues exactly where
the checkpoint left it: at the same step, with the same fixed latent grid.
"""

import dataclasses
import functools
import logging
import time

import keras
import numpy as np

from facegan.data import load_images, to_model_input
from facegan.distribute import use_devices
from facegan.ema import GeneratorEMA
from facegan.errors import FaceganError
from facegan.fused import FusedGAN
from facegan.gan import GAN
from facegan.losses import get_loss
from facegan.networks import build_discriminator, build_generator
from facegan.plots import plot_losses, save_grid
from facegan.runs import RunDir, load_checkpoint, save_checkpoint
from facegan.sampling import generate

log = logging.getLogger("facegan")


def discriminator_normalization(config):
    """SNGAN's spectral norm if asked for; no BatchNorm under a per-sample gradient penalty."""
    if config.spectral_norm:
        return "spectral"
    return "none" if get_loss(config.loss).get("gradient_penalty") else "batch"


@dataclasses.dataclass
class TrainConfig:
    data: str = "synthetic"         # "synthetic", a CelebA zip, or a folder of images
    resolution: int = 64
    epochs: int = 5
    batch_size: int = 64
    latent_dim: int = 100
    base_channels: int = 64
    loss: str = "bce"               # bce, wgan-gp, hinge or lsgan (facegan.losses)
    spectral_norm: bool = False     # spectral normalisation in D, in place of its BatchNorm
    augment: str = ""               # DiffAugment policy in front of D: "color,translation,cutout"
    ema: float = 0.0                # decay of the generator's weight average (0: none)
    n_critic: int = 1               # D steps per G step, each on its own real batch
    gp_weight: float = 10.0         # weight of the gradient penalty (wgan-gp)
    step: str = "combined"          # "combined" (two combined models) or "fused" (one call)
    precision: str = "float32"      # or "mixed_bfloat16", "mixed_float16" (GPU)
    devices: int = 1                # data-parallel devices (jax backend)
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    label_smoothing: float = 0.0    # one-sided: real targets become 1 - label_smoothing
    flip: bool = True               # random horizontal flips of real images
    seed: int = 0
    synthetic_size: int = 4096      # faces drawn when data is "synthetic"
    holdout: int = 0                # last N images never trained on (memorisation checks)
    log_every: int = 20             # steps per history row
    checkpoint_every: int = 500     # steps; also at every epoch end
    snapshot_every: int = 10        # epochs per saved generator snapshot
    cache_dir: str | None = None    # where decoded images are cached (default ~/.cache/facegan)
    eval_every: int = 0             # epochs per metrics.csv row (0: never)
    eval_samples: int = 1000        # generated samples per evaluation
    inception_weights: str | None = None  # FID/KID weights file; else Keras' cache if there


class Trainer:
    """Owns one run: its config, data, networks and folder. `fit()` trains to `epochs`."""

    def __init__(self, run_dir, config=None):
        """A new run from `config`, or with no config the run in `run_dir` resumed.

        To train a resumed run longer, raise `trainer.config.epochs` before `fit()`.
        """
        self.run = RunDir(run_dir)
        resume = config is None
        if resume:
            config = TrainConfig(**self.run.read_config())
        elif self.run.config.exists():
            raise FaceganError(f"{self.run.path} already holds a run; resume it with --resume "
                               f"{self.run.path} or choose another --out")
        self.config = config
        self.run.path.mkdir(parents=True, exist_ok=True)
        self.run.attach_log()

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
        keras.config.set_dtype_policy(config.precision)
        use_devices(config.devices, config.batch_size)
        self.gan = (FusedGAN if config.step == "fused" else GAN)(
            build_generator(config.resolution, config.latent_dim, config.base_channels),
            build_discriminator(config.resolution, config.base_channels,
                                discriminator_normalization(config)),
            loss=config.loss, learning_rate=config.learning_rate, beta_1=config.beta_1,
            label_smoothing=config.label_smoothing, augment=config.augment,
            n_critic=config.n_critic, gp_weight=config.gp_weight,
        )
        self.ema = GeneratorEMA(self.gan.generator, config.ema) if config.ema else None
        self.rng = np.random.default_rng(config.seed)
        if self.run.fixed_latents.exists():
            self.fixed_latents = np.load(self.run.fixed_latents)
        else:
            self.fixed_latents = self.rng.standard_normal((64, config.latent_dim), np.float32)
            np.save(self.run.fixed_latents, self.fixed_latents)

        self.step, self.wall_time = 0, 0.0
        if resume and self.run.checkpoint.exists():
            state = load_checkpoint(self.run.checkpoint, self.gan, self._extra_variables())
            self.step, self.wall_time = state["step"], state["wall_time"]
            self.rng.bit_generator.state = state["rng"]
            log.info("resumed %s at step %d (epoch %d)", self.run.path, self.step,
                     self.step // self.steps_per_epoch + 1)
        self.run.truncate_history(self.step)
        log.info("%d images (%d held out), %d steps per epoch, backend %s", len(self.images),
                 config.holdout, self.steps_per_epoch, keras.backend.backend())

    @property
    def total_steps(self):
        return self.config.epochs * self.steps_per_epoch

    def save_checkpoint(self):
        state = {"step": self.step, "wall_time": self._wall(), "rng": self.rng.bit_generator.state}
        save_checkpoint(self.run.checkpoint, self.gan, state, self._extra_variables())

    def _extra_variables(self):
        """Checkpointed beside G, D and the optimizers: the EMA, the in-graph random states."""
        return {"generator_ema": self.ema.variables if self.ema else [],
                "random": getattr(self.gan, "random_state", [])}

    def _wall(self):
        return self.wall_time + time.perf_counter() - self._started

    @property
    def sampler(self):
        """The generator to sample: the weight average when the run keeps one."""
        return self.ema.model if self.ema else self.gan.generator

    def samples(self):
        """The fixed latent grid through the sampling generator, as uint8 images."""
        return generate(self.sampler, self.fixed_latents)

    def _save_generators(self, path, ema_path):
        self.gan.generator.save(path)
        if self.ema:
            self.ema.model.save(ema_path)

    def fit(self, on_epoch_end=None, verbose=1):
        """Train to `config.epochs`, checkpointing as it goes; on Ctrl-C, checkpoint and re-raise.

        on_epoch_end(trainer, epoch) is called after each epoch's grid and plots are written.
        """
        self._started = time.perf_counter()
        self.run.write_config(dataclasses.asdict(self.config))
        try:
            while self.step < self.total_steps:
                epoch = self.step // self.steps_per_epoch + 1
                self._train_epoch(epoch, verbose)
                self._end_epoch(epoch)
                if on_epoch_end:
                    on_epoch_end(self, epoch)
        except KeyboardInterrupt:
            self.save_checkpoint()
            log.info("interrupted at step %d; checkpoint saved", self.step)
            raise
        self._save_generators(self.run.generator, self.run.generator_ema)
        log.info("done: %d steps in %.0f s; generator saved to %s", self.step, self._wall(),
                 self.run.generator)
        return self.run.path

    def _train_epoch(self, epoch, verbose):
        cfg, spe = self.config, self.steps_per_epoch
        order = np.random.default_rng([cfg.seed, epoch]).permutation(self.train_count)
        progbar = keras.utils.Progbar(spe, verbose=verbose,
                                      stateful_metrics=["d_loss", "g_loss", "img/s"])
        sums, count, interval_start = {}, 0, time.perf_counter()
        first = self.step % spe
        progbar.update(first)
        for b in range(first, spe):
            chunk = order[b * self.images_per_step:(b + 1) * self.images_per_step]
            batch = np.sort(chunk.reshape(cfg.n_critic, cfg.batch_size), axis=1).ravel()
            real = to_model_input(self.images[batch], self.rng if cfg.flip else None)
            z = self.rng.standard_normal((cfg.n_critic + 1, cfg.batch_size, cfg.latent_dim),
                                         np.float32)
            metrics = self.gan.train_step(real, z[:-1].reshape(-1, cfg.latent_dim), z[-1])
            self.step += 1
            if self.ema:
                self.ema.update(self.step)
            count += 1
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
            if self.step % cfg.log_every == 0 or b == spe - 1:
                now = time.perf_counter()
                speed = count * self.images_per_step / (now - interval_start)
                row = {k: v / count for k, v in sums.items()}
                self.run.append_history({"step": self.step, "epoch": epoch, **row,
                                         "images_per_sec": speed, "wall_time": self._wall()})
                progbar.update(b + 1, [("d_loss", row["d_loss"]), ("g_loss", row["g_loss"]),
                                       ("img/s", speed)])
                sums, count, interval_start = {}, 0, now
            if self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()

    @functools.cached_property
    def evaluator(self):
        """The real side of every metric, computed once per run (facegan.evaluate)."""
        from facegan.evaluate import Evaluator

        cfg = self.config
        return Evaluator(self.images, n=cfg.eval_samples, holdout=cfg.holdout,
                         inception_weights=cfg.inception_weights, seed=cfg.seed)

    def evaluate(self, epoch):
        """Score the sampling generator; append to metrics.csv and re-plot metrics.png."""
        from facegan.evaluate import flat_row, plot_metrics

        row = flat_row(self.evaluator.score(self.sampler))
        self.run.append_metrics({"step": self.step, "epoch": epoch, **row})
        plot_metrics(self.run.read_metrics(), self.run.metrics_plot,
                     title=f"{self.run.path.name}: metrics on {self.config.eval_samples} samples")
        log.info("epoch %d metrics: %s", epoch, ", ".join(f"{k} {v:.4g}" for k, v in row.items()))

    def _end_epoch(self, epoch):
        save_grid(self.run.sample_grid(epoch), self.samples(), columns=8)
        plot_losses(self.run.read_history(), self.run.loss_curves,
                    title=f"{self.run.path.name}: {self.config.resolution}x"
                          f"{self.config.resolution}, {self.config.loss}")
        if epoch % self.config.snapshot_every == 0:
            self.run.snapshots.mkdir(exist_ok=True)
            self._save_generators(self.run.snapshot(epoch), self.run.snapshot(epoch, ema=True))
        if self.config.eval_every and epoch % self.config.eval_every == 0:
            self.evaluate(epoch)
        self.save_checkpoint()
        log.info("epoch %d/%d done at step %d", epoch, self.config.epochs, self.step)


def train(run_dir, **settings):
    """Train a new GAN into `run_dir`; `settings` are TrainConfig fields. Returns the run path."""
    return Trainer(run_dir, TrainConfig(**settings)).fit()


def resume(run_dir, epochs=None):
    """Continue the run in `run_dir` from its checkpoint, optionally to more `epochs`."""
    trainer = Trainer(run_dir)
    trainer.config.epochs = epochs or trainer.config.epochs
    return trainer.fit()
