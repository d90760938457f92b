import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from facegan.cli import main
from facegan.errors import FaceganError
from facegan.figures.gallery import trained_generator
from facegan.figures.grids import save_grid
from facegan.networks import pretrained
from facegan.networks.sampling import load_generator, sample
from facegan.training.loop import train
from facegan.training.runs import snapshots

TINY = dict(data="synthetic", resolution=32, base_channels=4, latent_dim=8, batch_size=16,
            synthetic_size=32, log_every=1, snapshot_every=1)


@pytest.mark.slow
def test_figures_and_export_from_a_run(tmp_path, monkeypatch):
    run = train(tmp_path / "tiny", epochs=3, **TINY)
    assert main(["evaluate", "--run", str(run), "--n", "32"]) == 0  # metrics over training
    metrics = pd.read_csv(run / "metrics.csv")
    assert metrics["epoch"].tolist() == [1, 2, 3] and metrics["step"].tolist() == [2, 4, 6]
    assert {"face_rate", "diversity"} <= set(metrics.columns)
    figures, gallery = tmp_path / "figures", tmp_path / "gallery"
    assert main(["figures", "--run", str(run), "--figures-dir", str(figures),
                 "--gallery-dir", str(gallery)]) == 0
    for name in ("tiny_loss_curves.png", "tiny_progression.png", "tiny_interpolation.png",
                 "tiny_metrics.png"):
        assert Image.open(figures / name).size[0] >= 400, name
    assert Image.open(figures / "tiny_progression.gif").format == "GIF"
    grid = np.asarray(Image.open(gallery / "tiny_gallery.png"))
    assert grid.shape[0] >= 256 and grid.std() > 0  # 64 faces, not blank

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "pretrained")
    record = json.loads((run / "config.json").read_text())
    record["config"]["data"] = "/home/someone/data/img_align_celeba.zip"  # as trained on CelebA
    (run / "config.json").write_text(json.dumps(record))
    assert main(["export", "--run", str(run), "--name", "tiny32"]) == 0
    assert pretrained.available() == ["tiny32"]
    card = pretrained.card("tiny32")
    assert card["data"] == card["settings"]["data"] == "img_align_celeba.zip"  # no local path
    assert card["resolution"] == 32 and card["epochs"] == 3 and card["images_seen"] == 3 * 2 * 16
    assert card["backend"] and card["settings"]["base_channels"] == 4
    assert pretrained.load("tiny32").output_shape == (None, 32, 32, 3)


def test_a_run_with_a_weight_average_draws_scores_and_ships_the_average(tmp_path, monkeypatch):
    """An --ema run samples its weight average while training, so its gallery, the snapshots
    `evaluate --run` scores and the exported generator are the average's, not G's."""
    run = train(tmp_path / "avg", epochs=2, ema=0.5, learning_rate=0.01, **TINY)
    raw = load_generator(run / "generator.keras")
    average = load_generator(run / "generator_ema.keras")
    assert not np.array_equal(sample(raw, 64), sample(average, 64))  # the test can tell them apart

    assert [path.name for _, path in snapshots(run)] == ["generator_ema_epoch_0001.keras",
                                                         "generator_ema.keras"]
    assert main(["figures", "--run", str(run), "--figures-dir", str(tmp_path / "figures"),
                 "--gallery-dir", str(tmp_path / "gallery")]) == 0
    save_grid(tmp_path / "expected.png", sample(average, 64, seed=0), columns=8)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "gallery" / "avg_gallery.png")),
                          np.asarray(Image.open(tmp_path / "expected.png")))

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "pretrained")
    assert main(["export", "--run", str(run), "--name", "avg32"]) == 0
    assert pretrained.card("avg32")["weights"] == "generator_ema.keras"
    shipped = pretrained.load("avg32").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(shipped, average.get_weights(), strict=True))


@pytest.mark.slow
def test_the_figures_and_export_of_an_earlier_snapshot(tmp_path, monkeypatch):
    """--epoch N: gallery, interpolation and the shipped weights from the run's snapshot of
    epoch N (its weight average), the card saying what those weights saw."""
    run = train(tmp_path / "avg", epochs=3, ema=0.5, learning_rate=0.01, **TINY)
    early = load_generator(run / "snapshots" / "generator_ema_epoch_0001.keras")
    final = load_generator(run / "generator_ema.keras")
    assert not np.array_equal(sample(early, 64), sample(final, 64))
    for name in ("generator.keras", "generator_ema.keras"):  # as if stopped before the end
        (run / name).unlink()

    assert main(["figures", "--run", str(run), "--epoch", "1", "--figures-dir",
                 str(tmp_path / "figures"), "--gallery-dir", str(tmp_path / "gallery")]) == 0
    save_grid(tmp_path / "expected.png", sample(early, 64, seed=0), columns=8)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "gallery" / "avg_gallery.png")),
                          np.asarray(Image.open(tmp_path / "expected.png")))
    assert Image.open(tmp_path / "figures" / "avg_progression.gif").n_frames == 3  # whole run

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "pretrained")
    assert main(["export", "--run", str(run), "--name", "early32", "--epoch", "1"]) == 0
    card = pretrained.card("early32")
    assert (card["weights"], card["epochs"], card["run_epochs"]) == (
        "generator_ema_epoch_0001.keras", 1, 3)
    assert card["steps"] == 2 and card["images_seen"] == 2 * 16
    shipped = pretrained.load("early32").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(shipped, early.get_weights(), strict=True))


def test_missing_shipped_generator_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(FaceganError, match="no shipped generator named 'celeba64'.*facegan train"):
        pretrained.load("celeba64")


def test_no_generator_anywhere_says_how_to_train_one(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(FaceganError, match="neither a shipped 'celeba64' nor one in run folder "
                                           ".*no_run; train one with notebook 02 or 03"):
        trained_generator("celeba64", tmp_path / "no_run")


@pytest.mark.slow
def test_progression_gif_of_a_long_high_resolution_run_stays_small(tmp_path):
    from facegan.figures.gallery import progression_gif

    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "config.json").write_text('{"config": {"resolution": 128}}')
    rng = np.random.default_rng(0)
    for epoch in range(1, 31):  # distinct grids: GIF writers merge repeated frames
        faces = rng.integers(0, 256, (64, 128, 128, 3), np.uint8)
        save_grid(run / "samples" / f"epoch_{epoch:04d}.png", faces, columns=8)
    gif = Image.open(progression_gif(run, tmp_path / "progression.gif"))
    assert gif.n_frames == 20
    assert gif.size == (4 * 130 + 2, 4 * 130 + 2)  # the top-left 4x4 faces, at full size
    gif.seek(gif.n_frames - 1)
    tile = np.asarray(gif.convert("RGB"))[2:130, 2:130]
    assert np.abs(tile.astype(int) - faces[0]).mean() < 40  # the last epoch's first face


@pytest.mark.parametrize("show_training", [True, False])
def test_nearest_neighbour_figure_can_leave_the_training_images_out(tmp_path, show_training):
    """The copy check's figure for publishing (CelebA may not be redistributed) draws the
    generated faces and their distances, and not one pixel of a training image."""
    from facegan.figures.gallery import nearest_neighbours, plot_nearest_neighbours

    red, blue = np.zeros((2, 4, 16, 16, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    index, distance = nearest_neighbours(blue, red)
    plot_nearest_neighbours(blue, red, index, distance, tmp_path / "nn.png",
                            show_training=show_training)
    pixels = np.asarray(Image.open(tmp_path / "nn.png").convert("RGB")).reshape(-1, 3).astype(int)
    is_red = (pixels[:, 0] > 200) & (pixels[:, 1] < 60) & (pixels[:, 2] < 60)
    assert is_red.any() == show_training
    assert ((pixels[:, 2] > 200) & (pixels[:, 0] < 60)).any()  # the generated faces
