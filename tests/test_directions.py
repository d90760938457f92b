"""Latent directions: fitted on a constructed case whose answer is known, moved along exactly,
saved and loaded, and the `edit` and `attributes directions` commands on a tiny generator."""

import ast
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import facegan
from facegan.cli import main
from facegan.editing import directions as D
from facegan.editing.attribute_classifier import build_classifier, load_classifier
from facegan.errors import FaceganError
from facegan.figures.directions import measure
from facegan.figures.grids import GRID_PADDING, image_grid
from facegan.networks.dcgan import build_generator
from facegan.networks.sampling import generate, latents, load_generator


@pytest.mark.parametrize("method", D.METHODS)
def test_fitted_directions_align_with_the_true_ones(method):
    """Attribute 0 is soft, sigmoid(4 z.u); attribute 1 hard and rare, z.v > 1 (16%)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4000, 20))
    u, v = (w / np.linalg.norm(w) for w in rng.standard_normal((2, 20)))
    probabilities = np.stack([1 / (1 + np.exp(-4 * z @ u)), (z @ v > 1).astype(float)], axis=1)
    fitted = D.fit_directions(z, probabilities, ("Soft", "Rare"), method)
    assert fitted["Soft"] @ u > 0.97 and fitted["Rare"] @ v > 0.97
    np.testing.assert_allclose(np.linalg.norm(fitted.vectors, axis=1), 1, rtol=1e-6)
    assert fitted.accuracy[1] > 0.95  # a hard linear boundary: linear in z
    np.testing.assert_allclose(fitted.rate, probabilities.mean(0))
    with pytest.raises(FaceganError, match="no direction for attribute 'Bald'"):
        fitted["Bald"]


def test_moving_changes_only_the_coordinate_along_the_direction():
    rng = np.random.default_rng(1)
    z, direction = rng.standard_normal((5, 8)), rng.standard_normal(8)
    direction /= np.linalg.norm(direction)
    moved = D.move(z, direction, [-2, 0, 3])
    assert moved.shape == (5, 3, 8)
    np.testing.assert_allclose((moved - z[:, None]) @ direction, [[-2, 0, 3]] * 5, atol=1e-5)
    residual = (moved - z[:, None]) - ((moved - z[:, None]) @ direction)[..., None] * direction
    np.testing.assert_allclose(residual, 0, atol=1e-5)


def test_conditional_direction_is_orthogonal_to_the_kept_ones():
    rng = np.random.default_rng(2)
    b, c, own = rng.standard_normal((3, 10))
    vectors = np.stack([b + c + own, b, c, b])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    directions = D.Directions(("A", "B", "C", "B2"), vectors.astype(np.float32), np.ones(4),
                              np.ones(4) / 2, "logistic", 10)
    held = D.conditional(directions, "A", ["B", "C", "A"])  # the target itself is ignored
    np.testing.assert_allclose([held @ vectors[1], held @ vectors[2]], 0, atol=1e-6)
    assert np.linalg.norm(held) == pytest.approx(1) and held @ vectors[0] > 0.3
    np.testing.assert_allclose(D.conditional(directions, "A"), vectors[0], rtol=1e-6)
    with pytest.raises(FaceganError, match="B2's direction lies in the span of B's"):
        D.conditional(directions, "B2", ["B"])


def test_directions_round_trip_and_a_bad_file(tmp_path):
    saved = D.Directions(("A", "B"), np.eye(2, 4, dtype=np.float32), np.array([0.9, 0.8]),
                         np.array([0.1, 0.5]), "logistic", 100)
    loaded = D.Directions.load(saved.save(tmp_path / "d.npz"))
    assert (loaded.names, loaded.method, loaded.samples) == (("A", "B"), "logistic", 100)
    np.testing.assert_array_equal(loaded.vectors, saved.vectors)
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    with pytest.raises(FaceganError, match="cannot read latent directions from"):
        D.Directions.load(tmp_path / "bad.npz")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A tiny untrained generator (kernels rescaled to unit gain, so that its faces vary
    with z) and a tiny untrained classifier, saved as .keras files."""
    folder = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    generator = build_generator(64, latent_dim=16, base_channels=4)
    for layer in generator.layers:
        if hasattr(layer, "kernel"):
            kernel = np.asarray(layer.kernel)
            layer.kernel.assign(kernel / kernel.std() / np.sqrt(np.prod(kernel.shape[:-1]) / 4))
    generator.save(folder / "g.keras")
    build_classifier(("Smiling", "Male"), width=2, feature_dim=8).save(folder / "c.keras")
    return folder / "g.keras", folder / "c.keras"


def tiles(path, rows, columns, size=64):
    """The faces of a grid PNG that save_grid wrote (upscaled by a whole factor)."""
    image = np.asarray(Image.open(path).convert("RGB"))
    scale = image.shape[1] // (columns * (size + GRID_PADDING) + GRID_PADDING)
    grid = image[::scale, ::scale]
    assert grid.shape == image_grid(np.zeros((rows * columns, size, size, 3), np.uint8), columns).shape
    return np.stack([grid[GRID_PADDING + r * (size + GRID_PADDING):][:size,
                          GRID_PADDING + c * (size + GRID_PADDING):][:, :size]
                     for r in range(rows) for c in range(columns)]).reshape(rows, columns, size, size, 3)


def test_edit_writes_faces_by_steps_with_the_originals_in_the_middle(tiny_models, tmp_path, capsys):
    generator_file, classifier_file = tiny_models
    saved = tmp_path / "g.directions.npz"
    assert main(["attributes", "directions", "--generator", str(generator_file), "--classifier",
                 str(classifier_file), "--samples", "60", "--out", str(saved)]) == 0
    assert D.Directions.load(saved).vectors.shape == (2, 16)
    grid = tmp_path / "edit.png"
    assert main(["edit", "--generator", str(generator_file), "--classifier", str(classifier_file),
                 "--directions", str(saved), "--attribute", "Male", "--strength", "2",
                 "--n", "3", "--steps", "5", "--seed", "4", "--out", str(grid)]) == 0
    output = capsys.readouterr().out
    assert "mean P(Male) by column: -2.0: " in output and "fitting" not in output
    faces = tiles(grid, rows=3, columns=5)
    generator = load_generator(generator_file)
    originals = generate(generator, latents(3, 16, seed=4))
    assert np.abs(faces[:, 2].astype(int) - originals).max() <= 1  # batch of 15 vs 3: rounding
    moved = generate(generator, latents(3, 16, seed=4) + 2 * D.Directions.load(saved)["Male"])
    assert np.abs(faces[:, 4].astype(int) - moved).max() <= 1
    assert np.abs(faces[:, 0].astype(int) - faces[:, 4]).mean() > 1


def test_edit_fits_directions_when_none_are_saved_and_refuses_unknown_attributes(
        tiny_models, tmp_path, capsys):
    generator_file, classifier_file = tiny_models
    common = ["edit", "--generator", str(generator_file), "--classifier", str(classifier_file),
              "--samples", "40", "--n", "2", "--steps", "3", "--out", str(tmp_path / "e.png")]
    assert main(common + ["--attribute", "Smiling"]) == 0
    assert "fitting them on 40 samples" in capsys.readouterr().out
    assert tiles(tmp_path / "e.png", rows=2, columns=3).shape[:2] == (2, 3)
    assert main(common + ["--attribute", "Bald"]) == 2
    assert "unknown attribute 'Bald'; this classifier knows Smiling, Male" in capsys.readouterr().err


def test_measure_reads_the_faces_before_and_after_the_move(tiny_models):
    generator, classifier = load_generator(tiny_models[0]), load_classifier(tiny_models[1])
    directions = D.fit_generator_directions(generator, classifier, n=40)
    table = measure(generator, classifier, directions, ["Smiling"], n=12, strength=2.0, seed=3)
    assert list(table.index) == ["Smiling", "(random direction)"]
    z = latents(12, 16, seed=3)
    before = classifier.probabilities(generate(generator, z))[:, 0]
    after = classifier.probabilities(generate(generator, z + 2 * directions["Smiling"]))
    assert table.loc["Smiling", "target_before"] == pytest.approx(before.mean(), rel=1e-5)
    assert table.loc["Smiling", "target_change"] == pytest.approx(after[:, 0].mean() - before.mean(), abs=1e-5)
    assert table.loc["Smiling", "most_changed_other"] == "Male"
    held = measure(generator, classifier, directions, ["Smiling"], n=4, keep=["Male"])
    assert list(held.index) == ["Smiling, keeping Male", "(random direction)"]


def imports(module):
    """Every module that importing `module` imports: those at the top of its source, and of
    the facegan modules among them, in turn (not those a function imports when called)."""
    root = Path(facegan.__file__).parent.parent
    found, todo = set(), [module]
    while todo:
        path = root / todo.pop().replace(".", "/")
        source = path.with_suffix(".py")
        source = source if source.is_file() else path / "__init__.py"
        for node in ast.parse(source.read_text()).body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in set(names) - found:
                found.add(name)
                path = root / name.replace(".", "/")
                if name.startswith("facegan.") and (path.with_suffix(".py").is_file()
                                                    or (path / "__init__.py").is_file()):
                    todo.append(name)
    return found


def test_fitting_and_editing_import_neither_matplotlib_nor_pandas():
    """The app and `facegan edit` move faces without the plotting libraries (Keras may load
    them for itself)."""
    for module in ("facegan.editing.directions", "facegan.figures.grids"):
        assert not {name.split(".")[0] for name in imports(module)} & {"matplotlib", "pandas"}
    assert "pandas" in {name.split(".")[0] for name in imports("facegan.figures.directions")}
