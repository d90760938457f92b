"""FID, KID, precision and recall on the reference Inception features, computed by
torch-fidelity's own functions (facegan.metrics.reference): a number here is the number
that library gives for the same images, settings and weights.

Real features are cached on disk per real image content (data set, resolution, the images
chosen) and extractor (library version, weights): a run's repeated `--eval-every`
evaluations and repeated `facegan evaluate` calls extract them once.
"""

import hashlib
import os

import numpy as np

from facegan.data.images import default_cache_dir
from facegan.metrics.features import Features
from facegan.metrics.reference import Reference

KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # Binkowski et al. 2018, torch-fidelity's defaults
PR_NEIGHBOURS = 3                         # k of the k-NN radii (Kynkaanniemi et al. 2019)
CACHE_VERSION = 1


class InceptionFeatures(Features):
    """Every image's pool3 features, float32 (N, 2048): 8 KB a sample. Precision and recall
    are computed together once per generated set."""

    def __init__(self, evaluator):
        super().__init__(evaluator)
        self.reference = Reference(evaluator.inception_weights)
        self._precision_recall = (None, None)

    def start(self):
        return []

    def update(self, features, batch):
        features.append(self.reference.features(batch))

    def result(self, features):
        return np.concatenate(features)

    def real(self, batches):
        """Read from the disk cache when these real images met these weights before."""
        digest = hashlib.sha256(f"{CACHE_VERSION}|{self.reference.fingerprint}".encode())
        for batch in batches():
            batch = np.ascontiguousarray(batch)
            digest.update(f"{batch.shape}".encode())
            digest.update(batch.data)
        path = default_cache_dir() / "inception" / f"real-{digest.hexdigest()[:24]}.npy"
        if path.exists():
            return np.load(path)
        real = self.measure(batches())
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, real)
        os.replace(partial, path)  # atomic: an interrupted run never leaves half a cache
        return real

    def precision_recall(self, generated, real):
        if self._precision_recall[0] is not generated:
            self._precision_recall = (generated, self.reference.precision_recall(
                generated, real, PR_NEIGHBOURS))
        return self._precision_recall[1]


def _counts(family, real):
    return {"n_real": len(real), "extractor": family.reference.name}


def fid(family, generated, real):
    return {"value": family.reference.fid(generated, real), **_counts(family, real)}


def kid(family, generated, real):
    size = min(KID_SUBSET_SIZE, len(generated), len(real))
    mean, std = family.reference.kid(generated, real, KID_SUBSETS, size, family.evaluator.seed)
    return {"value": mean, "std": std, "subsets": KID_SUBSETS, "subset_size": size,
            **_counts(family, real)}


def precision(family, generated, real):
    return {"value": family.precision_recall(generated, real)[0], "k": PR_NEIGHBOURS,
            **_counts(family, real)}


def recall(family, generated, real):
    return {"value": family.precision_recall(generated, real)[1], "k": PR_NEIGHBOURS,
            **_counts(family, real)}
