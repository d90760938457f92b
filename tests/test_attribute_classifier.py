"""The attribute classifier and the two measures read through it: coverage and the Frechet
distance in its features. The mathematics on constructed inputs; the classifier path with a
tiny random model (tests/test_backends.py runs those tests on PyTorch and JAX too)."""

import json

import keras
import numpy as np
import pytest
import scipy.linalg
from PIL import Image

from facegan.cli import main
from facegan.data.synthetic import synthetic_faces
from facegan.editing.attribute_classifier import (AttributeClassifier, accuracy_table,
                                                  build_classifier, load_classifier,
                                                  to_classifier_input)
from facegan.errors import FaceganError
from facegan.metrics import attributes as AM
from facegan.networks import pretrained

NAMES = ("Smiling", "Male", "Eyeglasses")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random classifier saved as .keras, and loaded back."""
    path = tmp_path_factory.mktemp("classifier") / "tiny.keras"
    keras.utils.set_random_seed(0)
    build_classifier(NAMES, width=2, feature_dim=8).save(path)
    return load_classifier(path)


# --- the classifier path, on every backend -----------------------------------------------------

def test_classifier_reads_uint8_faces_of_any_size(tiny):
    faces = synthetic_faces(5, 64, seed=0)
    features, probabilities = tiny(faces, batch_size=2)  # batches of 2, 2 and 1
    assert tiny.names == NAMES and features.shape == (5, 8) and probabilities.shape == (5, 3)
    logits = keras.ops.convert_to_numpy(tiny.model(faces.astype(np.float32)))
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), rtol=1e-4, atol=1e-6)
    assert features.std() > 0 and 0 < probabilities.min() and probabilities.max() < 1
    big = synthetic_faces(5, 128, seed=0)  # resized to 64 as the data pipeline does
    resized = np.stack([np.asarray(Image.fromarray(f).resize((64, 64), Image.LANCZOS)) for f in big])
    np.testing.assert_array_equal(to_classifier_input(big), resized)
    np.testing.assert_allclose(tiny(big)[1], tiny(resized)[1], rtol=1e-5)


def test_streamed_measures_match_the_whole_set(tiny):
    real, fake = synthetic_faces(40, 64, seed=1), synthetic_faces(30, 64, seed=2)
    real_stats = AM.measure((real[i:i + 16] for i in range(0, 40, 16)), tiny)
    fake_stats = AM.measure([fake], tiny)
    (real_features, real_p), (fake_features, fake_p) = tiny(real), tiny(fake)
    coverage = AM.coverage_result(fake_stats, real_stats)
    assert coverage["value"] == pytest.approx(np.abs(fake_p.mean(0) - real_p.mean(0)).mean())
    assert (coverage["n"], coverage["n_real"]) == (30, 40)
    fd = AM.fd_result(fake_stats, real_stats)
    assert fd["value"] == pytest.approx(AM.attribute_fd(fake_features, real_features), rel=1e-6)
    assert fd["value"] > 0 and "8-d penultimate features" in fd["extractor"]
    assert AM.fd_result(real_stats, real_stats)["value"] == pytest.approx(0, abs=1e-9)
    assert AM.coverage_result(real_stats, real_stats)["value"] == 0


def test_registry_family_reads_sets_with_the_shipped_classifier(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    assert not AM.available()
    tiny.model.save(tmp_path / "attributes64.keras")
    assert AM.available()
    family = AM.AttributeFeatures(evaluator=None)
    real = family.measure([synthetic_faces(20, 64, seed=0)])
    fake = family.measure([synthetic_faces(10, 64, seed=5)])
    coverage = AM.score_coverage(family, real, real)
    assert coverage["value"] == 0 and coverage["extractor"].startswith("attribute classifier "
                                                                       "attributes64 at 64px")
    assert AM.coverage_details({"n": 20, **coverage}).endswith("; dropped: none")
    assert AM.score_fd(family, real, real)["value"] == pytest.approx(0, abs=1e-9)
    assert AM.score_fd(family, fake, real)["value"] == pytest.approx(
        AM.attribute_fd(tiny(synthetic_faces(10, 64, seed=5))[0], tiny(synthetic_faces(20, 64, seed=0))[0]))


# --- the mathematics -------------------------------------------------------------------------

def test_coverage_of_identical_and_of_known_frequencies():
    rng = np.random.default_rng(0)
    probabilities = rng.random((100, 3))
    same = AM.attribute_coverage(probabilities, probabilities, NAMES)
    assert same["value"] == 0 and same["dropped"] == []
    # generated 0.10 / 0.50 / 0.30 against real 0.30 / 0.50 / 0.01
    generated = np.array([[1, 1, 1]] * 10 + [[0, 1, 0]] * 40 + [[0, 0, 1]] * 20 + [[0, 0, 0]] * 30, bool)
    result = AM.attribute_coverage(generated, np.array([0.3, 0.5, 0.01]), NAMES)
    assert result["value"] == pytest.approx((0.2 + 0 + 0.29) / 3)
    assert result["generated"] == {"Smiling": 0.1, "Male": 0.5, "Eyeglasses": 0.3}
    assert result["largest"] == {"attribute": "Eyeglasses", "difference": pytest.approx(0.29)}
    assert result["dropped"] == ["Smiling"]  # 0.1 < half of 0.3; Eyeglasses is too rare to count
    with pytest.raises(FaceganError, match="3 attribute frequencies per side, got 2 generated"):
        AM.attribute_coverage(np.zeros(2), np.zeros(3), NAMES)


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    a, b = rng.standard_normal((2, 5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert AM.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_identical_and_shifted_features():
    features = np.random.default_rng(0).standard_normal((500, 6)) @ np.diag([1, 2, 3, 0.5, 1, 1])
    assert AM.attribute_fd(features, features) == pytest.approx(0, abs=1e-9)
    shift = np.array([1.0, -2.0, 0.5, 0, 0, 3.0])
    assert AM.attribute_fd(features + shift, features) == pytest.approx(shift @ shift, rel=1e-6)
    doubled = features * 2  # |2m - m|^2 + tr(4S + S - 2 (4 S^2)^1/2) = |m|^2 + tr(S)
    expected = (features.mean(0) @ features.mean(0)) + np.trace(np.cov(features, rowvar=False))
    assert AM.attribute_fd(doubled, features) == pytest.approx(expected, rel=1e-6)


def test_accuracy_table_against_the_majority_baseline():
    truth = np.array([[1, 0], [1, 0], [0, 0], [1, 1]], bool)
    probabilities = np.array([[0.9, 0.2], [0.4, 0.1], [0.2, 0.7], [0.8, 0.9]])
    table = accuracy_table(truth, probabilities, ("A", "B"), training_rate=[0.7, 0.2])
    assert table.accuracy.tolist() == [0.75, 0.75]
    # A: 2 of 3 positives and the one negative found; B: the positive and 2 of 3 negatives
    assert table.balanced_accuracy.tolist() == pytest.approx([(2 / 3 + 1) / 2, (1 + 2 / 3) / 2])
    assert table.majority_accuracy.tolist() == [0.75, 0.75]  # "always A", "never B"


def test_degraded_references_differ_from_the_faces():
    faces = synthetic_faces(4, 32, seed=0)
    blurred, noised = AM.blurred(faces, 2), AM.noised(faces, 10)
    assert blurred.dtype == noised.dtype == np.uint8 and blurred.shape == faces.shape
    assert np.abs(blurred.astype(int) - faces).mean() > 1
    assert 5 < np.abs(noised.astype(int) - faces).mean() < 10  # E|N(0, 10)| = 8, clipped


# --- training and shipping from the command line ------------------------------------------------

@pytest.mark.slow
def test_train_writes_a_run_and_export_ships_a_classifier_not_a_generator(tmp_path, monkeypatch):
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    for i, face in enumerate(synthetic_faces(24, 64, seed=0)):
        Image.fromarray(face).resize((89, 109)).save(folder / f"{i + 1:06d}.jpg")
    rows = [f"{i + 1:06d}.jpg " + " ".join("1" if (i >> j) & 1 else "-1" for j in range(3))
            for i in range(24)]
    (tmp_path / "list_attr_celeba.txt").write_text(f"24\n{' '.join(NAMES)}\n" + "\n".join(rows))
    run = tmp_path / "run"
    assert main(["attributes", "train", "--data", str(folder), "--holdout", "8", "--epochs", "1",
                 "--batch-size", "8", "--quiet", "--out", str(run)]) == 0
    for file in ("config.json", "log.txt", "history.csv", "classifier.keras", "accuracy.csv"):
        assert (run / file).is_file(), file
    table = (run / "accuracy.csv").read_text().splitlines()
    assert table[0].startswith("attribute,training_rate,held_out_rate,accuracy,balanced_accuracy")
    assert [line.split(",")[0] for line in table[1:]] == list(NAMES)

    shipped = tmp_path / "pretrained"
    shipped.mkdir()
    (shipped / "celeba64.keras").write_bytes(b"a generator")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", shipped)
    assert main(["attributes", "export", "--run", str(run)]) == 0
    card = json.loads((shipped / "attributes64.json").read_text())
    assert card["kind"] == "attribute_classifier" and set(card["per_attribute"]) == set(NAMES)
    assert card["held_out"]["majority_balanced_accuracy"] == 0.5
    assert pretrained.available() == ["celeba64"]
    assert isinstance(load_classifier("pretrained:attributes64"), AttributeClassifier)


@pytest.mark.parametrize("argv, message", [
    (["attributes", "train", "--data", "synthetic"], "synthetic faces have no attribute labels"),
    (["attributes", "train", "--data", "/no/such.zip"], "data path does not exist"),
    (["edit", "--generator", "pretrained:celeba64", "--attribute", "Smiling", "--classifier",
      "/no/such.keras"], "attribute classifier not found: /no/such.keras"),
])
def test_bad_input_gets_one_line(capsys, argv, message):
    code = main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], lines
