"""What a generator learned and what it dropped, read by the attribute classifier.

Two measures, both offline (the classifier ships with the project) and specific to faces:

- attribute coverage: how often each of CelebA's 40 attributes shows on generated faces
  beside real ones. Frequencies are the classifier's mean probabilities (the expected share
  of faces with the attribute), on real faces too, so that both sides are read by the same
  instrument and its errors cancel. The summary is the mean absolute difference over the
  attributes (0 for identical sets; 0.05 = five points per attribute on average); an
  attribute that generated faces show at less than half its real rate is called dropped.
- attribute Frechet distance: FID's formula on the classifier's 256-d penultimate features
  in place of Inception's, so it weighs what the classifier attends to (hair, glasses,
  expression, age, sex) rather than ImageNet objects.

`AttributeFeatures`, `score_coverage` and `score_fd` plug both into `facegan.metrics`'
registry; importing this module does not import Keras.
"""

import cv2
import matplotlib.pyplot as plt
import numpy as np

from facegan.errors import FaceganError
from facegan.figures.plots import save_figure
from facegan.metrics.features import Features
from facegan.networks import pretrained

CLASSIFIER = "attributes64"  # attribute_classifier.SHIPPED, which the registry reads with
DROPPED_RATIO = 0.5     # generated rate below half the real one: a dropped mode
DROPPED_MIN_RATE = 0.02  # ...of an attribute at least this common among real faces


def frequencies(x):
    """(N, A) probabilities or booleans -> (A,) share of faces with each attribute; an (A,)
    vector is taken as frequencies already."""
    x = np.asarray(x, np.float64)
    return x if x.ndim == 1 else x.mean(axis=0)


def attribute_coverage(generated, real, names):
    """Attribute frequencies of generated faces beside real ones, and their summary.

    generated, real: (N, A) classifier probabilities (or labels), or (A,) frequencies.
    value: mean over attributes of |generated - real| frequency.
    """
    gen, ref = frequencies(generated), frequencies(real)
    if gen.shape != ref.shape or gen.shape != (len(names),):
        raise FaceganError(f"coverage needs {len(names)} attribute frequencies per side, got "
                           f"{gen.shape[-1]} generated and {ref.shape[-1]} real")
    difference = gen - ref
    dropped = (ref >= DROPPED_MIN_RATE) & (gen < DROPPED_RATIO * ref)
    largest = int(np.argmax(np.abs(difference)))
    return {"value": float(np.abs(difference).mean()),
            "generated": dict(zip(names, gen.round(4).tolist())),
            "real": dict(zip(names, ref.round(4).tolist())),
            "largest": {"attribute": names[largest], "difference": float(difference[largest])},
            "dropped": [name for name, d in zip(names, dropped) if d]}


class FeatureMoments:
    """Running mean and covariance of features fed batch by batch: float64 sums of x and
    x x^T, so a set of any size costs two (F,) and (F, F) arrays."""

    def __init__(self):
        self.n, self.sum, self.outer = 0, 0.0, 0.0

    def update(self, features):
        features = np.asarray(features, np.float64)
        self.n += len(features)
        self.sum = self.sum + features.sum(axis=0)
        self.outer = self.outer + features.T @ features
        return self

    def mean_cov(self):
        if self.n < 2:
            raise FaceganError(f"a covariance needs at least 2 samples, got {self.n}")
        mean = self.sum / self.n
        return mean, (self.outer - self.n * np.outer(mean, mean)) / (self.n - 1)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^1/2), the Frechet distance of two Gaussians.

    tr (S1 S2)^1/2 is the sum of the square roots of the eigenvalues of the symmetric
    S1^1/2 S2 S1^1/2 (similar to S1 S2): real and stable even for singular covariances,
    where sqrtm of S1 S2 returns complex parts.
    """
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = np.asarray(mu1) - np.asarray(mu2)
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean
    return max(float(value), 0.0)  # rounding can leave -1e-12 for identical statistics


def attribute_fd(generated, real):
    """Frechet distance between two feature sets: (N, F) arrays or `FeatureMoments`."""
    moments = [features if isinstance(features, FeatureMoments)
               else FeatureMoments().update(features) for features in (generated, real)]
    return frechet_distance(*moments[0].mean_cov(), *moments[1].mean_cov())


class AttributeStats:
    """One pass of the classifier over a set of faces, fed in uint8 batches: the running
    sum of its probabilities (coverage) and its feature moments (Frechet distance)."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.features = FeatureMoments()
        self.probability_sum = np.zeros(len(classifier.names))

    @property
    def n(self):
        return self.features.n

    def update(self, images):
        features, probabilities = self.classifier(images)
        self.features.update(features)
        self.probability_sum += probabilities.sum(axis=0)
        return self

    def frequencies(self):
        return self.probability_sum / max(self.n, 1)


def measure(batches, classifier):
    """AttributeStats of uint8 image batches (a generator's samples, or real images)."""
    stats = AttributeStats(classifier)
    for batch in batches:
        stats.update(batch)
    return stats


def extractor(classifier, what):
    return f"attribute classifier {classifier.name} at {classifier.resolution}px, {what}"


def coverage_result(fake, real):
    """`attribute_coverage` of two AttributeStats, with counts and the instrument named."""
    result = attribute_coverage(fake.frequencies(), real.frequencies(), fake.classifier.names)
    return {**result, "n": fake.n, "n_real": real.n,
            "extractor": extractor(fake.classifier, f"mean probabilities of "
                                                    f"{len(fake.classifier.names)} attributes")}


def fd_result(fake, real):
    """`attribute_fd` of two AttributeStats, with counts and the instrument named."""
    return {"value": attribute_fd(fake.features, real.features), "n": fake.n, "n_real": real.n,
            "extractor": extractor(fake.classifier,
                                   f"{fake.classifier.feature_dim}-d penultimate features")}


def available(holdout=0, inception_weights=None):
    """Whether the registry's attribute measures can run: the classifier is shipped."""
    return (pretrained.PRETRAINED_DIR / f"{CLASSIFIER}.keras").is_file()


class AttributeFeatures(Features):
    """The registry's feature family: the classifier's probabilities and features of a set
    (the classifier is loaded once per Evaluator)."""

    def __init__(self, evaluator):
        from facegan.editing.attribute_classifier import load_classifier

        super().__init__(evaluator)
        self.classifier = load_classifier(f"pretrained:{CLASSIFIER}")

    def start(self):
        return AttributeStats(self.classifier)

    def update(self, stats, batch):
        stats.update(batch)

    def result(self, stats):
        return stats


def score_coverage(family, generated, real):
    return coverage_result(generated, real)


def score_fd(family, generated, real):
    return fd_result(generated, real)


def coverage_details(result):
    """The registry's one-line details of a coverage result."""
    largest = result["largest"]
    return (f"n={result['n']}, {result['n_real']} real; largest difference "
            f"{largest['attribute']} {largest['difference']:+.3f}; dropped: "
            f"{', '.join(result['dropped']) or 'none'}")


def blurred(images, sigma):
    """uint8 faces blurred by a Gaussian of `sigma` pixels: a reference for "worse"."""
    return np.stack([cv2.GaussianBlur(np.ascontiguousarray(face), (0, 0), sigma)
                     for face in images])


def noised(images, std, seed=0):
    """uint8 faces with Gaussian pixel noise of `std` grey levels: a reference for "worse"."""
    noise = np.random.default_rng(seed).normal(0, std, np.shape(images))
    return np.clip(np.rint(np.asarray(images) + noise), 0, 255).astype(np.uint8)


def plot_coverage(frequencies_by_set, real, names, path=None, title=None):
    """Horizontal bars per attribute, most common among real faces at the top: real faces
    (grey) beside each set of generated faces in `frequencies_by_set` ({label: (A,)})."""
    real = frequencies(real)
    order = np.argsort(real)
    sets = list(frequencies_by_set.items())
    height = 0.8 / (len(sets) + 1)
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(names) + 1.5))
    y = np.arange(len(names))
    ax.barh(y + len(sets) * height / 2, real[order], height, color="0.6", label="real faces")
    for i, (label, values) in enumerate(sets):
        offset = (len(sets) / 2 - 1 - i) * height
        ax.barh(y + offset, frequencies(values)[order], height, label=label)
    ax.set_yticks(y, [names[i] for i in order], fontsize=8)
    ax.set(xlabel="share of faces with the attribute (classifier's mean probability)",
           ylim=(-0.6, len(names) - 0.4), xlim=(0, 1),
           title=title or "Attribute coverage: generated beside real faces")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    return save_figure(fig, path)
