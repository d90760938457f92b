"""Every metric by name, behind one table (as in NVlabs' stylegan2-ada `metrics/`).

`facegan evaluate`, `--eval-every` and the notebooks find metrics in METRICS; a new metric
is one entry. An entry names the feature family it reads (one pass over an image set
measures each family once, for all its metrics), how it scores generated against real
features, how it is shown, and whether it can run here by default. Importing this package
imports neither Keras nor torch: the CLI checks names before the backend is chosen.
"""

from dataclasses import dataclass
from typing import Callable

from facegan.metrics import attributes, faces, inception_fidelity as fidelity, pixels, reference


def _always(holdout, inception_weights):
    return True


@dataclass(frozen=True)
class Metric:
    """features: a Features class. score(family, generated, real) -> a dict with "value",
    "extractor" and what details() shows. columns: result keys written beside the value in
    metrics.csv as NAME_KEY. real: the dashed real-data line of the plot, a column key or a
    constant. also_plot: (column key, label) lines drawn beside the value."""

    features: type
    score: Callable
    label: str
    details: Callable
    min_samples: int = 2
    fmt: str = "{:.3f}"
    columns: tuple = ()
    real: str | float | None = None
    also_plot: tuple = ()
    available: Callable = _always


def _fidelity_available(holdout, inception_weights):
    return reference.available(inception_weights)


def _faces_available(holdout, inception_weights):
    return faces.face_detector_available()


def _holdout_available(holdout, inception_weights):
    return holdout >= pixels.MIN_HOLDOUT


def _fidelity(score, label, details, **fields):
    return Metric(fidelity.InceptionFeatures, score, label, details,
                  available=_fidelity_available, **fields)


def _n(r):
    return f"n={r['n']}, {r['n_real']} real"


def _kid(r):
    return f"std {r['std']:.4f} over {r['subsets']} subsets of {r['subset_size']}"


def _pr(r):
    return f"{_n(r)}, k={r['k']} nearest neighbours"


def _diversity(r):
    return (f"n={r['n']}, mean distance {r['generated']:.4f} vs real {r['real']:.4f}, "
            f"nearest-neighbour ratio {r['nearest_neighbour']:.3f}")


def _memorisation(r):
    return (f"n={r['n']} vs {r['n_holdout']} held-out, flag > {pixels.FLAG_FRACTION}"
            f"{': FLAGGED' if r['flagged'] else ''}, median nearest training image "
            f"{r['generated_median']:.4f} vs held-out {r['holdout_median']:.4f}")


METRICS = {
    "fid": _fidelity(fidelity.fid, "FID (lower is better)", _n),
    "kid": _fidelity(fidelity.kid, "KID (lower is better)", _kid, fmt="{:.4f}", columns=("std",)),
    "precision": _fidelity(fidelity.precision, "precision (fidelity)", _pr,
                           min_samples=fidelity.PR_NEIGHBOURS + 1),
    "recall": _fidelity(fidelity.recall, "recall (coverage of the data)", _pr,
                        min_samples=fidelity.PR_NEIGHBOURS + 1),
    "face_rate": Metric(faces.FaceCounts, faces.face_rate, "face-detection rate", _n,
                        min_samples=1, columns=("real",), real="real",
                        available=_faces_available),
    "diversity": Metric(pixels.PixelSample, pixels.score_diversity,
                        "diversity (1 = as varied as data)", _diversity,
                        columns=("nearest_neighbour",), real=1.0,
                        also_plot=(("nearest_neighbour", "nearest-neighbour ratio"),)),
    "memorisation": Metric(pixels.HeldOutDistances, pixels.score_memorisation,
                           "near copies of training images (fraction)", _memorisation,
                           columns=("real", "median_ratio"), real="real",
                           available=_holdout_available),
    "attribute_coverage": Metric(attributes.AttributeFeatures, attributes.score_coverage,
                                 "attribute coverage gap (lower is better)",
                                 attributes.coverage_details, real=0.0,
                                 available=attributes.available),
    "attribute_fd": Metric(attributes.AttributeFeatures, attributes.score_fd,
                           "attribute Fréchet distance (lower is better)", _n,
                           available=attributes.available),
}


def default_metrics(holdout=0, inception_weights=None):
    """The metrics that can run here without a download: face rate where OpenCV has its
    Haar cascade, diversity, memorisation with at least 100 held-out images, and FID, KID,
    precision and recall where torch-fidelity is installed and its weights are on disk."""
    return [name for name, metric in METRICS.items()
            if metric.available(holdout, inception_weights)]
