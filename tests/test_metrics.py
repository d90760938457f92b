"""The pixel and face metrics' mathematics, on images the tests make themselves (FID, KID,
precision and recall are torch-fidelity's: tests/test_fidelity.py)."""

import numpy as np
import pytest

from facegan.data.synthetic import synthetic_faces
from facegan.errors import FaceganError
from facegan.metrics import faces as F, pixels as P


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(240, 32, seed=0)


# --- face-detection rate ------------------------------------------------------------------

def test_face_rate_finds_drawn_faces_and_not_noise(rng, faces):
    noise = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    flat = np.full((10, 32, 32, 3), 128, np.uint8)
    assert F.detect_faces(noise).mean() == 0
    assert F.detect_faces(flat).mean() == 0
    assert F.detect_faces(faces[:60]).mean() > 0.3  # cartoons: about 0.5; CelebA about 0.95


# --- diversity ----------------------------------------------------------------------------

def test_pixel_distances_are_rms_pixel_differences():
    a = np.full((1, 64, 64, 3), 100, np.uint8)
    b = np.full((1, 64, 64, 3), 110, np.uint8)
    d = P.pairwise_distances(P.pixel_features(a), P.pixel_features(b))
    assert d[0, 0] == pytest.approx(10 / 255, rel=1e-4)


def test_diversity_drops_under_full_and_partial_collapse(rng, faces):
    real, fresh = P.pixel_features(faces[:120]), P.pixel_features(faces[120:240])
    as_varied = P.diversity(fresh, real)
    assert 0.85 < as_varied["value"] < 1.15 and 0.85 < as_varied["nearest_neighbour"] < 1.15
    one_face = np.repeat(faces[:1], 120, axis=0)
    jitter = rng.integers(-2, 3, one_face.shape)
    one_face = np.clip(one_face + jitter, 0, 255).astype(np.uint8)
    collapsed = P.diversity(P.pixel_features(one_face), real)
    assert collapsed["value"] < 0.1 and collapsed["nearest_neighbour"] < 0.1
    four_faces = P.diversity(P.pixel_features(np.tile(faces[:4], (30, 1, 1, 1))), real)
    # repeats: the nearest-neighbour ratio falls to ~0 where the pairwise mean stays high
    assert four_faces["nearest_neighbour"] < 0.01 and four_faces["value"] > 0.5
    assert as_varied["extractor"] == P.PIXEL_EXTRACTOR


def test_diversity_needs_two_samples(faces):
    with pytest.raises(FaceganError, match="diversity needs at least 2"):
        P.diversity(P.pixel_features(faces[:1]), P.pixel_features(faces[1:10]))


# --- memorisation -------------------------------------------------------------------------

def test_memorisation_flags_copies_even_mirrored_and_not_new_faces(faces):
    train, holdout, fresh = faces[:100], faces[100:220], faces[220:240]
    holdout_nn = P.nearest_training_distances(holdout, [train[:64], train[64:]])  # batches
    new = P.memorisation(P.nearest_training_distances(fresh, [train]), holdout_nn)
    assert not new["flagged"] and new["value"] < P.FLAG_FRACTION
    assert 0.7 < new["median_ratio"] < 1.4
    copies = P.memorisation(P.nearest_training_distances(train[:20], [train]), holdout_nn)
    assert copies["flagged"] and copies["value"] == 1.0 and copies["generated_median"] < 1e-3
    mirrored = P.memorisation(P.nearest_training_distances(train[:20, :, ::-1], [train]),
                              holdout_nn)
    assert mirrored["flagged"] and mirrored["value"] == 1.0


def test_memorisation_needs_enough_held_out_images(rng):
    with pytest.raises(FaceganError, match="at least 100 held-out images"):
        P.memorisation(rng.random(50), rng.random(99))
    with pytest.raises(FaceganError, match="at least 2 generated samples"):
        P.memorisation(rng.random(1), rng.random(100))
