import numpy as np
import pytest
from keras.ops import convert_to_numpy

from facegan.networks.dcgan import RESOLUTIONS, build_discriminator, build_generator, count_macs


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_shapes_at_every_resolution(resolution):
    g = build_generator(resolution, latent_dim=16, base_channels=4)
    d = build_discriminator(resolution, base_channels=4)
    images = convert_to_numpy(g(np.random.default_rng(0).standard_normal((2, 16)), training=False))
    assert images.shape == (2, resolution, resolution, 3)
    assert np.all(np.abs(images) <= 1.0)  # tanh
    assert convert_to_numpy(d(images)).shape == (2, 1)


def test_blocks_are_added_not_copied():
    convs = {r: sum("up" in layer.name and "_bn" not in layer.name
                    for layer in build_generator(r, base_channels=4).layers) for r in (32, 64, 128)}
    assert convs == {32: 3, 64: 4, 128: 5}


def test_default_64_costs_about_a_tenth_of_a_gmac_per_image():
    # The DCGAN paper's sizes; the keras-io face example's 512-channel layer costs 2.5 GMAC.
    assert 0.09e9 < count_macs(build_generator(64)) < 0.12e9
    assert 0.09e9 < count_macs(build_discriminator(64)) < 0.12e9


def test_weights_start_normal_with_std_002():
    kernels = np.concatenate([np.ravel(w) for w in build_generator(64).get_weights()
                              if w.ndim == 4])
    assert abs(kernels.mean()) < 1e-3 and abs(kernels.std() - 0.02) < 1e-3


@pytest.mark.parametrize("kwargs, message", [
    (dict(resolution=48), r"resolution must be one of \(32, 64, 128, 256\)"),
    (dict(resolution=64, latent_dim=0), "latent_dim must be a positive integer"),
    (dict(resolution=64, base_channels=-8), "base_channels must be a positive integer"),
])
def test_bad_sizes_raise_value_error_naming_allowed_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_generator(**kwargs)


def test_discriminator_rejects_unknown_normalization():
    with pytest.raises(ValueError, match="normalization must be one of"):
        build_discriminator(64, normalization="layer")


@pytest.mark.parametrize("frozen", [False, True])
def test_batch_norm_trains_on_batch_statistics(frozen):
    """Training-mode BatchNorm against NumPy, on every backend (torch has a fused fast path):
    the output, the moving statistics, which only a trainable layer updates, and the
    gradients that reach gamma and beta."""
    import keras

    from facegan.networks.layers import BatchNorm

    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (8, 4, 4, 5)).astype("float32")
    w = rng.normal(size=x.shape).astype("float32")
    gamma = rng.normal(1.0, 0.1, 5).astype("float32")
    beta = rng.normal(0.0, 0.1, 5).astype("float32")
    start = [gamma, beta, np.full(5, 0.5, "float32"), np.full(5, 2.0, "float32")]
    layer = BatchNorm(momentum=0.9, epsilon=1e-5)
    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    layer.set_weights(start)
    layer.trainable = not frozen

    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    x_hat = (x - mean) / np.sqrt(var + 1e-5)
    y = convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(y, gamma * x_hat + beta, rtol=1e-4, atol=1e-4)
    _, _, moving_mean, moving_var = layer.get_weights()
    np.testing.assert_allclose(moving_mean, 0.5 if frozen else 0.9 * 0.5 + 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(moving_var, 2.0 if frozen else 0.9 * 2.0 + 0.1 * var, rtol=1e-5)
    if frozen:
        return

    layer.set_weights(start)  # one SGD step on mean(y * w): the gradients, analytically
    model.compile(optimizer=keras.optimizers.SGD(1.0),
                  loss=lambda target, y: keras.ops.mean(y * target))
    model.train_on_batch(x, w)
    new_gamma, new_beta, _, _ = layer.get_weights()
    np.testing.assert_allclose(new_gamma, gamma - (w * x_hat).sum((0, 1, 2)) / w.size,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(new_beta, beta - w.sum((0, 1, 2)) / w.size, rtol=1e-4, atol=1e-6)


def test_batch_norm_in_mixed_bfloat16_computes_what_keras_computes():
    """Under mixed_bfloat16 (bfloat16 activations, float32 statistics and weights) the
    training-mode BatchNorm, fused kernels included, gives Keras's own layer's output to
    bfloat16 rounding and the same moving statistics."""
    import keras

    from facegan.networks.layers import BatchNorm

    x = np.random.default_rng(0).normal(2.0, 3.0, (8, 4, 4, 5)).astype("float32")
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        ours, theirs = BatchNorm(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9)
        outputs = [ours(x, training=True), theirs(x, training=True)]
    finally:
        keras.config.set_dtype_policy("float32")
    assert {keras.backend.standardize_dtype(y.dtype) for y in outputs} == {"bfloat16"}
    np.testing.assert_allclose(*(convert_to_numpy(keras.ops.cast(y, "float32")) for y in outputs),
                               rtol=2e-2, atol=2e-2)
    for mine, keras_own in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_own, rtol=1e-4)


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_nearest_neighbour_generator_has_the_same_shapes(resolution):
    g = build_generator(resolution, latent_dim=16, base_channels=4, upsampling="nearest")
    images = convert_to_numpy(g(np.random.default_rng(0).standard_normal((2, 16)), training=False))
    assert images.shape == (2, resolution, resolution, 3)
    assert np.all(np.abs(images) <= 1.0)


@pytest.mark.parametrize("upsampling, checkerboard", [("transposed", True), ("nearest", False)])
def test_only_transposed_convolutions_draw_a_checkerboard_on_a_flat_input(upsampling, checkerboard):
    """Odena et al. 2016: a flat feature map through a random stride-2 transposed
    convolution comes out with a period-2 pattern; through nearest-neighbour upsampling and
    a convolution it stays flat away from the border."""
    import keras

    g = build_generator(64, latent_dim=16, base_channels=4, upsampling=upsampling)
    start = g.get_layer("project_bn").output
    block = keras.Model(start, g.get_layer("up8").output)
    flat = np.ones((1, 4, 4, start.shape[-1]), "float32")
    interior = convert_to_numpy(block(flat))[0, 2:-2, 2:-2]  # (4, 4, C)
    spread = np.abs(interior - interior[:1, :1]).max()
    assert (spread > 1e-3) == checkerboard, spread


def test_nearest_neighbour_upsampling_costs_nine_quarters_of_the_convolutions():
    transposed = count_macs(build_generator(64, base_channels=8))
    nearest = count_macs(build_generator(64, base_channels=8, upsampling="nearest"))
    dense = 100 * 4 * 4 * 8 * 8
    assert nearest - dense == pytest.approx(9 / 4 * (transposed - dense))


def test_unknown_upsampling_is_refused():
    with pytest.raises(ValueError, match="upsampling must be one of"):
        build_generator(64, upsampling="bilinear")


def test_generators_are_saved_and_loaded_in_keras_classes_computing_in_float32(tmp_path):
    """Mixed-precision training keeps float32 weights but marks every layer bfloat16, and the
    networks are built from facegan's layers; a saved generator carries neither to every
    machine that loads it (files saved so before are converted on loading)."""
    import json
    import zipfile

    import keras

    from facegan.networks.sampling import load_generator
    from facegan.training.runs import save_model

    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = build_generator(32, latent_dim=8, base_channels=4)
    finally:
        keras.config.set_dtype_policy("float32")
    assert "mixed_bfloat16" in {layer.dtype_policy.name for layer in mixed.layers}
    reference = build_generator(32, latent_dim=8, base_channels=4)  # float32, same weights
    reference.set_weights(mixed.get_weights())
    z = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")

    mixed.save(tmp_path / "mixed.keras")  # as runs saved generators before
    save_model(mixed, tmp_path / "saved.keras")
    old_config, saved_config = (zipfile.ZipFile(tmp_path / name).read("config.json").decode()
                                for name in ("mixed.keras", "saved.keras"))
    assert "mixed_bfloat16" in old_config and "facegan>BatchNorm" in old_config
    assert "mixed_bfloat16" not in saved_config and "facegan" not in saved_config
    for name in ("mixed.keras", "saved.keras"):
        loaded = load_generator(tmp_path / name)
        assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}, name
        assert all(type(layer).__module__.startswith("keras.") for layer in loaded.layers), name
        assert all(np.array_equal(a, b) for a, b in
                   zip(loaded.get_weights(), mixed.get_weights(), strict=True)), name
        np.testing.assert_array_equal(convert_to_numpy(loaded(z, training=False)),
                                      convert_to_numpy(reference(z, training=False)))


def test_saved_generators_load_in_keras_without_facegan(tmp_path, load_without_facegan):
    """keras.saving.load_model reads a generator saved by facegan where facegan cannot be
    imported (a Colab without it, a model hub) and gives what facegan's loader gives; a file
    naming facegan's classes, as runs saved them before, does not load there."""
    from facegan.networks.dcgan import UPSAMPLINGS
    from facegan.networks.sampling import load_generator
    from facegan.training.runs import save_model

    rng = np.random.default_rng(0)
    generators = {}
    for upsampling in UPSAMPLINGS:  # facegan's BatchNorm, Conv2D and Conv2DTranspose
        generator = build_generator(32, latent_dim=8, base_channels=4, upsampling=upsampling)
        generator.set_weights([  # every weight matters, BatchNorm's moving statistics too
            rng.uniform(0.5, 1.5, w.shape) if "variance" in w.path else rng.normal(0, 0.3, w.shape)
            for w in generator.weights])
        save_model(generator, tmp_path / f"{upsampling}.keras")
        generators[tmp_path / f"{upsampling}.keras"] = generator
    generator.save(tmp_path / "facegan_classes.keras")  # as runs saved generators before
    z = rng.normal(size=(4, 8)).astype("float32")

    *outputs, refused = load_without_facegan([*generators, tmp_path / "facegan_classes.keras"], z)
    assert "Could not locate class 'BatchNorm'" in str(refused), refused
    for (path, generator), output in zip(generators.items(), outputs, strict=True):
        assert isinstance(output, np.ndarray), output
        expected = convert_to_numpy(generator(z, training=False))
        assert 0.1 < expected.std() and np.abs(expected).max() < 1  # tanh, not saturated
        for loaded in (output, convert_to_numpy(load_generator(path)(z, training=False))):
            np.testing.assert_allclose(loaded, expected, rtol=1e-5, atol=1e-5)


CONVOLUTIONS = [  # (layer, kernel, strides, padding, input size, torch fast path taken)
    ("Conv2D", 4, 2, "same", 8, True), ("Conv2D", 3, 1, "same", 8, True),
    ("Conv2D", 4, 2, "valid", 8, True), ("Conv2D", 3, 2, "same", 8, False),
    ("Conv2DTranspose", 4, 2, "same", 4, True), ("Conv2DTranspose", 3, 1, "same", 4, True),
    ("Conv2DTranspose", 4, 2, "valid", 4, True), ("Conv2DTranspose", 3, 2, "same", 4, False),
]


@pytest.mark.parametrize("name, kernel, strides, padding, size, fast", CONVOLUTIONS)
def test_convolutions_compute_what_keras_computes(name, kernel, strides, padding, size, fast):
    """facegan's convolutions against Keras's own layer with the same weights: the output,
    and the weights after one SGD step (the gradients). This bites on torch, where the
    covered configurations must take the fast path (tests/test_backends.py runs it there);
    on the other backends the layers are Keras's own."""
    import keras

    from facegan.networks import layers

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, size, size, 5)).astype("float32")
    config = dict(filters=6, kernel_size=kernel, strides=strides, padding=padding,
                  use_bias=True, bias_initializer="random_normal")
    ours, theirs = getattr(layers, name)(**config), getattr(keras.layers, name)(**config)
    models = [keras.Sequential([keras.Input(x.shape[1:]), layer]) for layer in (ours, theirs)]
    ours.set_weights(theirs.get_weights())
    if keras.backend.backend() == "torch":
        assert (ours._torch_padding(keras.ops.convert_to_tensor(x)) is not None) == fast
    outputs = [convert_to_numpy(model(x)) for model in models]
    assert outputs[0].shape == outputs[1].shape
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)

    target = rng.normal(size=outputs[0].shape).astype("float32")
    for model in models:
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.train_on_batch(x, target)
    for after, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-6)
