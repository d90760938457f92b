import json

import keras
import numpy as np
import pandas as pd
import pytest
from scipy import linalg

from facegan.data.synthetic import synthetic_faces
from facegan.networks.sampling import generate, latents, load_generator
from facegan.training.build import make_gan
from facegan.training.config import TrainConfig
from facegan.training.fused import FusedGAN
from facegan.training.gan import GAN
from facegan.training.loop import Trainer, resume, train
from facegan.training.runs import HISTORY_COLUMNS

TINY = dict(data="synthetic", resolution=32, base_channels=4, latent_dim=8, batch_size=16,
            synthetic_size=64, log_every=2, snapshot_every=1)


def test_run_folder_is_complete(tmp_path):
    run = train(tmp_path / "run", epochs=2, **TINY)
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["resolution"] == 32 and config["config"]["seed"] == 0
    assert config["backend"] == keras.backend.backend() and "keras" in config["versions"]
    history = pd.read_csv(run / "history.csv")
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["step"].tolist() == [2, 4, 6, 8]
    assert history["epoch"].tolist() == [1, 1, 2, 2]
    for name in ("log.txt", "loss_curves.png", "samples/epoch_0001.png", "samples/epoch_0002.png",
                 "checkpoint.npz", "fixed_latents.npy", "snapshots/generator_epoch_0002.keras"):
        assert (run / name).is_file(), name
    assert "64 images (0 held out), 4 steps per epoch" in (run / "log.txt").read_text()
    assert load_generator(run / "generator.keras").output_shape == (None, 32, 32, 3)


def test_make_gan_builds_the_step_networks_and_average_the_config_names():
    small = dict(resolution=32, latent_dim=8, base_channels=4)
    combined, no_average = make_gan(TrainConfig(**small))
    assert type(combined) is GAN and no_average is None
    assert combined.generator.input_shape == (None, 8)
    assert combined.discriminator.input_shape == (None, 32, 32, 3)
    fused, average = make_gan(TrainConfig(**small, step="fused", ema=0.9))
    assert type(fused) is FusedGAN and average.generator is fused.generator
    assert average.decay == 0.9
    critic, _ = make_gan(TrainConfig(**small, loss="wgan-gp"))  # no BatchNorm under the penalty
    assert not any("bn" in layer.name for layer in critic.discriminator.layers)
    assert any("bn" in layer.name for layer in combined.discriminator.layers)


def assert_same_run(straight, resumed):
    """The resumed run ends where the uninterrupted one does: the same faces (to rounding)
    and the same history rows."""
    z = latents(4, 8, seed=1)
    a = generate(load_generator(straight / "generator.keras"), z)
    b = generate(load_generator(resumed / "generator.keras"), z)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
    pd.testing.assert_frame_equal(pd.read_csv(straight / "history.csv")[["step", "epoch"]],
                                  pd.read_csv(resumed / "history.csv")[["step", "epoch"]])


@pytest.mark.slow
def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    straight = train(tmp_path / "straight", epochs=2, **TINY)
    train(tmp_path / "split", epochs=1, **TINY)
    split = resume(tmp_path / "split", epochs=2)
    assert_same_run(straight, split)


@pytest.mark.slow
def test_wall_time_counts_on_across_fits_and_resumes(tmp_path):
    """history.csv's wall_time is the run's: fit() again on the same Trainer (as
    benchmarks/time_to_faces.py does, epoch by epoch) or a resume continues it."""
    trainer = Trainer(tmp_path / "run", TrainConfig(epochs=1, **TINY))
    trainer.fit(verbose=0)
    trainer.config.epochs = 2
    trainer.fit(verbose=0)
    resume(tmp_path / "run", epochs=3)
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert history["epoch"].tolist() == [1, 1, 2, 2, 3, 3]
    assert history["wall_time"].is_monotonic_increasing, history["wall_time"].tolist()


@pytest.mark.slow
def test_tensorboard_shows_a_run_and_its_resumption(tmp_path):
    """The event files hold every history row's losses and each epoch's sample grid; a
    resumed run continues them (TensorBoard's own reader, as `tensorboard --logdir` uses)."""
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    train(tmp_path / "run", epochs=1, tensorboard=True, **TINY)
    resume(tmp_path / "run", epochs=2)
    events = accumulator.EventAccumulator(str(tmp_path / "run" / "tensorboard"),
                                          size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    for tag, column in (("loss/d", "d_loss"), ("loss/g", "g_loss"),
                        ("accuracy/d_real", "d_acc_real"), ("accuracy/d_fake", "d_acc_fake")):
        logged = events.Scalars(tag)
        assert [e.step for e in logged] == history["step"].tolist()
        np.testing.assert_allclose([e.value for e in logged], history[column], rtol=1e-6)
    assert [e.step for e in events.Scalars("speed/images_per_sec")] == [2, 4, 6, 8]
    width = 8 * (32 + 2) + 2  # 8 faces of 32 px, 2 px apart and around
    assert [(e.step, e.width) for e in events.Images("samples")] == [(4, width), (8, width)]


def test_ctrl_c_saves_a_checkpoint(tmp_path):
    trainer = Trainer(tmp_path / "run", TrainConfig(epochs=3, **TINY))

    def interrupt(trainer, epoch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.fit(on_epoch_end=interrupt)
    assert Trainer(tmp_path / "run").step == 4


def test_held_out_images_are_never_trained_on(tmp_path, monkeypatch):
    seen = []
    trainer = Trainer(tmp_path / "run", TrainConfig(epochs=2, holdout=16, **TINY))
    images = trainer.images
    monkeypatch.setattr(trainer, "images", type("Spy", (), {
        "__len__": lambda self: len(images),
        "__getitem__": lambda self, i: seen.extend(np.atleast_1d(i)) or images[i]})())
    trainer.fit(verbose=0)
    assert trainer.steps_per_epoch == 3 and len(seen) == 2 * 3 * 16
    assert max(seen) < 48 and len(set(seen)) == 48  # every training image, no held-out one


def test_existing_run_is_not_overwritten(tmp_path):
    train(tmp_path / "run", epochs=1, **TINY)
    with pytest.raises(Exception, match="already holds a run"):
        train(tmp_path / "run", epochs=1, **TINY)


def pixel_frechet_distance(a, b):
    """Fréchet distance between 8x8-pooled pixel statistics of two uint8 image sets."""
    def features(images):
        n, r = len(images), images.shape[1]
        pooled = images.astype(np.float64).reshape(n, 8, r // 8, 8, r // 8, 3).mean((2, 4))
        return pooled.reshape(n, -1) / 255
    fa, fb = features(a), features(b)
    ca, cb = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    root = linalg.sqrtm(ca @ cb).real
    return float(((fa.mean(0) - fb.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * root))


@pytest.mark.slow
def test_training_moves_generated_faces_towards_the_data(tmp_path):
    """Fails if D or G never updates: a broken step leaves the distance where it started."""
    config = TrainConfig(data="synthetic", resolution=32, base_channels=16, batch_size=32,
                         synthetic_size=2048, epochs=8, log_every=16, snapshot_every=8)
    trainer = Trainer(tmp_path / "run", config)
    real = synthetic_faces(512, 32, seed=1)
    z = latents(512, config.latent_dim, seed=7)
    before = pixel_frechet_distance(generate(trainer.gan.generator, z), real)
    trainer.fit(verbose=0)
    after = pixel_frechet_distance(generate(trainer.gan.generator, z), real)
    assert after < 0.5 * before, (before, after)


@pytest.mark.slow
def test_a_run_out_of_minutes_saves_its_generator_and_resumes_to_the_uninterrupted_one(tmp_path):
    """--minutes stops between steps, mid-epoch, with a checkpoint and the generators; a
    resume with no limit ends where an uninterrupted run does."""
    straight = train(tmp_path / "straight", epochs=2, **TINY)
    # half a second: the first step (its functions traced) takes longer on every backend
    stopped = train(tmp_path / "split", epochs=2, minutes=0.5 / 60, **TINY)
    assert (stopped / "generator.keras").is_file()
    assert "minutes is spent; --resume" in (stopped / "log.txt").read_text()
    trainer = Trainer(stopped)
    assert 0 < trainer.step < trainer.total_steps
    trainer.config.minutes = 0
    trainer.fit(verbose=0)
    assert_same_run(straight, stopped)


def test_minutes_are_refused_with_several_processes(tmp_path, monkeypatch):
    """Each process's clock would stop it at a different step: refused before the run
    folder is made."""
    from facegan.errors import FaceganError
    from facegan.training import loop

    monkeypatch.setattr(loop, "process_count", lambda: 2)
    with pytest.raises(FaceganError, match="--minutes needs a single process"):
        Trainer(tmp_path / "run", TrainConfig(epochs=1, minutes=5, **TINY))
    assert not (tmp_path / "run").exists()
