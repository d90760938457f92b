import numpy as np
import pytest

from facegan.networks import RESOLUTIONS, build_discriminator, build_generator, count_macs


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_shapes_at_every_resolution(resolution):
    g = build_generator(resolution, latent_dim=16, base_channels=4)
    d = build_discriminator(resolution, base_channels=4)
    images = np.asarray(g(np.random.default_rng(0).standard_normal((2, 16)), training=False))
    assert images.shape == (2, resolution, resolution, 3)
    assert np.all(np.abs(images) <= 1.0)  # tanh
    assert np.asarray(d(images)).shape == (2, 1)


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
