"""GAN variants (issue 8) on the backend in $KERAS_BACKEND: the gradient penalty against a
hand-computed reference, spectral normalisation against numpy's SVD, the EMA update rule,
DiffAugment's gradients and policy, and one finite training step per loss."""

import json

import keras
import numpy as np
import pytest
from keras import layers

from facegan.networks.dcgan import build_discriminator, build_generator
from facegan.networks.spectral_norm import SpectralNorm
from facegan.training.augment import TRANSFORMS, DiffAugment, parse_policy
from facegan.training.config import TrainConfig
from facegan.training.ema import GeneratorEMA, ema_decay
from facegan.training.gan import GAN, build_discriminator_trainer, build_gan
from facegan.training.gradient_penalty import GradientPenalty, penalty_loss
from facegan.training.loop import Trainer, resume, train
from facegan.training.losses import LOSSES, get_loss

LATENT, SIDE = 4, 4
as_numpy = keras.ops.convert_to_numpy


def linear_critic(w, b=0.3):
    """D(x) = <w, x> + b on (SIDE, SIDE, 3) images: grad_x D = w for every x."""
    critic = keras.Sequential([keras.Input((SIDE, SIDE, 3)), layers.Flatten(), layers.Dense(1)])
    critic.layers[-1].set_weights([w.reshape(-1, 1), np.array([b], "float32")])
    return critic


def tiny_generator(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((LATENT,)), layers.Dense(SIDE * SIDE * 3, activation="tanh"),
                             layers.Reshape((SIDE, SIDE, 3))])


# --- losses ---------------------------------------------------------------------------

def test_losses_on_known_logits():
    logits = np.array([[2.0], [-0.5]], "float32")
    ones, zeros = np.ones_like(logits), np.zeros_like(logits)

    def value(loss, part, target):
        return as_numpy(get_loss(loss)[part](target, logits))

    np.testing.assert_allclose(value("hinge", "real", ones), [0.0, 1.5])
    np.testing.assert_allclose(value("hinge", "fake", zeros), [3.0, 0.5])
    np.testing.assert_allclose(value("hinge", "generator", ones), [-2.0, 0.5])
    np.testing.assert_allclose(value("wgan-gp", "real", ones), [-2.0, 0.5])
    np.testing.assert_allclose(value("wgan-gp", "fake", zeros), [2.0, -0.5])
    np.testing.assert_allclose(value("lsgan", "real", ones), [1.0, 2.25])
    np.testing.assert_allclose(value("lsgan", "fake", zeros), [4.0, 0.25])
    assert {"bce", "wgan-gp", "hinge", "lsgan"} <= set(LOSSES)
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("wgan")


# --- gradient penalty -----------------------------------------------------------------

def test_gradient_penalty_of_a_linear_critic_is_analytic(rng):
    w = rng.standard_normal(SIDE * SIDE * 3).astype("float32") * 0.2
    real, fake = rng.uniform(-1, 1, (2, 5, SIDE, SIDE, 3)).astype("float32")
    penalty = as_numpy(GradientPenalty(linear_critic(w), seed=1)([real, fake]))
    np.testing.assert_allclose(penalty, np.full((5, 1), (np.linalg.norm(w) - 1) ** 2), rtol=1e-5)


def test_gradient_penalty_is_taken_at_each_samples_interpolate(rng):
    """D(x) = <w, x^2>: grad_x D = 2 w x, so the penalty depends on where x_hat lies.
    With real = 0 and fake = 1 everywhere, x_hat = 1 - eps and |grad| = 2 (1 - eps) |w|,
    below 1 for |w| = 0.4, so penalty = (1 - 0.8 (1 - eps))^2 gives each sample's eps."""
    w = rng.uniform(0.5, 1.0, SIDE * SIDE * 3).astype("float32")
    w *= 0.4 / np.linalg.norm(w)
    critic = keras.Sequential([keras.Input((SIDE, SIDE, 3)), layers.Lambda(keras.ops.square),
                               layers.Flatten(), layers.Dense(1)])
    critic.layers[-1].set_weights([w.reshape(-1, 1), np.zeros(1, "float32")])
    real, fake = np.zeros((2, 64, SIDE, SIDE, 3), "float32") + np.array([0.0, 1.0])[:, None, None, None, None]
    penalty = as_numpy(GradientPenalty(critic, seed=2)([real, fake]))[:, 0]
    eps = 1 - (1 - np.sqrt(penalty)) / 0.8
    assert np.all((eps >= -1e-5) & (eps <= 1 + 1e-5))
    assert 0.2 < np.std(eps) < 0.38  # one eps per sample, uniform: std 0.29


def test_critic_step_follows_the_hand_computed_gradient(rng):
    """One SGD step of the D-phase model with WGAN-GP moves the critic's weights by exactly
    -lr * d/dw [mean D(fake) - mean D(real) + lambda (|w| - 1)^2]: the penalty's gradient
    reaches the weights (double backprop) inside Keras's compiled step."""
    lr, weight = 0.1, 10.0
    w = rng.standard_normal(SIDE * SIDE * 3).astype("float32") * 0.2
    critic, generator = linear_critic(w), tiny_generator()
    trainer = build_discriminator_trainer(generator, critic,
                                          gradient_penalty=GradientPenalty(critic, name="penalty"))
    fns = get_loss("wgan-gp")
    trainer.compile(keras.optimizers.SGD(lr), loss={"real": fns["real"], "fake": fns["fake"],
                                                    "penalty": penalty_loss(weight)})
    generator.trainable = False
    real = rng.uniform(-1, 1, (6, SIDE, SIDE, 3)).astype("float32")
    z = rng.standard_normal((6, LATENT)).astype("float32")
    fake = as_numpy(generator(z))
    dummy = np.zeros((6, 1), "float32")
    trainer.train_on_batch([real, z], {"real": dummy, "fake": dummy, "penalty": dummy})

    norm = np.linalg.norm(w)
    grad = (fake.mean(0) - real.mean(0)).ravel() + weight * 2 * (norm - 1) * w / norm
    new_w, new_b = critic.layers[-1].get_weights()
    np.testing.assert_allclose(new_w.ravel(), w - lr * grad, atol=1e-5)
    np.testing.assert_allclose(new_b, [0.3], atol=1e-6)  # the losses' bias terms cancel


# --- spectral normalisation -----------------------------------------------------------

@pytest.mark.parametrize("layer, shape", [(layers.Conv2D(8, 4, strides=2, padding="same"), (2, 8, 8, 3)),
                                          (layers.Dense(5), (2, 12))])
def test_spectral_norm_matches_numpy_svd(layer, shape, rng):
    keras.utils.set_random_seed(0)  # u's start: convergence in 100 steps depends on it
    wrapped = SpectralNorm(layer)
    x = rng.standard_normal(shape).astype("float32")
    wrapped(x)
    kernel = rng.standard_normal(layer.kernel.shape).astype("float32")
    layer.kernel.assign(kernel)
    matrix = kernel.reshape(-1, kernel.shape[-1])
    top = np.linalg.svd(matrix, compute_uv=False)[0]
    for _ in range(100):  # one power-iteration step per training call
        y = wrapped(x, training=True)
    sigma = float(as_numpy(wrapped.sigma()))
    np.testing.assert_allclose(sigma, top, rtol=1e-3)
    assert np.linalg.svd(matrix / sigma, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-3)
    # The layer computes with kernel / sigma; the stored kernel itself is untouched.
    np.testing.assert_array_equal(as_numpy(layer.kernel), kernel)
    layer.kernel.assign(kernel / top)
    np.testing.assert_allclose(as_numpy(y), as_numpy(layer(x)), rtol=2e-3, atol=1e-4)


def test_frozen_spectral_norm_keeps_its_vector(rng):
    wrapped = SpectralNorm(layers.Dense(3))
    x = rng.standard_normal((2, 6)).astype("float32")
    wrapped(x)
    u = as_numpy(wrapped.u).copy()
    wrapped.trainable = False
    wrapped(x, training=True)
    np.testing.assert_array_equal(as_numpy(wrapped.u), u)
    wrapped.trainable = True
    wrapped(x, training=True)
    assert not np.array_equal(as_numpy(wrapped.u), u)


def test_spectral_discriminator_normalises_every_layer():
    d = build_discriminator(32, 4, "spectral")
    wrapped = [layer for layer in d.layers if isinstance(layer, SpectralNorm)]
    assert len(wrapped) == 4  # three convolutions and the logit
    assert not any("bn" in layer.name for layer in d.layers)


# --- EMA ------------------------------------------------------------------------------

def test_ema_follows_the_update_rule(rng):
    generator = build_generator(32, LATENT, 4)
    ema = GeneratorEMA(generator, decay=0.9)
    for average, current in zip(ema.variables, generator.variables):
        np.testing.assert_array_equal(as_numpy(average), as_numpy(current))
    for step in (1, 200):
        before = [as_numpy(v).copy() for v in ema.variables]
        for v in generator.variables:
            v.assign(rng.standard_normal(v.shape).astype(v.dtype))
        ema.update(step)
        d = min(0.9, (1 + step) / (10 + step))
        assert ema_decay(0.9, step) == d
        for old, average, current in zip(before, ema.variables, generator.variables):
            np.testing.assert_allclose(as_numpy(average), d * old + (1 - d) * as_numpy(current),
                                       rtol=1e-6, atol=1e-6)
    assert ema_decay(0.999, 10**6) == 0.999


# --- DiffAugment ----------------------------------------------------------------------

def test_policy_parsing():
    assert parse_policy("color, cutout") == ("color", "cutout")
    assert parse_policy("") == ()
    with pytest.raises(ValueError, match="unknown augmentation 'zoom'"):
        parse_policy("color,zoom")


@pytest.mark.parametrize("policy", TRANSFORMS)
def test_gradients_reach_the_generator_through_the_augmentation(policy, rng):
    """G trains through D(augment(G(z))): its weights move by the gradient, D's do not."""
    generator = tiny_generator()
    critic = linear_critic(rng.standard_normal(SIDE * SIDE * 3).astype("float32"))
    augment = DiffAugment(policy, seed=3)
    combined = build_gan(generator, critic, augment)
    combined.compile(keras.optimizers.SGD(0.1), loss=get_loss("wgan-gp")["generator"])
    critic.trainable = False
    before = [w.copy() for w in generator.get_weights()]
    z = rng.standard_normal((8, LATENT)).astype("float32")
    loss = combined.train_on_batch(z, np.ones((8, 1), "float32"))
    assert np.isfinite(loss)
    assert all(not np.array_equal(a, b) for a, b in zip(before, generator.get_weights()))
    augmented = as_numpy(augment(as_numpy(generator(z)), training=True))
    assert not np.allclose(augmented, as_numpy(generator(z)))  # it did augment
    images = as_numpy(generator(z))
    np.testing.assert_array_equal(as_numpy(augment(images, training=False)), images)


def test_real_and_generated_images_get_the_same_augmentation(rng):
    """One DiffAugment layer sits in front of D on all three paths, and its transforms do
    not depend on the path: the same image as real and as fake gives D the same
    distribution of augmented views (drawn independently per image)."""
    image = rng.uniform(-1, 1, (SIDE * SIDE * 3,)).astype("float32")
    generator = keras.Sequential([keras.Input((LATENT,)), layers.Dense(SIDE * SIDE * 3),
                                  layers.Reshape((SIDE, SIDE, 3))])
    generator.set_weights([np.zeros((LATENT, SIDE * SIDE * 3), "float32"), image])  # G(z) = image
    probe = keras.Sequential([keras.Input((SIDE, SIDE, 3)), layers.Flatten(),
                              layers.Lambda(lambda x: keras.ops.stack(
                                  [keras.ops.mean(x, 1), keras.ops.std(x, 1),
                                   keras.ops.mean(keras.ops.cast(x == 0, "float32"), 1)], 1))])
    gan = GAN(generator, probe, augment="color,translation,cutout")
    augments = [layer for layer in gan.discriminator_trainer.layers if isinstance(layer, DiffAugment)]
    assert augments == [gan.augment] and gan.augment in gan.gan.layers

    n = 2048
    real = np.broadcast_to(image.reshape(SIDE, SIDE, 3), (n, SIDE, SIDE, 3))
    z = np.zeros((n, LATENT), "float32")
    seen_real, seen_fake = (as_numpy(t) for t in gan.discriminator_trainer([real, z], training=True))
    assert not np.allclose(seen_real, seen_fake)  # independent draws per image
    for stat in range(3):
        a, b = seen_real[:, stat], seen_fake[:, stat]
        spread = max(a.std(), 1e-3)
        assert abs(a.mean() - b.mean()) < 0.15 * spread, stat
        assert abs(a.std() - b.std()) < 0.15 * spread, stat
    plain_real, plain_fake = (as_numpy(t) for t in gan.discriminator_trainer([real, z], training=False))
    np.testing.assert_allclose(plain_real, plain_fake, atol=1e-6)


# --- one step per loss ----------------------------------------------------------------

@pytest.fixture(params=["float32", "mixed_bfloat16"])
def precision(request):
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("loss, normalization, options", [
    ("bce", "batch", {"augment": "color,translation,cutout"}),
    ("wgan-gp", "none", {"n_critic": 2}),
    ("hinge", "spectral", {}),
    ("lsgan", "batch", {"label_smoothing": 0.1}),
])
@pytest.mark.slow
def test_each_loss_trains_a_step_without_nans(loss, normalization, options, precision, rng):
    keras.utils.set_random_seed(0)
    gan = GAN(build_generator(32, LATENT, 4), build_discriminator(32, 4, normalization),
              loss=loss, **options)
    n_critic = options.get("n_critic", 1)
    variables = gan.generator.variables + gan.discriminator.variables
    before = [as_numpy(v).copy() for v in variables]
    for _ in range(2):
        metrics = gan.train_step(rng.uniform(-1, 1, (8 * n_critic, 32, 32, 3)).astype("float32"),
                                 rng.standard_normal((8 * n_critic, LATENT)).astype("float32"),
                                 rng.standard_normal((8, LATENT)).astype("float32"))
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    after = [as_numpy(v) for v in variables]
    assert all(np.isfinite(w).all() for w in after)
    unchanged = [v.path for v, a, b in zip(variables, before, after) if np.array_equal(a, b)]
    # A loss linear in the logits is blind to D's output bias (gradient 1 - 1 = 0): the
    # Wasserstein loss always, the hinge loss while every logit is inside the margin.
    linear = loss == "wgan-gp" or loss == "hinge"
    assert [path.split("/")[-2:] for path in unchanged] == ([["logit", "bias"]] if linear else [])


# --- training runs --------------------------------------------------------------------

TINY = dict(data="synthetic", resolution=32, base_channels=4, latent_dim=8, batch_size=16,
            synthetic_size=64, log_every=1, snapshot_every=1)
VARIANT = dict(loss="wgan-gp", n_critic=2, augment="translation,cutout", ema=0.99, **TINY)


@pytest.mark.slow
def test_variant_run_saves_the_ema_generator_and_resumes_exactly(tmp_path):
    """EMA weights and the augmentation's and penalty's random states are checkpointed: a
    run resumed halfway ends with the same weights as one trained straight through."""
    straight = train(tmp_path / "straight", epochs=2, **VARIANT)
    assert (straight / "generator_ema.keras").exists()
    assert (straight / "snapshots" / "generator_ema_epoch_0002.keras").exists()
    train(tmp_path / "split", epochs=1, **VARIANT)
    split = resume(tmp_path / "split", epochs=2)
    a, b = Trainer(straight), Trainer(split)
    assert a.step == b.step == 2 * (64 // (16 * 2))
    for group_a, group_b in zip(a._extra_variables().values(), b._extra_variables().values()):
        assert len(group_a) > 0
        for x, y in zip(group_a, group_b):
            np.testing.assert_allclose(as_numpy(x), as_numpy(y), atol=1e-5)
    for x, y in zip(a.gan.generator.variables, b.gan.generator.variables):
        np.testing.assert_allclose(as_numpy(x), as_numpy(y), atol=1e-5)
    assert a.sampler is a.ema.model


def test_wgan_gp_discriminator_has_no_batchnorm(tmp_path):
    trainer = Trainer(tmp_path / "run", TrainConfig(loss="wgan-gp", **TINY))
    assert not any("bn" in layer.name for layer in trainer.gan.discriminator.layers)
    assert Trainer(tmp_path / "run2", TrainConfig(**TINY)).ema is None


@pytest.mark.slow
def test_cli_variant_flags_reach_the_run_config(tmp_path, capsys):
    from facegan.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", "synthetic", "--synthetic-size", "32", "--resolution", "32",
                 "--base-channels", "4", "--latent-dim", "8", "--batch-size", "16", "--epochs", "1",
                 "--out", str(out), "--quiet", "--preset", "recommended", "--loss", "hinge",
                 "--spectral-norm", "--ema", "--augment", "cutout", "--upsampling", "nearest"]) == 0
    config = json.loads((out / "config.json").read_text())["config"]
    assert (config["loss"], config["spectral_norm"], config["ema"], config["augment"],
            config["upsampling"]) == ("hinge", True, 0.999, "cutout", "nearest")
    assert Trainer(out).gan.generator.get_layer("up32_nearest")  # resumed as it was built
    assert (out / "generator_ema.keras").exists()
    for bad in (["--loss", "wgan"], ["--augment", "zoom"], ["--upsampling", "bilinear"]):
        with pytest.raises(SystemExit) as exit_:
            main(["train", *bad])
        assert exit_.value.code == 2
    assert "must be one of" in capsys.readouterr().err
