"""Diversity and memorisation, in pixel space: they need no weights, so they mean the same
offline and online."""

import cv2
import numpy as np

from facegan.errors import FaceganError
from facegan.metrics.features import Features

PIXEL_SIZE = 32
PIXEL_EXTRACTOR = "pixels32: RGB area-downsampled to 32x32, RMS distance in [0, 1]"
PIXEL_SAMPLES = 2000  # pairwise costs grow as n^2 and n * N_train


def pixel_features(images):
    """uint8 (N, R, R, 3) -> float32 (N, 3072) whose L2 distances are RMS pixel differences.

    32x32 keeps faces recognisable (a copy stays a copy) while ignoring pixel noise.
    """
    out = np.empty((len(images), PIXEL_SIZE * PIXEL_SIZE * 3), np.float32)
    for i, image in enumerate(images):
        small = cv2.resize(np.ascontiguousarray(image), (PIXEL_SIZE, PIXEL_SIZE),
                           interpolation=cv2.INTER_AREA)
        out[i] = small.reshape(-1)
    return out / np.float32(255 * np.sqrt(out.shape[1]))


def pairwise_distances(a, b):
    """Euclidean distances (len(a), len(b)) between feature rows."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(squared, 0, None))


def spread(features):
    """(mean pairwise distance, mean distance to the nearest other sample) within one set."""
    n = len(features)
    if n < 2:
        raise FaceganError(f"diversity needs at least 2 samples, got {n}")
    d = pairwise_distances(features, features)
    np.fill_diagonal(d, 0)
    mean_pairwise = d.sum() / (n * (n - 1))
    np.fill_diagonal(d, np.inf)
    return float(mean_pairwise), float(d.min(1).mean())


def diversity(generated, real):
    """Generated vs real spread, on equally many features of each (nearest-neighbour
    distances shrink as a set grows, so sizes must match).

    value: mean pairwise distance ratio; falls towards 0 when G collapses to one face.
    nearest_neighbour: ratio of mean distances to the nearest other sample; falls when G
    collapses to a few faces or repeats itself, which a pairwise mean can miss.
    About 1 for a generator as varied as the data.
    """
    n = min(len(generated), len(real))
    gen_pairwise, gen_nn = spread(generated[:n])
    real_pairwise, real_nn = spread(real[:n])
    return {"value": gen_pairwise / real_pairwise, "nearest_neighbour": gen_nn / real_nn,
            "generated": gen_pairwise, "real": real_pairwise, "n": n,
            "extractor": PIXEL_EXTRACTOR}


def nearest_training_distances(images, training_batches):
    """Each image's pixel distance to its nearest training image, mirror images included
    (training flips faces, so a memorised face can come out mirrored).

    `training_batches` yields uint8 batches of the training set: memory stays flat for any
    training set size.
    """
    n = len(images)
    queries = np.concatenate([pixel_features(images), pixel_features(np.asarray(images)[:, :, ::-1])])
    best = np.full(len(queries), np.inf, np.float32)
    for batch in training_batches:
        best = np.minimum(best, pairwise_distances(queries, pixel_features(batch)).min(1))
    return best.reshape(2, n).min(0)


NEAR_COPY_QUANTILE = 0.01  # "near copy": closer to a training image than 99% of unseen faces
FLAG_FRACTION = 0.05       # flag at 5x the near-copy rate of unseen real faces
MIN_HOLDOUT = round(1 / NEAR_COPY_QUANTILE)


def memorisation(generated_nn, holdout_nn):
    """Does G reproduce training images? Compares nearest-training-image distances of
    generated samples with those of held-out real faces, which show how close an unseen face
    comes to the training set by chance.

    value (near copies): fraction of generated samples nearer to a training image than the
    closest 1% of held-out faces; about 0.01 for a generator that does not copy, 1 for one
    that does; flagged above 0.05. This, not a ratio of typical distances, is the flag:
    bland or blurry samples sit near the data's mean and so near many training images
    without copying any.
    median_ratio: median generated distance / median held-out distance, for context.
    """
    if len(holdout_nn) < MIN_HOLDOUT:
        raise FaceganError(f"memorisation needs at least {MIN_HOLDOUT} held-out images, got "
                           f"{len(holdout_nn)}")
    if len(generated_nn) < 2:
        raise FaceganError(f"memorisation needs at least 2 generated samples, got {len(generated_nn)}")
    threshold = float(np.quantile(holdout_nn, NEAR_COPY_QUANTILE))
    near_copies = float(np.mean(generated_nn < threshold))
    return {"value": near_copies, "real": NEAR_COPY_QUANTILE, "flagged": near_copies > FLAG_FRACTION,
            "median_ratio": float(np.median(generated_nn) / np.median(holdout_nn)),
            "generated_median": float(np.median(generated_nn)),
            "holdout_median": float(np.median(holdout_nn)), "threshold": threshold,
            "n": len(generated_nn), "n_holdout": len(holdout_nn), "extractor": PIXEL_EXTRACTOR}


class PixelSample(Features):
    """The first PIXEL_SAMPLES images of a set (a random subset: sets come in random order)."""

    def start(self):
        return []

    def update(self, kept, batch):
        room = PIXEL_SAMPLES - sum(len(k) for k in kept)
        if room > 0:
            kept.append(batch[:room])

    def result(self, kept):
        return np.concatenate(kept)


class HeldOutDistances(PixelSample):
    """A pixel sample of generated sets; on the real side, the held-out faces' distances to
    the training set, the chance level that memorisation compares generated faces with."""

    def __init__(self, evaluator):
        super().__init__(evaluator)
        if evaluator.holdout == 0:
            raise FaceganError("memorisation needs held-out images: pass --holdout N, the "
                               "number of images the run kept out of training")
        if evaluator.holdout < MIN_HOLDOUT:
            raise FaceganError(f"memorisation needs at least {MIN_HOLDOUT} held-out images, got "
                               f"{evaluator.holdout}")

    def real(self, batches):
        return nearest_training_distances(self.evaluator.held_out(),
                                          self.evaluator.training_batches())


def score_diversity(family, generated, real):
    return diversity(pixel_features(generated), pixel_features(real))


def score_memorisation(family, generated, holdout_nn):
    generated_nn = nearest_training_distances(generated, family.evaluator.training_batches())
    return memorisation(generated_nn, holdout_nn)
