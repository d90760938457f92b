"""Attribute directions in a generator's latent space, and faces moved along them.

A generator never sees a label, yet faces that smile tend to come from one side of its latent
space. So: sample many latents, let the attribute classifier label their faces, and fit a
linear classifier on z per attribute; the normal of its boundary, w / |w|, is the attribute's
direction. Moving a latent by `strength` along it changes the face's coordinate on that axis
by `strength` standard deviations (z is standard normal, so z . w/|w| is too).

It fails where the attribute is not linear in z, where G rarely makes it (few positives to
fit), and where attributes go together in the data (Smiling with Mouth_Slightly_Open, Male
with Goatee): the direction then moves them together. `measure` (facegan.figures.directions,
with the figures and tables: this module imports neither matplotlib nor pandas) says how
much, and `conditional` removes the components along attributes to keep (InterFaceGAN's
remedy).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facegan.errors import FaceganError
from facegan.networks import pretrained
from facegan.networks.sampling import generate, latents

METHODS = ("logistic", "mean")


def logistic_direction(z, targets, l2=1e-2, iterations=30):
    """Unit normal of a logistic regression of `targets` (probabilities or 0/1, (N,)) on
    z (N, D), fitted by Newton's method with an L2 penalty `l2` on the weights (which keeps
    a separable set finite)."""
    n, dim = z.shape
    x = np.hstack([z, np.ones((n, 1))]).astype(np.float64)
    penalty = np.full(dim + 1, l2)
    penalty[-1] = 0  # no penalty on the bias
    w = np.zeros(dim + 1)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        gradient = x.T @ (p - targets) / n + penalty * w
        hessian = (x.T * (p * (1 - p))) @ x / n + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(dim + 1), gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1] / np.linalg.norm(w[:-1])


def mean_direction(z, targets):
    """Unit difference of the latents' means with and without the attribute, each latent
    weighted by its probability of having it (and of not having it)."""
    targets = np.asarray(targets, np.float64)[:, None]
    with_it = (targets * z).sum(0) / max(targets.sum(), 1e-12)
    without = ((1 - targets) * z).sum(0) / max((1 - targets).sum(), 1e-12)
    difference = with_it - without
    return difference / np.linalg.norm(difference)


@dataclass(frozen=True)
class Directions:
    """One unit latent direction per attribute, and how well each was fitted."""

    names: tuple
    vectors: np.ndarray   # (A, D), unit rows
    accuracy: np.ndarray  # (A,) the linear fit's balanced accuracy on latents held out of it
    rate: np.ndarray      # (A,) share of the generator's faces with the attribute
    method: str
    samples: int

    def __getitem__(self, name):
        if name not in self.names:
            raise FaceganError(f"no direction for attribute {name!r}; known: "
                               f"{', '.join(self.names)}")
        return self.vectors[self.names.index(name)]

    def save(self, path):
        np.savez(path, names=np.array(self.names), vectors=self.vectors.astype(np.float32),
                 accuracy=self.accuracy, rate=self.rate, method=np.array(self.method),
                 samples=np.array(self.samples))
        return path

    @classmethod
    def load(cls, path):
        try:
            with np.load(path, allow_pickle=False) as saved:
                return cls(tuple(saved["names"].tolist()), saved["vectors"], saved["accuracy"],
                           saved["rate"], str(saved["method"]), int(saved["samples"]))
        except (OSError, KeyError, ValueError) as error:
            raise FaceganError(f"cannot read latent directions from {path}: {error}") from error


def fit_directions(z, probabilities, names, method="logistic", held_out=0.2):
    """Directions from latents (N, D) and their faces' attribute probabilities (N, A).

    The last `held_out` share of the latents scores each fit: how well a linear boundary in
    z predicts the attribute (hard labels at 0.5), as balanced accuracy (0.5: no better
    than a constant guess, however rare the attribute), an upper bound on how clean a
    direction can be. The direction itself is then fitted on all of them.
    """
    if method not in METHODS:
        raise FaceganError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    z, probabilities = np.asarray(z, np.float64), np.asarray(probabilities, np.float64)
    if len(z) != len(probabilities) or probabilities.shape[1] != len(names):
        raise FaceganError(f"{len(z)} latents, {len(probabilities)} rows of probabilities of "
                           f"{probabilities.shape[1]} attributes for {len(names)} names")
    fit = logistic_direction if method == "logistic" else mean_direction
    split = int(len(z) * (1 - held_out))
    vectors, accuracy = [], []
    for a in range(len(names)):
        targets = probabilities[:, a]
        part = fit(z[:split], targets[:split])
        accuracy.append(_linear_accuracy(z[:split] @ part, targets[:split], z[split:] @ part,
                                         targets[split:]))
        vectors.append(fit(z, targets))
    return Directions(tuple(names), np.array(vectors, np.float32), np.array(accuracy),
                      probabilities.mean(0), method, len(z))


def _balanced_accuracy(predicted, truth):
    """Mean of the true-positive and true-negative rates; NaN without both classes."""
    if truth.all() or not truth.any():
        return np.nan
    return (predicted[truth].mean() + (~predicted[~truth]).mean()) / 2


def _linear_accuracy(train_scores, train_targets, scores, targets):
    """Balanced accuracy on held-out latents of "has it" = score above the threshold that
    best separates the training latents (a direction fixes the axis, not the offset)."""
    candidates = np.quantile(train_scores, np.linspace(0.01, 0.99, 99))
    hits = [_balanced_accuracy(train_scores > t, train_targets > 0.5) for t in candidates]
    if np.isnan(hits).all():
        return np.nan
    threshold = candidates[int(np.nanargmax(hits))]
    return float(_balanced_accuracy(scores > threshold, targets > 0.5))


def label_latents(generator, classifier, n, seed=0, batch_size=250):
    """`n` latents from `seed` and the classifier's probabilities (n, A) on their faces."""
    z = latents(n, generator.input_shape[-1], seed)
    probabilities = np.concatenate([
        classifier.probabilities(generate(generator, z[i:i + batch_size]))
        for i in range(0, n, batch_size)])
    return z, probabilities


def fit_generator_directions(generator, classifier, n=10000, seed=0, method="logistic"):
    """Directions of every attribute the classifier knows, in `generator`'s latent space."""
    z, probabilities = label_latents(generator, classifier, n, seed)
    return fit_directions(z, probabilities, classifier.names, method)


def shipped_path(name, folder=None):
    """Where the directions of shipped generator `name` live: beside it, in `folder` or the
    shipped generators' folder."""
    return Path(folder or pretrained.PRETRAINED_DIR) / f"{name}.directions.npz"


def conditional(directions, name, keep=()):
    """`name`'s direction less its components along the directions of the `keep` attributes,
    renormalised (Shen et al. 2020, InterFaceGAN): a step along it leaves their linear
    scores z . w unchanged, so they change only as far as they are not linear in z."""
    vector = np.asarray(directions[name], np.float64)
    others = [k for k in keep if k != name]
    if others:
        basis = np.stack([directions[k] for k in others], axis=1).astype(np.float64)
        vector = vector - basis @ np.linalg.lstsq(basis, vector, rcond=None)[0]
    length = np.linalg.norm(vector)
    if length < 1e-6:
        raise FaceganError(f"{name}'s direction lies in the span of {', '.join(others)}'s: "
                           f"nothing is left to move along")
    return (vector / length).astype(np.float32)


def move(z, direction, strengths):
    """Latents (N, D) moved by each of `strengths` along a unit direction: (N, S, D)."""
    strengths = np.asarray(strengths, np.float32)
    return (np.asarray(z, np.float32)[:, None, :]
            + strengths[None, :, None] * np.asarray(direction, np.float32)[None, None, :])


def edit(generator, z, direction, strength=3.0, steps=7):
    """Faces (N, steps, R, R, 3) from -strength to +strength along the direction; the middle
    column (odd `steps`) is the unedited face. Also returns the strengths."""
    strengths = np.linspace(-strength, strength, steps, dtype=np.float32)
    moved = move(z, direction, strengths)
    faces = generate(generator, moved.reshape(-1, moved.shape[-1]))
    return faces.reshape(len(z), steps, *faces.shape[1:]), strengths


def vector_arithmetic(generator, classifier, n=2000, per_group=3, seed=0, neighbours=8,
                      a=("Male", "Eyeglasses"), b=("Male",), c=()):
    """The DCGAN paper's "man with glasses - man + woman" (Radford et al. 2016, fig. 7).

    Among `n` sampled faces the classifier picks the `per_group` surest of each group:
    a = with every attribute in `a`, b = with those in `b` and no other of `a`, c = with
    those in `c` and no other. Each group's latents are averaged (one face is too noisy),
    and mean(a) - mean(b) + mean(c) is generated with `neighbours` jittered copies
    (uniform noise of +-0.25, as in the paper). Returns the groups' faces, the average
    faces, the result faces and the classifier's probabilities of the result.
    """
    z, probabilities = label_latents(generator, classifier, n, seed)
    wanted = [classifier.index(name) for name in sorted(set(a))]
    groups = {}
    for label, present in (("a", a), ("b", b), ("c", c)):
        score = np.ones(n)
        for i in wanted:
            has = classifier.names[i] in present
            score *= probabilities[:, i] if has else 1 - probabilities[:, i]
        groups[label] = np.argsort(score)[::-1][:per_group]
    means = {label: z[index].mean(0) for label, index in groups.items()}
    result = means["a"] - means["b"] + means["c"]
    jitter = np.random.default_rng(seed).uniform(-0.25, 0.25, (neighbours, z.shape[1]))
    result_z = np.vstack([result, result + jitter]).astype(np.float32)
    result_faces = generate(generator, result_z)

    def read(p):  # the classifier's mean probability of each wanted attribute
        return {classifier.names[i]: float(p[:, i].mean()) for i in wanted}

    return {"groups": {label: generate(generator, z[index]) for label, index in groups.items()},
            "averages": generate(generator, np.stack(list(means.values())).astype(np.float32)),
            "result": result_faces,
            "result_probabilities": read(classifier.probabilities(result_faces)),
            "group_probabilities": {label: read(probabilities[index])
                                    for label, index in groups.items()}}
