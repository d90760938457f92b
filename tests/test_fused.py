"""The fused step against the two-phase combined-model step, on TensorFlow, PyTorch and JAX
(tests/test_backends.py runs them on the other two): from the same weights and inputs it
must give the same losses and the same new weights (every G and D variable, moving
statistics and optimizer slots included). As tests/test_gan.py shows that the combined
step's phases each change only their own network, so does the fused step's."""

import keras
import numpy as np
import pytest

from facegan.networks.dcgan import build_discriminator, build_generator
from facegan.training.fused import FUSED_BACKENDS, FusedGAN
from facegan.training.gan import GAN
from facegan.training.runs import variable_groups

LATENT, BATCH, STEPS = 8, 8, 2

pytestmark = pytest.mark.skipif(keras.backend.backend() not in FUSED_BACKENDS,
                                reason=f"the fused step runs on {', '.join(FUSED_BACKENDS)}")


def networks(seed=0):
    keras.utils.set_random_seed(seed)
    return build_generator(32, LATENT, 4), build_discriminator(32, 4)


def state(gan):
    return {f"{group}/{i}": keras.ops.convert_to_numpy(v).copy()
            for group, variables in variable_groups(gan).items()
            for i, v in enumerate(variables)}


def batches(rng, n_critic=1):
    while True:
        yield (rng.uniform(-1, 1, (n_critic * BATCH, 32, 32, 3)).astype("float32"),
               rng.standard_normal((n_critic * BATCH, LATENT)).astype("float32"),
               rng.standard_normal((BATCH, LATENT)).astype("float32"))


def assert_same_step(expected, got):
    """The metrics of one step on each path."""
    assert expected.keys() == got.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-5), key


def assert_same_state(expected, got):
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-3, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("settings", [dict(loss="bce", label_smoothing=0.1),
                                      dict(loss="hinge", n_critic=2)])
def test_fused_step_matches_the_two_phase_step(settings, rng):
    combined, fused = GAN(*networks(), **settings), FusedGAN(*networks(), **settings)
    n_critic = settings.get("n_critic", 1)
    start = state(combined)
    assert start.keys() == state(fused).keys()  # checkpoints move between the two paths
    for key, value in state(fused).items():
        np.testing.assert_array_equal(value, start[key])

    data = batches(rng, n_critic)
    for _ in range(STEPS):
        real, z_d, z_g = next(data)
        assert_same_step(combined.train_step(real, z_d, z_g), fused.train_step(real, z_d, z_g))

    after = state(combined)
    changed = [key for key in start if not np.array_equal(start[key], after[key])]
    assert len(changed) > 0.9 * len(start)  # the steps really moved the weights
    assert_same_state(after, state(fused))


@pytest.mark.parametrize("paths", [(FusedGAN, GAN), (GAN, FusedGAN)],
                         ids=["fused-to-combined", "combined-to-fused"])
def test_a_checkpoint_continues_on_the_other_path(paths, tmp_path, rng):
    from facegan.training.runs import load_checkpoint, save_checkpoint

    writer, data = paths[0](*networks()), batches(rng)
    writer.train_step(*next(data))  # so the optimizer slots and step counts are not zeros
    save_checkpoint(tmp_path / "checkpoint.npz", writer, {"step": 1})
    reader = paths[1](*networks(seed=1))
    load_checkpoint(tmp_path / "checkpoint.npz", reader)
    assert_same_state(state(writer), state(reader))
    batch = next(data)
    assert_same_step(writer.train_step(*batch), reader.train_step(*batch))
    assert_same_state(state(writer), state(reader))


def test_fused_step_refuses_a_gradient_penalty():
    from facegan.errors import FaceganError

    with pytest.raises(FaceganError, match="gradient penalty"):
        FusedGAN(*networks(), loss="wgan-gp")


@pytest.mark.slow
def test_a_fused_run_resumes_from_its_checkpoint(tmp_path):
    from facegan.training.config import TrainConfig
    from facegan.training.loop import Trainer, resume

    tiny = dict(data="synthetic", resolution=32, base_channels=4, latent_dim=8, batch_size=16,
                synthetic_size=32, log_every=1, snapshot_every=1, step="fused")
    Trainer(tmp_path / "run", TrainConfig(epochs=1, **tiny)).fit(verbose=0)
    resume(tmp_path / "run", epochs=2)
    history = Trainer(tmp_path / "run").run.read_history()
    assert list(history["step"]) == [1, 2, 3, 4]
    assert np.isfinite(history[["d_loss", "g_loss"]].to_numpy()).all()
