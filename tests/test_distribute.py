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

from facegan.errors import FaceganError
from facegan.training.distribute import use_devices

SCRIPT = textwrap.dedent("""
    import keras, numpy as np
    from facegan.networks.dcgan import build_discriminator, build_generator
    from facegan.training.distribute import use_devices
    from facegan.training.fused import FusedGAN
    from facegan.training.gan import GAN

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


@pytest.mark.slow
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


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(out, *flags, processes=1, devices_per_process=2, resume=False):
    """`facegan train` as `processes` local processes joined on the loopback address (jax,
    virtual CPU devices), or one process on `devices_per_process` devices."""
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_per_process}"}
    command = [sys.executable, "-m", "facegan", "train", "--quiet"]
    command += ["--resume", str(out), *flags] if resume else [
        "--out", str(out), "--data", "synthetic", "--synthetic-size", "96", "--resolution", "32",
        "--base-channels", "4", "--latent-dim", "8", "--batch-size", "16", "--log-every", "1",
        "--checkpoint-every", "2", "--ema", "0.9", *flags]
    if processes > 1:
        command += ["--processes", str(processes), "--coordinator", f"127.0.0.1:{_free_port()}"]
    jobs = [subprocess.Popen(command + ["--process-id", str(i)] * (processes > 1), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(processes)]
    for job in jobs:
        out_, err = job.communicate(timeout=600)
        assert job.returncode == 0, out_[-2000:] + err[-4000:]


def _weights(run):
    import numpy as np

    saved = np.load(run / "checkpoint.npz")
    return {name: saved[name] for name in saved.files if name != "state"}


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume(tmp_path):
    """Two processes on the loopback address, one virtual CPU device each, each feeding its
    half of every batch, compute the run one process computes on two devices: the same
    history, weights, optimizer states and EMA, across a stop and a resume from the
    checkpoint that process 0 alone wrote."""
    import numpy as np
    import pandas as pd

    _train(tmp_path / "one", "--epochs", "2", "--devices", "2")
    _train(tmp_path / "split", "--epochs", "1", processes=2, devices_per_process=1)
    _train(tmp_path / "split", "--epochs", "2", processes=2, devices_per_process=1, resume=True)
    one = pd.read_csv(tmp_path / "one" / "history.csv")
    assert len(one) == 2 * 96 // 16
    reference = _weights(tmp_path / "one")
    split = pd.read_csv(tmp_path / "split" / "history.csv")
    for key in ("step", "d_loss", "g_loss", "d_acc_real", "d_acc_fake"):
        np.testing.assert_allclose(split[key], one[key], rtol=1e-4, atol=1e-5)
    weights = _weights(tmp_path / "split")
    assert weights.keys() == reference.keys()
    for name in reference:
        np.testing.assert_allclose(weights[name], reference[name], rtol=1e-3, atol=1e-5,
                                   err_msg=name)
    log = (tmp_path / "split" / "log.txt").read_text()
    assert log.count("backend jax, 2 processes") == 2  # once per start: process 1 wrote nothing
    assert "resumed" in log and not (tmp_path / "split" / "lock").exists()


def test_processes_need_a_coordinator(capsys):
    from facegan.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--processes", "2"])
    assert exit_.value.code == 2
    assert "--processes 2 needs --coordinator HOST:PORT" in capsys.readouterr().err


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="checks the other backends")
def test_processes_need_jax(tmp_path, capsys):
    from facegan.cli import main

    code = main(["train", "--processes", "2", "--coordinator", "127.0.0.1:1",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1, err
    assert "--processes 2 needs the jax backend" in err
    assert not (tmp_path / "run").exists()
