"""`pip install .` and `pip install git+URL` give a facegan that works: the wheel, built from
the checkout's own files, holds every module, the command, the dependencies and the shipped
generators, and facegan.networks.pretrained finds them there. A checkout finds them in pretrained/.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from facegan import REPOSITORY, __version__
from facegan.errors import FaceganError
from facegan.networks import pretrained

CHECKOUT = Path(__file__).resolve().parent.parent
PRETRAINED = CHECKOUT / "pretrained"
FACEGAN_CLASSES = "158d715"  # the last commit whose shipped generators name facegan's layers


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel pip builds from a copy of the files a clone has (a build leaves build/ behind)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source)
    for folder in ("facegan", "pretrained"):
        shutil.copytree(CHECKOUT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(source)], check=True, env=dict(os.environ, PIP_NO_INDEX="1"))
    (built,) = out.glob("facegan-*.whl")
    return built


def test_the_wheel_holds_every_module_and_the_shipped_generators(wheel):
    with zipfile.ZipFile(wheel) as archive:
        sizes = {info.filename: info.file_size for info in archive.infolist()}
    for module in sorted((CHECKOUT / "facegan").rglob("*.py")):
        name = module.relative_to(CHECKOUT).as_posix()
        assert name in sizes, f"{name} is not in the wheel: list its package in pyproject.toml"
    for file in sorted(PRETRAINED.iterdir()):
        shipped = sizes.get(f"facegan/shipped/{file.name}")
        assert shipped == file.stat().st_size, f"pretrained/{file.name} is not in the wheel"


def test_the_wheel_declares_the_dependencies_and_the_command(wheel):
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"facegan-{__version__}.dist-info/METADATA").decode()
        commands = archive.read(f"facegan-{__version__}.dist-info/entry_points.txt").decode()
    requires = [line.removeprefix("Requires-Dist: ") for line in metadata.splitlines()
                if line.startswith("Requires-Dist: ")]
    for package in ("keras>=3.10", "tensorflow>=2.18", "numpy", "opencv-python-headless<5"):
        assert package in requires, requires
    assert 'tensorboardx; extra == "tensorboard"' in map(str.lower, requires)
    assert "facegan = facegan.cli:main" in commands


def test_an_installed_wheel_finds_its_shipped_generators(wheel, tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    code = ("import facegan, facegan.networks.pretrained as p; "
            "print(facegan.__file__, p.PRETRAINED_DIR, ','.join(p.available()), p.path('celeba64'))")
    env = {key: value for key, value in os.environ.items() if key != "FACEGAN_PRETRAINED"}
    env["PYTHONPATH"] = str(site)
    printed = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                             capture_output=True, text=True, check=True).stdout.split()
    shipped = site / "facegan" / "shipped"
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", PRETRAINED)
    names = ",".join(pretrained.available())  # the same generators as the checkout's
    assert "celeba64" in names and printed == [str(site / "facegan" / "__init__.py"), str(shipped), names,
                       str(shipped / "celeba64.keras")]


def test_a_checkout_finds_pretrained_beside_the_package(monkeypatch):
    monkeypatch.delenv("FACEGAN_PRETRAINED", raising=False)
    assert pretrained._shipped_dir() == PRETRAINED


def test_without_shipped_generators_one_line_says_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(FaceganError) as error:
        pretrained.path("celeba64")
    message = str(error.value)
    assert "\n" not in message and f"pip install git+{REPOSITORY}" in message
    assert "$FACEGAN_PRETRAINED" in message


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_requirements_files_only_point_at_the_package(name):
    """pyproject.toml is the one list of dependencies; the requirements files name extras."""
    lines = [line for line in (CHECKOUT / name).read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines and all(line.startswith("-e .[") for line in lines), lines


def test_shipped_generators_load_in_keras_without_facegan(load_without_facegan, monkeypatch):
    """keras.saving.load_model reads the shipped generators where facegan cannot be imported
    (one's own Keras code, a Colab without it, a model hub), with facegan's loader's faces."""
    from keras.ops import convert_to_numpy

    from facegan.networks.sampling import latents, load_generator

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", PRETRAINED)
    paths = [pretrained.path(name) for name in pretrained.available()]
    assert {"celeba64", "celeba128"} <= set(pretrained.available())
    z = latents(8, 100, seed=0)
    for path, output in zip(paths, load_without_facegan(paths, z), strict=True):
        assert isinstance(output, np.ndarray), f"{path.name}: {output}"
        expected = convert_to_numpy(load_generator(path)(z, training=False))
        np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5, err_msg=path.name)


@pytest.mark.parametrize("name", ["celeba128"])  # celeba64 was retrained since
def test_shipped_generators_kept_their_weights_when_saved_in_keras_classes(name, tmp_path):
    """The shipped files re-saved in Keras's own layers hold every weight array the files in
    facegan's layers held, and draw the same faces. A retrained generator replaces this check."""
    from keras.ops import convert_to_numpy

    from facegan.networks.sampling import latents, load_generator

    try:
        before = subprocess.run(["git", "show", f"{FACEGAN_CLASSES}:pretrained/{name}.keras"],
                                cwd=CHECKOUT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs the repository's git history")
    (tmp_path / "before.keras").write_bytes(before)
    assert b"facegan>BatchNorm" in zipfile.ZipFile(tmp_path / "before.keras").read("config.json")
    old = load_generator(tmp_path / "before.keras")
    new = load_generator(PRETRAINED / f"{name}.keras")
    for a, b in zip(old.weights, new.weights, strict=True):
        np.testing.assert_array_equal(convert_to_numpy(a), convert_to_numpy(b), err_msg=b.path)
    z = latents(8, old.input_shape[-1], seed=0)
    np.testing.assert_array_equal(convert_to_numpy(new(z, training=False)),
                                  convert_to_numpy(old(z, training=False)))
