"""The fused step against the two-phase combined-model step, on TensorFlow and PyTorch:
from the same weights and inputs it must give the same losses and the same new weights
(every G and D variable, moving statistics and optimizer slots included)."""

import keras
import numpy as np
import pytest

from facegan.fused import FUSED_BACKENDS, FusedGAN
from facegan.gan import GAN
from facegan.networks import build_discriminator, build_generator
from facegan.runs import _variable_groups

LATENT, BATCH, STEPS = 8, 8, 2

pytestmark = pytest.mark.skipif(keras.backend.backend() not in FUSED_BACKENDS,
                                reason="the fused step runs on TensorFlow and PyTorch")


def networks():
    keras.utils.set_random_seed(0)
    return build_generator(32, LATENT, 4), build_discriminator(32, 4)


def state(gan):
    return {f"{group}/{i}": keras.ops.convert_to_numpy(v).copy()
            for group, variables in _variable_groups(gan).items()
            for i, v in enumerate(variables)}


@pytest.mark.parametrize("settings", [dict(loss="bce", label_smoothing=0.1),
                                      dict(loss="hinge", n_critic=2)])
def test_fused_step_matches_the_two_phase_step(settings, rng):
    combined, fused = GAN(*networks(), **settings), FusedGAN(*networks(), **settings)
    n_critic = settings.get("n_critic", 1)
    start = state(combined)
    assert start.keys() == state(fused).keys()  # checkpoints move between the two paths
    for key, value in state(fused).items():
        np.testing.assert_array_equal(value, start[key])

    for _ in range(STEPS):
        real = rng.uniform(-1, 1, (n_critic * BATCH, 32, 32, 3)).astype("float32")
        z_d = rng.standard_normal((n_critic * BATCH, LATENT)).astype("float32")
        z_g = rng.standard_normal((BATCH, LATENT)).astype("float32")
        expected, got = combined.train_step(real, z_d, z_g), fused.train_step(real, z_d, z_g)
        assert expected.keys() == got.keys()
        for key in expected:
            assert got[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-5), key

    after, fused_after = state(combined), state(fused)
    changed = [key for key in start if not np.array_equal(start[key], after[key])]
    assert len(changed) > 0.9 * len(start)  # the steps really moved the weights
    for key in after:
        np.testing.assert_allclose(fused_after[key], after[key], rtol=1e-3, atol=1e-5,
                                   err_msg=key)


def test_fused_step_refuses_a_gradient_penalty():
    from facegan.errors import FaceganError

    with pytest.raises(FaceganError, match="gradient penalty"):
        FusedGAN(*networks(), loss="wgan-gp")


def test_a_fused_run_resumes_from_its_checkpoint(tmp_path):
    from facegan.training import Trainer, TrainConfig, resume

    tiny = dict(data="synthetic", resolution=32, base_channels=4, latent_dim=8, batch_size=16,
                synthetic_size=32, log_every=1, snapshot_every=1, step="fused")
    Trainer(tmp_path / "run", TrainConfig(epochs=1, **tiny)).fit(verbose=0)
    resume(tmp_path / "run", epochs=2)
    history = Trainer(tmp_path / "run").run.read_history()
    assert list(history["step"]) == [1, 2, 3, 4]
    assert np.isfinite(history[["d_loss", "g_loss"]].to_numpy()).all()
