"""The Evaluator, `facegan evaluate` and metrics during training, on synthetic faces and
tiny generators: a collapsed one, one that copies training images, an untrained one."""

import json

import keras
import numpy as np
import pytest

from facegan.cli import main
from facegan.data.synthetic import synthetic_faces
from facegan.errors import FaceganError
from facegan.metrics import (default_metrics, evaluate as E, faces as F, inception_fidelity,
                             pixels as P, reference)
from facegan.networks import pretrained
from facegan.networks.dcgan import build_generator
from facegan.training.config import TrainConfig
from facegan.training.loop import Trainer
from facegan.training.runs import RunDir

LATENT = 8


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(360, 32, seed=0)  # 240 training faces, then 120 held out


def collapsed_generator(seed=0):
    """The same face for every z: a zero kernel, so only the (random) bias reaches the image."""
    z = keras.Input((LATENT,))
    x = keras.layers.Dense(32 * 32 * 3, kernel_initializer="zeros",
                           bias_initializer=keras.initializers.RandomUniform(-2, 2, seed))(z)
    x = keras.layers.Activation("tanh")(keras.layers.Reshape((32, 32, 3))(x))
    return keras.Model(z, x)


class CopyTraining(keras.layers.Layer):
    """z -> one of the given images, chosen by argmax of z's first coordinates."""

    def __init__(self, images):
        super().__init__()
        self.images = keras.ops.convert_to_tensor(images.astype("float32") / 127.5 - 1)

    def call(self, z):
        index = keras.ops.argmax(z[:, :LATENT], axis=1)
        return keras.ops.take(self.images, index, axis=0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(self.images.shape[1:])


def copying_generator(images):
    z = keras.Input((LATENT,))
    return keras.Model(z, CopyTraining(images)(z))


def test_collapsed_generator_gets_low_diversity(faces):
    evaluator = E.Evaluator(faces, ["diversity", "face_rate"], n=120, holdout=120)
    collapsed = evaluator.score(collapsed_generator())
    assert collapsed["diversity"]["value"] < 0.05
    assert collapsed["diversity"]["extractor"] == P.PIXEL_EXTRACTOR
    real = evaluator.score_images(faces[240:360])  # unseen real faces: as varied as the data
    assert 0.85 < real["diversity"]["value"] < 1.15
    assert real["face_rate"]["value"] > 0.3 and real["face_rate"]["real"] > 0.3
    assert real["face_rate"]["extractor"] == F.FACE_DETECTOR


def test_copying_generator_is_flagged_and_an_untrained_one_is_not(faces):
    evaluator = E.Evaluator(faces, ["memorisation"], n=100, holdout=120)
    copier = evaluator.score(copying_generator(faces[:LATENT]))["memorisation"]
    assert copier["flagged"] and copier["value"] == 1.0
    untrained = evaluator.score(build_generator(32, LATENT, 4))["memorisation"]
    assert not untrained["flagged"] and untrained["value"] < P.FLAG_FRACTION
    assert copier["extractor"] == untrained["extractor"] == P.PIXEL_EXTRACTOR


def projected(images, counter):
    """A fixed random projection of pixels standing in for Inception; counts its images."""
    counter.calls += len(images)
    projection = np.random.default_rng(0).standard_normal((32 * 32 * 3, 16)) / 50
    return (np.asarray(images).reshape(len(images), -1) / 255 @ projection).astype(np.float32)


class TinyExtractor:
    name = "random projection (test)"
    calls = 0

    def __init__(self, weights):
        self.fingerprint = f"tiny|{weights}"

    def features(self, images):
        return projected(images, TinyExtractor)


class TinyReference(reference.Reference):
    """torch-fidelity's metric functions in their worker, on projected pixels."""

    name = "random projection (test)"
    fingerprint = "tiny"
    calls = 0

    def __init__(self, weights):
        self._start()

    def features(self, images):
        return projected(images, TinyReference)


@pytest.mark.slow
def test_inception_metrics_tell_fidelity_from_coverage(faces, monkeypatch):
    if not reference.installed():
        pytest.skip("torch-fidelity is not installed")
    monkeypatch.setattr(inception_fidelity, "Reference", TinyReference)
    evaluator = E.Evaluator(faces, ["fid", "kid", "precision", "recall"], n=120, holdout=120)
    real = evaluator.score_images(faces[240:360])  # unseen faces of the same distribution
    collapsed = evaluator.score(collapsed_generator())
    assert collapsed["fid"]["value"] > 20 * real["fid"]["value"]
    assert collapsed["kid"]["value"] > 20 * abs(real["kid"]["value"])
    assert real["kid"]["std"] > 0 and real["fid"]["extractor"] == TinyReference.name
    assert real["precision"]["value"] > 0.8 and real["recall"]["value"] > 0.8
    assert collapsed["precision"]["value"] < 0.1 and collapsed["recall"]["value"] < 0.1
    # mode collapse onto real faces: every sample is faithful, most of the data is missed
    four_faces = evaluator.score_images(np.tile(faces[:4], (30, 1, 1, 1)))
    assert four_faces["precision"]["value"] == 1 and four_faces["recall"]["value"] < 0.25


@pytest.fixture
def tiny_extractor(monkeypatch):
    monkeypatch.setattr(inception_fidelity, "Reference", TinyExtractor)
    TinyExtractor.calls = 0
    return TinyExtractor


def test_real_inception_features_are_extracted_once(faces, tiny_extractor):
    E.Evaluator(faces, ["fid"], n=100, holdout=120)
    assert tiny_extractor.calls == 100
    E.Evaluator(faces, ["fid", "kid"], n=100, holdout=120)  # a second evaluation, e.g. epoch 2
    assert tiny_extractor.calls == 100
    E.Evaluator(faces, ["fid"], n=100, holdout=120, seed=1)  # other real images
    E.Evaluator(faces, ["fid"], n=100, holdout=120, inception_weights="other.pth")
    E.Evaluator(faces[:, ::-1], ["fid"], n=100, holdout=120)  # another data set
    assert tiny_extractor.calls == 400


@pytest.mark.parametrize("metrics, settings, fragment", [
    (["diversity"], {"n": 1}, "diversity needs at least 2 samples"),
    (["memorisation"], {"holdout": 0}, "memorisation needs held-out images"),
    (["memorisation"], {"holdout": 50}, "at least 100 held-out images"),
    (["sharpness"], {}, "unknown metric sharpness"),
    (["face_rate"], {"holdout": 360}, "holdout 360 must be"),
])
def test_bad_settings_get_one_clear_line(faces, metrics, settings, fragment):
    with pytest.raises(FaceganError, match=fragment) as error:
        E.evaluate(collapsed_generator(), faces, metrics=metrics, **{"n": 20, **settings})
    assert "\n" not in str(error.value)


def test_generator_size_must_match_the_data(faces):
    with pytest.raises(FaceganError, match="makes 64x64 images but the data is 32x32"):
        E.evaluate(build_generator(64, LATENT, 4), faces, metrics=["face_rate"], n=10)
    evaluator = E.Evaluator(faces, ["face_rate"], n=10)
    with pytest.raises(FaceganError, match="these are 64x64 images but the data is 32x32"):
        evaluator.score_images(np.zeros((4, 64, 64, 3), np.uint8))


ATTRIBUTES = ["attribute_coverage", "attribute_fd"]  # with the shipped attribute classifier


def test_default_metrics_are_those_that_can_run_offline(tmp_path, monkeypatch):
    offline = ["face_rate", "diversity"]
    assert default_metrics(holdout=0) == default_metrics(holdout=99) == offline + ATTRIBUTES
    assert default_metrics(holdout=100) == offline + ["memorisation"] + ATTRIBUTES
    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"")
    monkeypatch.setattr(reference, "installed", lambda: True)  # as if torch-fidelity were
    fidelity = ["fid", "kid", "precision", "recall"]
    assert default_metrics(0, str(weights)) == fidelity + offline + ATTRIBUTES
    assert default_metrics(0) == offline + ATTRIBUTES  # never a download by default
    reference.hub_weights().parent.mkdir(parents=True)
    reference.hub_weights().write_bytes(b"")  # where torch-fidelity's download lands
    assert default_metrics(0)[:4] == fidelity
    monkeypatch.setattr(reference, "installed", lambda: False)
    assert default_metrics(0, str(weights)) == offline + ATTRIBUTES
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "nothing shipped")
    assert default_metrics(0) == offline


def test_face_rate_is_left_out_where_opencv_has_no_haar_cascade(monkeypatch):
    monkeypatch.delattr(F.cv2, "CascadeClassifier")  # as in OpenCV 5.x
    monkeypatch.setattr(F, "_cascade", F._cascade.__wrapped__)  # not the cached cascade
    assert default_metrics(holdout=100) == ["diversity", "memorisation"] + ATTRIBUTES
    with pytest.raises(FaceganError, match=r"no Haar face cascade.*opencv-python-headless<5"):
        F.detect_faces(np.zeros((1, 64, 64, 3), np.uint8))

def test_evaluate_verb_prints_a_table_and_writes_json(tmp_path, faces, capsys):
    from PIL import Image

    data = tmp_path / "faces"
    data.mkdir()
    for i, face in enumerate(faces[:220]):
        Image.fromarray(face).save(data / f"{i:03d}.png")
    generator = tmp_path / "g.keras"
    build_generator(32, LATENT, 4).save(generator)
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--generator", str(generator), "--data", str(data), "--n", "60",
                 "--holdout", "100", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "face_rate" in table and "memorisation" in table and P.PIXEL_EXTRACTOR in table
    record = json.loads(out.read_text())
    assert set(record["metrics"]) == {"face_rate", "diversity", "memorisation", *ATTRIBUTES}
    assert all("extractor" in r for r in record["metrics"].values())
    assert record["n"] == 60 and record["holdout"] == 100

    assert main(["evaluate", "--generator", str(generator), "--data", str(data),
                 "--metrics", "fid", "--inception-weights", str(tmp_path / "none.pth")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Inception weights file not found" in lines[0]


@pytest.mark.slow
def test_metrics_during_training(tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(resolution=32, base_channels=4, latent_dim=LATENT, batch_size=64,
                         synthetic_size=292, holdout=100, epochs=2, eval_every=1,
                         eval_samples=60, snapshot_every=2)
    Trainer(run, config).fit(verbose=0)
    table = RunDir(run).read_metrics()
    assert list(table["epoch"]) == [1, 2] and list(table["step"]) == [3, 6]
    for column in ("face_rate", "face_rate_real", "diversity", "diversity_nearest_neighbour",
                   "memorisation", "memorisation_real"):
        assert table[column].notna().all(), column
    assert "fid" not in table  # no Inception weights here
    assert (run / "metrics.png").stat().st_size > 10_000


def test_metrics_rows_after_a_resume_replace_the_repeated_ones(tmp_path):
    run = RunDir(tmp_path)
    for step in (10, 20, 30):
        run.append_metrics({"step": step, "epoch": step // 10, "face_rate": 0.5})
    run.append_metrics({"step": 20, "epoch": 2, "face_rate": 0.7, "fid": 40.0})
    table = run.read_metrics()
    assert list(table["step"]) == [10, 20] and table["face_rate"].iloc[-1] == 0.7
    assert np.isnan(table["fid"].iloc[0]) and table["fid"].iloc[1] == 40.0
