"""Data-parallel training on 2 virtual CPU devices (JAX, keras.distribution.DataParallel)
computes the same losses and weights as one device, by either step path. JAX runs in a
subprocess: the device count is fixed when JAX starts, and Keras picks its backend once
per process."""

import os
import subprocess
import sys
import textwrap

import keras
import pytest

from facegan.distribute import use_devices
from facegan.errors import FaceganError

SCRIPT = textwrap.dedent("""
    import keras, numpy as np
    from facegan.distribute import use_devices
    from facegan.fused import FusedGAN
    from facegan.gan import GAN
    from facegan.networks import build_discriminator, build_generator

    def train(devices, step):
        use_devices(devices, batch_size=8)
        keras.utils.set_random_seed(0)
        gan = step(build_generator(32, 8, 4), build_discriminator(32, 4))
        if step is FusedGAN:  # record how much of each real batch one device gets
            jitted = gan._jitted

            def spy(values, real, *z):
                shard.append(real.addressable_shards[0].data.shape[0])
                return jitted(values, real, *z)
            gan._jitted = spy
        rng = np.random.default_rng(0)
        losses = []
        for _ in range(2):
            real = rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
            z_d, z_g = rng.standard_normal((2, 8, 8)).astype("float32")
            m = gan.train_step(real, z_d, z_g)
            losses.append([m["d_loss"], m["g_loss"]])
        kernel = gan.generator.get_layer("up32").kernel.value
        return np.array(losses), np.asarray(kernel), len(kernel.sharding.device_set)

    for step in (GAN, FusedGAN):
        shard = []
        one, one_kernel, one_devices = train(1, step)
        two, two_kernel, two_devices = train(2, step)
        assert (one_devices, two_devices) == (1, 2), (one_devices, two_devices)
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(two_kernel, one_kernel, rtol=1e-3, atol=1e-6)
        print(step.__name__, "losses", one.tolist(), two.tolist())
    assert shard == [8, 8, 4, 4], shard  # the fused step splits the batch, as GAN's does
""")


def test_two_devices_train_like_one():
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "losses" in done.stdout


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="checks the other backends")
def test_devices_need_jax():
    use_devices(1, 64)  # one device is always fine
    with pytest.raises(FaceganError, match="needs the jax backend"):
        use_devices(2, 64)
