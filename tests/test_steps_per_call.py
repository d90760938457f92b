"""Several training steps per call (--steps-per-call K) against K single steps, on the
backend in $KERAS_BACKEND; tests/test_backends.py runs the step's test on JAX too, where
the K steps are one compiled `lax.scan`."""

import json
import os
import signal

import keras
import numpy as np
import pandas as pd
import pytest
from test_fused import LATENT, batches, networks

from facegan.cli import main
from facegan.errors import FaceganError
from facegan.training.config import TrainConfig
from facegan.training.ema import GeneratorEMA
from facegan.training.fused import FUSED_BACKENDS, FusedGAN
from facegan.training.loop import Trainer, resume
from facegan.training.runs import variable_groups

K = 3
TINY = dict(data="synthetic", resolution=32, base_channels=4, latent_dim=LATENT, batch_size=8,
            synthetic_size=40, log_every=2, snapshot_every=10, checkpoint_every=6)
fused_backend = pytest.mark.skipif(keras.backend.backend() not in FUSED_BACKENDS,
                                   reason=f"the fused step runs on {', '.join(FUSED_BACKENDS)}")


def state(gan, ema):
    """Every variable of G, D, both optimizers and the EMA, by name."""
    return {f"{group}/{i}": keras.ops.convert_to_numpy(v).copy()
            for group, variables in variable_groups(gan, {"ema": ema.variables}).items()
            for i, v in enumerate(variables)}


def assert_close(expected, got):
    """Bitwise on TensorFlow and PyTorch, where train_steps makes the very same train_step
    calls. Not on JAX: XLA compiles the scan apart from the single step and rounds otherwise
    (a scan of one step differs too), by up to 1e-5 of an array's largest value after 6
    steps on this CPU. The tolerance is 1e-4 of it; a lost step, or the EMA's decay one
    step late, moves most arrays by 1e-2 of theirs or more."""
    assert expected.keys() == got.keys()
    for key in expected:
        if keras.backend.backend() == "jax":
            scale = np.abs(expected[key]).max()
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-4 * scale,
                                       err_msg=key)
        else:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


@fused_backend
def test_k_steps_in_one_call_equal_k_single_steps(rng):
    """Two calls, so that the second reuses the traced function; the EMA's decay ramps up
    over these steps, so each step must see its own."""
    single, several = FusedGAN(*networks()), FusedGAN(*networks())
    single_ema, several_ema = (GeneratorEMA(gan.generator, 0.9) for gan in (single, several))
    data = batches(rng)
    for call in range(2):
        inputs = [next(data) for _ in range(K)]
        expected = []
        for step, batch in enumerate(inputs, start=call * K + 1):
            expected.append(single.train_step(*batch))
            single_ema.update(step)
        got = several.train_steps(*(np.stack(x) for x in zip(*inputs)), ema=several_ema,
                                  step=call * K)
        assert len(got) == K
        for e, g in zip(expected, got):
            assert_close(e, g)
    assert_close(state(single, single_ema), state(several, several_ema))


def checkpoint(run):
    with np.load(run / "checkpoint.npz") as saved:
        arrays = {k: saved[k] for k in saved.files if k != "state"}
        return arrays, json.loads(saved["state"].tobytes().decode())


@pytest.mark.slow
@fused_backend
def test_a_run_with_several_steps_per_call_matches_single_steps(tmp_path, monkeypatch):
    """5 steps an epoch, a checkpoint every 6. K = 2 for the first epoch, then resumed with
    K = 3 and Ctrl-C pressed during steps 7 to 9, then resumed again: calls end at multiples
    of K, where checkpoints fall, and at epochs' ends, and Ctrl-C takes effect between them."""
    settings = dict(TINY, step="fused", ema=0.9)
    Trainer(tmp_path / "single", TrainConfig(epochs=2, **settings)).fit(verbose=0)

    calls, train_steps = [], FusedGAN.train_steps

    def spy(gan, real, z_for_d, z_for_g, ema, step):
        calls.append(len(real))
        if step == 6:
            os.kill(os.getpid(), signal.SIGINT)
        return train_steps(gan, real, z_for_d, z_for_g, ema, step)
    monkeypatch.setattr(FusedGAN, "train_steps", spy)
    Trainer(tmp_path / "several", TrainConfig(epochs=1, steps_per_call=2, **settings)).fit(
        verbose=0)
    resumed = Trainer(tmp_path / "several")  # K is no model setting: a resumed run may change it
    resumed.config.epochs, resumed.config.steps_per_call = 2, 3
    with pytest.raises(KeyboardInterrupt):
        resumed.fit(verbose=0)
    assert resumed.step == 9
    resume(tmp_path / "several")
    assert calls == [2, 2, 1] + [1, 3] + [1]

    (expected, expected_state), (got, got_state) = (checkpoint(tmp_path / "single"),
                                                    checkpoint(tmp_path / "several"))
    assert_close(expected, got)
    assert (got_state["step"], got_state["rng"]) == (expected_state["step"], expected_state["rng"])
    single, several = (pd.read_csv(tmp_path / run / "history.csv") for run in ("single", "several"))
    assert single["step"].tolist() == several["step"].tolist() == [2, 4, 5, 6, 8, 10]
    assert single["epoch"].tolist() == several["epoch"].tolist()
    losses = ["d_loss", "g_loss", "d_acc_real", "d_acc_fake"]
    np.testing.assert_allclose(several[losses], single[losses], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("settings, message", [
    (dict(steps_per_call=2), "--steps-per-call 2 needs --step fused"),
    (dict(steps_per_call=4, step="fused"),
     "--checkpoint-every 6 is not a multiple of --steps-per-call 4"),
    (dict(steps_per_call=0, step="fused"), "steps per call must be a positive integer, got 0"),
])
def test_impossible_steps_per_call_are_refused(tmp_path, settings, message):
    with pytest.raises(FaceganError, match=message):
        Trainer(tmp_path / "run", TrainConfig(**TINY, **settings))
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


def test_a_resumed_run_is_refused_an_impossible_steps_per_call(tmp_path, capsys):
    trainer = Trainer(tmp_path / "run", TrainConfig(step="fused", **TINY))
    trainer.config.steps_per_call = 4  # as `train --resume RUN --steps-per-call 4` sets it
    with pytest.raises(FaceganError, match="not a multiple of --steps-per-call 4"):
        trainer.fit(verbose=0)
    assert trainer.step == 0
    capsys.readouterr()  # the Trainer's own log lines: only the CLI's output is checked below
    code = main(["train", "--steps-per-call", "2", "--out", str(tmp_path / "cli"),
                 "--resolution", "32", "--quiet"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and lines == ["facegan train: error: --steps-per-call 2 needs --step "
                                   "fused: the combined-model step trains one step per call"]

