"""The mathematics of each metric, on features and images the tests make themselves."""

import keras
import numpy as np
import pytest
import scipy.linalg

from facegan import inception
from facegan import metrics as M
from facegan.errors import FaceganError
from facegan.synthetic import synthetic_faces


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(240, 32, seed=0)


def random_spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# --- FID ------------------------------------------------------------------------------------

def test_frechet_distance_matches_the_closed_form(rng):
    d = 6
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    # diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2
    v1, v2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert M.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected)
    assert M.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-9)


def test_feature_stats_stream_equals_whole_set_statistics(rng):
    x = rng.standard_normal((301, 5)) * 3 + 7
    stats = M.FeatureStats(keep=100)
    for start in range(0, len(x), 64):  # uneven last batch
        stats.update(x[start:start + 64])
    mean, cov = stats.mean_cov()
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False), rtol=1e-9)
    np.testing.assert_allclose(stats.kept, x[:100], rtol=1e-6)


def stats_of(x, batch=50):
    stats = M.FeatureStats(keep=len(x))
    for start in range(0, len(x), batch):
        stats.update(x[start:start + batch])
    return stats


def test_fid_of_samples_identical_gaussian_and_shifted(rng):
    d, n = 4, 20000
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    a = rng.multivariate_normal(mu1, s1, n)
    b = rng.multivariate_normal(mu2, s2, n)
    closed_form = M.frechet_distance(mu1, s1, mu2, s2)
    assert M.fid(stats_of(a), stats_of(a)) == pytest.approx(0, abs=1e-8)
    assert M.fid(stats_of(a), stats_of(b)) == pytest.approx(closed_form, rel=0.05)
    same = M.fid(stats_of(a), stats_of(rng.multivariate_normal(mu1, s1, n)))
    assert same < 0.05 * M.fid(stats_of(a), stats_of(a + 0.5))


def test_fid_is_finite_with_fewer_samples_than_dimensions(rng):
    # 2048-d Inception features from a few hundred samples: singular covariances
    a, b = rng.standard_normal((50, 200)), rng.standard_normal((50, 200)) + 0.3
    value = M.fid(stats_of(a), stats_of(b))
    assert np.isfinite(value) and value > M.fid(stats_of(a), stats_of(a)) >= 0


def test_covariance_needs_two_samples(rng):
    with pytest.raises(FaceganError, match="at least 2 samples"):
        stats_of(rng.standard_normal((1, 3))).mean_cov()


# --- KID ------------------------------------------------------------------------------------

def test_kid_is_unbiased_and_grows_with_a_shift(rng):
    d, m = 16, 200
    a, b = rng.standard_normal((2000, d)), rng.standard_normal((2000, d))
    same, same_std = M.kid(a, b, subsets=50, subset_size=m)
    shifted, _ = M.kid(a, b + 0.5, subsets=50, subset_size=m)
    # the biased (V-statistic) estimate keeps the kernel's diagonal and sits well above 0
    x, y = a[:m], b[:m]
    k = lambda p, q: (p @ q.T / d + 1) ** 3  # noqa: E731
    biased = k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()
    assert abs(same) < 0.1 * biased and abs(same) < 3 * same_std / np.sqrt(50) + 1e-3
    assert shifted > 10 * abs(same) and shifted > 0
    assert same_std > 0


def test_kid_needs_two_samples(rng):
    with pytest.raises(FaceganError, match="KID needs at least 2"):
        M.kid(rng.standard_normal((1, 4)), rng.standard_normal((10, 4)))


# --- Inception features -------------------------------------------------------------------

def test_inception_extractor_features_and_weights_file(tmp_path, faces):
    random_weights = inception.InceptionExtractor(weights=None, batch_size=2)
    features = random_weights(faces[:3])  # two batches
    assert features.shape == (3, 2048) and features.dtype == np.float64
    assert np.isfinite(features).all() and features.std() > 0
    path = tmp_path / "inception.weights.h5"
    random_weights.model.save_weights(path)
    from_file = inception.InceptionExtractor(weights=str(path))
    np.testing.assert_allclose(from_file(faces[:3]), features, rtol=1e-4, atol=1e-5)
    assert path.name in from_file.name


def test_missing_weights_give_one_line_saying_how_to_get_them(tmp_path, monkeypatch):
    with pytest.raises(FaceganError) as error:
        inception.InceptionExtractor(weights=str(tmp_path / "missing.h5"))
    message = str(error.value)
    assert "\n" not in message and inception.NOTOP_URL in message and "--inception-weights" in message

    def offline(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: "
                        "[Errno -2] Name or service not known")

    monkeypatch.setattr(keras.applications, "InceptionV3", offline)
    with pytest.raises(FaceganError, match="cannot load InceptionV3 weights") as error:
        inception.InceptionExtractor("imagenet")
    assert "\n" not in str(error.value) and inception.NOTOP_URL in str(error.value)


def test_weights_available_looks_in_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert not inception.weights_available("imagenet")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / inception.NOTOP_FILE).write_bytes(b"")
    assert inception.weights_available("imagenet") and inception.weights_available(None)
    assert not inception.weights_available(str(tmp_path / "other.h5"))


# --- face-detection rate ------------------------------------------------------------------

def test_face_rate_finds_drawn_faces_and_not_noise(rng, faces):
    noise = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    flat = np.full((10, 32, 32, 3), 128, np.uint8)
    assert M.detect_faces(noise).mean() == 0
    assert M.detect_faces(flat).mean() == 0
    assert M.detect_faces(faces[:60]).mean() > 0.3  # cartoons: about 0.5; CelebA about 0.95


# --- diversity ----------------------------------------------------------------------------

def test_pixel_distances_are_rms_pixel_differences():
    a = np.full((1, 64, 64, 3), 100, np.uint8)
    b = np.full((1, 64, 64, 3), 110, np.uint8)
    d = M.pairwise_distances(M.pixel_features(a), M.pixel_features(b))
    assert d[0, 0] == pytest.approx(10 / 255, rel=1e-4)


def test_diversity_drops_under_full_and_partial_collapse(rng, faces):
    real, fresh = M.pixel_features(faces[:120]), M.pixel_features(faces[120:240])
    as_varied = M.diversity(fresh, real)
    assert 0.85 < as_varied["value"] < 1.15 and 0.85 < as_varied["nearest_neighbour"] < 1.15
    one_face = np.repeat(faces[:1], 120, axis=0)
    jitter = rng.integers(-2, 3, one_face.shape)
    one_face = np.clip(one_face + jitter, 0, 255).astype(np.uint8)
    collapsed = M.diversity(M.pixel_features(one_face), real)
    assert collapsed["value"] < 0.1 and collapsed["nearest_neighbour"] < 0.1
    four_faces = M.diversity(M.pixel_features(np.tile(faces[:4], (30, 1, 1, 1))), real)
    # repeats: the nearest-neighbour ratio falls to ~0 where the pairwise mean stays high
    assert four_faces["nearest_neighbour"] < 0.01 and four_faces["value"] > 0.5
    assert as_varied["extractor"] == M.PIXEL_EXTRACTOR


def test_diversity_needs_two_samples(faces):
    with pytest.raises(FaceganError, match="diversity needs at least 2"):
        M.diversity(M.pixel_features(faces[:1]), M.pixel_features(faces[1:10]))


# --- memorisation -------------------------------------------------------------------------

def test_memorisation_flags_copies_even_mirrored_and_not_new_faces(faces):
    train, holdout, fresh = faces[:100], faces[100:220], faces[220:240]
    holdout_nn = M.nearest_training_distances(holdout, [train[:64], train[64:]])  # batches
    new = M.memorisation(M.nearest_training_distances(fresh, [train]), holdout_nn)
    assert not new["flagged"] and new["value"] < M.FLAG_FRACTION
    assert 0.7 < new["median_ratio"] < 1.4
    copies = M.memorisation(M.nearest_training_distances(train[:20], [train]), holdout_nn)
    assert copies["flagged"] and copies["value"] == 1.0 and copies["generated_median"] < 1e-3
    mirrored = M.memorisation(M.nearest_training_distances(train[:20, :, ::-1], [train]),
                              holdout_nn)
    assert mirrored["flagged"] and mirrored["value"] == 1.0


def test_memorisation_needs_enough_held_out_images(rng):
    with pytest.raises(FaceganError, match="at least 100 held-out images"):
        M.memorisation(rng.random(50), rng.random(99))
    with pytest.raises(FaceganError, match="at least 2 generated samples"):
        M.memorisation(rng.random(1), rng.random(100))
