"""The numbers that judge a generator: FID, KID, face-detection rate, diversity, memorisation.

Functions here take features or uint8 images and return floats or small dicts; which images
go in (how many, which real set) is decided in `facegan.evaluate`. Every result names the
feature extractor it used, because a number without its feature space is not comparable.
"""

import functools

import cv2
import numpy as np

from facegan.errors import FaceganError

METRICS = ("fid", "kid", "face_rate", "diversity", "memorisation")

# --- FID and KID on any features (InceptionV3 pool features in practice) ---------------


class FeatureStats:
    """Running mean and covariance of features, fed batch by batch.

    Float64 sums of x and x x^T make 50k samples cost two (d,) and (d, d) arrays instead of
    (50k, d); Inception features are O(1), so E[xx^T] - mu mu^T loses nothing in float64.
    The first `keep` rows are kept as well (float32) for KID, which needs samples.
    """

    def __init__(self, keep=0):
        self.n, self.sum, self.outer = 0, None, None
        self.keep, self._kept = keep, []

    def update(self, features):
        features = np.asarray(features, np.float64)
        if self.sum is None:
            dim = features.shape[1]
            self.sum, self.outer = np.zeros(dim), np.zeros((dim, dim))
        self.n += len(features)
        self.sum += features.sum(axis=0)
        self.outer += features.T @ features
        room = self.keep - sum(len(k) for k in self._kept)
        if room > 0:
            self._kept.append(features[:room].astype(np.float32))

    @property
    def kept(self):
        return np.concatenate(self._kept) if self._kept else np.zeros((0, 0), np.float32)

    def mean_cov(self):
        if self.n < 2:
            raise FaceganError(f"a covariance needs at least 2 samples, got {self.n}")
        mean = self.sum / self.n
        cov = (self.outer - self.n * np.outer(mean, mean)) / (self.n - 1)
        return mean, cov


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^1/2), the Frechet distance of two Gaussians.

    tr (S1 S2)^1/2 is the sum of the square roots of the eigenvalues of S1 S2, which equal
    those of the symmetric PSD S1^1/2 S2 S1^1/2 (similar matrices). Symmetric
    eigendecompositions give them real and stable even for singular covariances (fewer
    samples than dimensions), where sqrtm of the non-symmetric S1 S2 returns complex parts
    that the reference code has to patch with an eps offset.
    """
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = np.asarray(mu1) - np.asarray(mu2)
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean
    return max(float(value), 0.0)  # rounding can leave -1e-12 for identical statistics


def fid(stats_a, stats_b):
    """FID (Heusel et al. 2017) between two FeatureStats."""
    return frechet_distance(*stats_a.mean_cov(), *stats_b.mean_cov())


def kid(features_a, features_b, subsets=100, subset_size=1000, seed=0):
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the kernel (x.y / d + 1)^3.

    Averaged over `subsets` random subsets of `subset_size` (fewer if a set is smaller), as
    in the paper; returns (mean, std over subsets). Unbiased: two samples of one
    distribution score about 0, and can score slightly below it.
    """
    m = min(subset_size, len(features_a), len(features_b))
    if m < 2:
        raise FaceganError(f"KID needs at least 2 samples per set, got {len(features_a)} "
                           f"and {len(features_b)}")
    dim = features_a.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = np.asarray(features_a[rng.choice(len(features_a), m, replace=False)], np.float64)
        y = np.asarray(features_b[rng.choice(len(features_b), m, replace=False)], np.float64)
        k_xx, k_yy = (x @ x.T / dim + 1) ** 3, (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        values[i] = ((k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
                     - 2 * k_xy.mean())
    return float(values.mean()), float(values.std())


# --- face-detection rate -----------------------------------------------------------------

FACE_SIZE = 128
FACE_DETECTOR = ("opencv haar frontalface_default at 128px (bilinear), scale 1.1, "
                 "5 neighbours, min face 48px")


def face_detector_available():
    """Whether this OpenCV has the Haar cascades (4.x does; 5.x moved them out)."""
    return hasattr(cv2, "CascadeClassifier") and hasattr(cv2, "data")


@functools.cache
def _cascade():
    cascade = (cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
               if face_detector_available() else None)
    if cascade is None or cascade.empty():
        raise FaceganError(f"OpenCV {cv2.__version__} has no Haar face cascade for face_rate; "
                           f"install opencv-python-headless<5 (5.x ships none)")
    return cascade


def detect_faces(images):
    """Whether OpenCV's Haar frontal-face detector finds a face in each uint8 image.

    Images are upscaled to 128 px first: the cascade's 24 px window misses faces at 64 px.
    The settings are fixed so rates compare between runs; the minimum face of 48 px (3/8 of
    the frame) matches aligned face crops and keeps textures from counting. Real CelebA crops
    at 64 px score about 0.95, noise 0, one average face 1: never report this rate alone.
    """
    found = np.zeros(len(images), bool)
    for i, image in enumerate(images):
        image = cv2.resize(np.ascontiguousarray(image), (FACE_SIZE, FACE_SIZE),
                           interpolation=cv2.INTER_LINEAR)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        faces = _cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                            minSize=(48, 48))
        found[i] = len(faces) > 0
    return found


# --- diversity and memorisation in pixel space ----------------------------------------------

PIXEL_SIZE = 32
PIXEL_EXTRACTOR = "pixels32: RGB area-downsampled to 32x32, RMS distance in [0, 1]"


def pixel_features(images):
    """uint8 (N, R, R, 3) -> float32 (N, 3072) whose L2 distances are RMS pixel differences.

    Pixels need no weights, so diversity and memorisation mean the same offline and online;
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
    if len(holdout_nn) < 1 / NEAR_COPY_QUANTILE:
        raise FaceganError(f"memorisation needs at least {int(1 / NEAR_COPY_QUANTILE)} held-out "
                           f"images, got {len(holdout_nn)}")
    if len(generated_nn) < 2:
        raise FaceganError(f"memorisation needs at least 2 generated samples, got {len(generated_nn)}")
    threshold = float(np.quantile(holdout_nn, NEAR_COPY_QUANTILE))
    near_copies = float(np.mean(generated_nn < threshold))
    return {"value": near_copies, "real": NEAR_COPY_QUANTILE, "flagged": near_copies > FLAG_FRACTION,
            "median_ratio": float(np.median(generated_nn) / np.median(holdout_nn)),
            "generated_median": float(np.median(generated_nn)),
            "holdout_median": float(np.median(holdout_nn)), "threshold": threshold,
            "n": len(generated_nn), "n_holdout": len(holdout_nn), "extractor": PIXEL_EXTRACTOR}
