"""Scoring generators against a real image set: the routine behind `facegan evaluate`,
`--eval-every` during training, and the notebooks.

An `Evaluator` computes the real side of every metric once (Inception statistics, the real
face rate and spread, held-out faces' distances to the training set), then scores any
number of generators or image sets against it, streaming samples in batches so that 50k
samples need no more memory than a few thousand.
"""

import math

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

from facegan import metrics as M
from facegan.errors import FaceganError
from facegan.inception import InceptionExtractor, weights_available
from facegan.metrics import METRICS
from facegan.plots import save_figure
from facegan.sampling import generate, latents

MIN_SAMPLES = {"fid": 2, "kid": 2, "face_rate": 1, "diversity": 2, "memorisation": 2}
PIXEL_SAMPLES = 2000   # diversity and memorisation: pairwise costs grow as n^2 and n * N_train
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
KID_POOL = 10000       # features kept per set for KID's subsets (80 MB), however large n is


def default_metrics(holdout=0, inception_weights=None):
    """The metrics that can run here: always diversity, face rate where OpenCV has its Haar
    cascade, memorisation when at least 100 images are held out, FID and KID when the
    Inception weights need no download."""
    enough_held_out = holdout >= 1 / M.NEAR_COPY_QUANTILE
    names = (["face_rate"] if M.face_detector_available() else []) + ["diversity"]
    names += ["memorisation"] if enough_held_out else []
    if weights_available(inception_weights or "imagenet"):
        names += ["fid", "kid"]
    return names


class Evaluator:
    """Scores generators against `images` (uint8 (N, R, R, 3), an array or CachedImages).

    The last `holdout` images are held-out faces (never trained on): memorisation compares
    generated samples with them; every other metric uses the remaining training images.
    `n` samples are drawn per score (at most `PIXEL_SAMPLES` of them for diversity and
    memorisation); real references use up to `n` training images chosen with `seed`.
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
        if "memorisation" in metrics and holdout == 0:
            raise FaceganError("memorisation needs held-out images: pass --holdout N, the "
                               "number of images the run kept out of training")
        if "memorisation" in metrics and holdout < 1 / M.NEAR_COPY_QUANTILE:
            raise FaceganError(f"memorisation needs at least {round(1 / M.NEAR_COPY_QUANTILE)} "
                               f"held-out images, got {holdout}")
        self.images, self.metrics, self.n = images, metrics, n
        self.holdout, self.seed, self.batch_size = holdout, seed, batch_size
        self.resolution = tuple(images.shape[1:3])
        self.train_count = len(images) - holdout
        n_real = min(n, self.train_count)
        self._check_count(n_real, "real")
        self._check_count(n, "generated")
        rng = np.random.default_rng(seed)
        # random order, not sorted: the first PIXEL_SAMPLES and KID_POOL are a random subset too
        self.real_indices = rng.choice(self.train_count, n_real, replace=False)
        self.inception = (InceptionExtractor(inception_weights or "imagenet")
                          if {"fid", "kid"} & set(metrics) else None)
        self.real = self._measure(self._batches(self.real_indices))
        if "memorisation" in metrics:
            held_out = self.images[np.arange(self.train_count, len(images))]
            self.holdout_nn = M.nearest_training_distances(held_out, self._training_batches())

    def _check_count(self, count, kind):
        for name in self.metrics:
            if count < MIN_SAMPLES[name]:
                raise FaceganError(f"{name} needs at least {MIN_SAMPLES[name]} samples, got "
                                   f"{count} {kind}")

    def _check_size(self, size, source):
        if tuple(size) != self.resolution:
            raise FaceganError(f"{source} {size[0]}x{size[1]} images but the data is "
                               f"{self.resolution[0]}x{self.resolution[1]}")

    def _batches(self, indices, batch_size=None):
        batch_size = batch_size or self.batch_size
        for start in range(0, len(indices), batch_size):
            yield self.images[indices[start:start + batch_size]]

    def _training_batches(self):
        return self._batches(np.arange(self.train_count), 2048)

    def _measure(self, batches):
        """One pass over uint8 batches: everything each metric needs from this set."""
        keep_kid = KID_POOL if "kid" in self.metrics else 0
        stats = M.FeatureStats(keep=keep_kid) if self.inception else None
        faces, count, pixels = 0, 0, []
        for batch in batches:
            count += len(batch)
            if stats:
                stats.update(self.inception(batch))
            if "face_rate" in self.metrics:
                faces += int(M.detect_faces(batch).sum())
            room = PIXEL_SAMPLES - sum(len(p) for p in pixels)
            if room > 0:
                pixels.append(batch[:room])
        return {"count": count, "stats": stats, "face_rate": faces / max(count, 1),
                "pixels": np.concatenate(pixels)}

    def score_images(self, images):
        """Score a uint8 image set (a real baseline, or faces made elsewhere)."""
        self._check_size(images.shape[1:3], "these are")
        self._check_count(len(images), "images")
        return self._score(self._measure(images[i:i + self.batch_size]
                                         for i in range(0, len(images), self.batch_size)))

    def score(self, generator, seed=None):
        """Score `n` samples of `generator` from seeded latents (the same faces every call)."""
        self._check_size(generator.output_shape[1:3], "the generator makes")
        z = latents(self.n, generator.input_shape[-1], self.seed if seed is None else seed)
        return self._score(self._measure(generate(generator, z[i:i + self.batch_size])
                                         for i in range(0, self.n, self.batch_size)))

    def _score(self, fake):
        real, results = self.real, {}
        counts = {"n": fake["count"], "n_real": real["count"]}
        if "fid" in self.metrics:
            results["fid"] = {"value": M.fid(fake["stats"], real["stats"]), **counts,
                              "extractor": self.inception.name}
        if "kid" in self.metrics:
            mean, std = M.kid(fake["stats"].kept, real["stats"].kept, KID_SUBSETS,
                              KID_SUBSET_SIZE, self.seed)
            results["kid"] = {"value": mean, "std": std, "subsets": KID_SUBSETS,
                              "subset_size": min(KID_SUBSET_SIZE, len(fake["stats"].kept),
                                                 len(real["stats"].kept)),
                              **counts, "extractor": self.inception.name}
        if "face_rate" in self.metrics:
            results["face_rate"] = {"value": fake["face_rate"], "real": real["face_rate"],
                                    **counts, "extractor": M.FACE_DETECTOR}
        if "diversity" in self.metrics:
            results["diversity"] = M.diversity(M.pixel_features(fake["pixels"]),
                                               M.pixel_features(real["pixels"]))
        if "memorisation" in self.metrics:
            generated_nn = M.nearest_training_distances(fake["pixels"], self._training_batches())
            results["memorisation"] = M.memorisation(generated_nn, self.holdout_nn)
        return results


def evaluate(generator, images, **settings):
    """Score one generator against `images`; `settings` are Evaluator's."""
    return Evaluator(images, **settings).score(generator)


def score_snapshots(run_dir, n=1000, metrics=None, inception_weights=None):
    """Score every snapshot of a run (and its final generator) into the run's metrics.csv
    and metrics.png: the metrics-over-training record of a run trained without --eval-every."""
    from facegan.data import load_images
    from facegan.gallery import snapshots
    from facegan.runs import RunDir
    from facegan.sampling import load_generator

    run = RunDir(run_dir)
    config = run.read_config()
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
        real, details = "", f"n={r['n']}"
        if name == "fid":
            details += f", {r['n_real']} real"
        elif name == "kid":
            details = f"std {r['std']:.4f} over {r['subsets']} subsets of {r['subset_size']}"
        elif name == "face_rate":
            real = f"{r['real']:.3f}"
        elif name == "diversity":
            real = "1"
            details += (f", mean distance {r['generated']:.4f} vs real {r['real']:.4f}, "
                        f"nearest-neighbour ratio {r['nearest_neighbour']:.3f}")
        elif name == "memorisation":
            real = f"{r['real']:.3f}"
            details += (f" vs {r['n_holdout']} held-out, flag > {M.FLAG_FRACTION}"
                        f"{': FLAGGED' if r['flagged'] else ''}, median nearest training "
                        f"image {r['generated_median']:.4f} vs held-out {r['holdout_median']:.4f}")
        value = f"{r['value']:.4f}" if name == "kid" else f"{r['value']:.3f}"
        rows.append((name, value, real, details, r["extractor"]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4]
                     for row in rows)


def flat_row(results):
    """Results as one CSV row: fid, kid, kid_std, face_rate, face_rate_real, ..."""
    row = {}
    for name, r in results.items():
        row[name] = r["value"]
        for key in ("std", "real", "nearest_neighbour", "median_ratio"):
            if key in r and not (name == "diversity" and key == "real"):  # a distance, not a rate
                row[f"{name}_{key}"] = r[key]
    return row


PLOTTED = {"fid": "FID (lower is better)", "kid": "KID (lower is better)",
           "face_rate": "face-detection rate", "diversity": "diversity (1 = as varied as data)",
           "memorisation": "near copies of training images (fraction)"}


def plot_metrics(table, path=None, title="Metrics during training"):
    """One panel per metric against epoch, with the real-data reference dashed."""
    names = [name for name in PLOTTED if name in table]
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        ax.plot(table["epoch"], table[name], marker="o", label="generated")
        if f"{name}_real" in table:
            ax.plot(table["epoch"], table[f"{name}_real"], "--", color="gray", label="real")
        elif name == "diversity":
            ax.axhline(1.0, ls="--", color="gray", label="real")
        if f"{name}_nearest_neighbour" in table:
            ax.plot(table["epoch"], table[f"{name}_nearest_neighbour"], marker=".",
                    label="nearest-neighbour ratio")
        ax.set(xlabel="epoch", ylabel=name, title=PLOTTED[name])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(title)
    return save_figure(fig, path, close=True)
