"""Which weights each phase changes, on whatever backend $KERAS_BACKEND names.

Expected: the D phase changes every D variable (weights and BatchNorm moving statistics,
updated from the real and the fake batch) and no G variable, not even G's moving
statistics (G generates with batch statistics but is frozen). The G phase changes every G
variable (weights and moving statistics) and no D variable.
"""

import keras
import numpy as np
import pytest

from facegan.networks.dcgan import build_discriminator, build_generator
from facegan.networks.layers import BatchNorm
from facegan.networks.sampling import load_generator
from facegan.training.gan import GAN, build_gan

LATENT, BATCH = 8, 8


def snapshot(model):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.variables}


def changed(before, after):
    return {k for k in before if not np.array_equal(before[k], after[k])}


def moving_stats(names):
    return {n for n in names if "moving_" in n}


@pytest.fixture
def gan():
    keras.utils.set_random_seed(0)
    return GAN(build_generator(32, LATENT, 4), build_discriminator(32, 4))


def batch(rng):
    real = rng.uniform(-1, 1, (BATCH, 32, 32, 3)).astype("float32")
    return real, *rng.standard_normal((2, BATCH, LATENT)).astype("float32")


def test_each_phase_changes_only_its_own_network(gan, rng):
    real, z_d, z_g = batch(rng)
    ones, zeros = np.ones((BATCH, 1), "float32"), np.zeros((BATCH, 1), "float32")
    for _ in range(2):  # the second round runs the already-traced functions
        g0, d0 = snapshot(gan.generator), snapshot(gan.discriminator)
        gan._set_phase(gan.discriminator_trainer)
        gan.discriminator_trainer.train_on_batch([real, z_d], {"real": ones, "fake": zeros})
        g1, d1 = snapshot(gan.generator), snapshot(gan.discriminator)
        assert changed(g0, g1) == set()
        assert changed(d0, d1) == set(d0)
        assert moving_stats(changed(d0, d1))  # D's moving statistics are among them

        gan._set_phase(gan.gan)
        gan.gan.train_on_batch(z_g, ones)
        g2, d2 = snapshot(gan.generator), snapshot(gan.discriminator)
        assert changed(d1, d2) == set()
        assert changed(g1, g2) == set(g1)
        assert moving_stats(changed(g1, g2))


def test_train_step_reports_losses_and_accuracies(gan, rng):
    metrics = gan.train_step(*batch(rng))
    assert set(metrics) == {"d_loss", "g_loss", "d_acc_real", "d_acc_fake"}
    assert all(np.isfinite(v) for v in metrics.values())
    assert 0 <= metrics["d_acc_real"] <= 1 and 0 <= metrics["d_acc_fake"] <= 1


def test_textbook_order_would_leave_d_untrained(rng):
    """Why GAN sets the flags per phase: compile D, freeze it, compile the combined model."""
    keras.utils.set_random_seed(0)
    g, d = build_generator(32, LATENT, 4), build_discriminator(32, 4)
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    d.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), loss)
    d.trainable = False
    combined = build_gan(g, d)
    combined.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), loss)
    real, _, z = batch(rng)
    before = snapshot(d)
    d.train_on_batch(real, np.ones((BATCH, 1), "float32"))
    combined.train_on_batch(z, np.ones((BATCH, 1), "float32"))
    d.train_on_batch(real, np.ones((BATCH, 1), "float32"))
    assert changed(before, snapshot(d)) == set()


def test_frozen_batchnorm_uses_batch_statistics_when_training(rng):
    layer = BatchNorm()
    x = (rng.standard_normal((16, 4, 4, 3)) * 3 + 5).astype("float32")
    layer.build(x.shape)
    layer.trainable = False
    moving = keras.ops.convert_to_numpy(layer.moving_mean).copy()
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    expected = (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2)) + layer.epsilon)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_mean), moving)
    inference = keras.ops.convert_to_numpy(layer(x, training=False))  # moving statistics
    np.testing.assert_allclose(inference, x / np.sqrt(1 + layer.epsilon), atol=1e-4)


def test_generator_round_trips_through_keras_file(gan, rng, tmp_path):
    gan.train_step(*batch(rng))
    path = tmp_path / "g.keras"
    gan.generator.save(path)
    z = rng.standard_normal((4, LATENT)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(load_generator(path)(z, training=False)),
        keras.ops.convert_to_numpy(gan.generator(z, training=False)), atol=1e-5)
