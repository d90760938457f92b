"""Fault injection: what a run keeps when it is killed, diverges, fills the disk, meets a
second process, or is handed bad flags and bad files. Every case asserts what is kept
(checkpoint bytes, final weights bit for bit, history rows), not only that an error
appears. Tiny models on synthetic faces keep it fast; kills need their own processes."""

import errno
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pandas as pd
import pytest

from facegan.cli import main
from facegan.errors import WorkFailed
from facegan.networks.sampling import load_generator
from facegan.training.config import TrainConfig
from facegan.training.loop import Trainer
from facegan.training.runs import RunDir

# 128 faces, batch 16: 8 steps an epoch. A checkpoint every 3 steps, a history row every 2:
# checkpoints fall inside logging intervals, which a resume must continue, not restart.
TINY = dict(data="synthetic", resolution=32, base_channels=4, latent_dim=8, batch_size=16,
            synthetic_size=128, log_every=2, checkpoint_every=3, snapshot_every=10)
TINY_ARGS = ["--data", "synthetic", "--resolution", "32", "--base-channels", "4",
             "--latent-dim", "8", "--batch-size", "16", "--synthetic-size", "128",
             "--log-every", "2", "--checkpoint-every", "3", "--snapshot-every", "10", "--quiet"]
LOSS_COLUMNS = ["step", "epoch", "d_loss", "g_loss", "d_acc_real", "d_acc_fake"]


def run_cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    return code, capsys.readouterr().err.strip().splitlines()


def weights(path):
    return load_generator(path).get_weights()


def assert_same_weights(a, b):
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def checkpoint_state(run):
    with np.load(RunDir(run).checkpoint) as saved:
        return json.loads(saved["state"].tobytes())


# A line of C++ log in absl's format (TensorFlow's), e.g.
# "E0000 00:00:1796585519.664974    3750 meta_optimizer.cc:967] remapper failed: ..."
CPP_LOG_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] ")


def assert_project_lines_only(stderr):
    """Quiet console: it shows facegan's own lines, none of the backend's notices (oneDNN,
    CUDA drivers, cuInit), which go to the run's log.txt instead, and no C++ log line."""
    noise = [line for line in stderr.splitlines() if CPP_LOG_LINE.match(line) or any(
        word in line for word in ("oneDNN", "cuda", "cuInit", "absl", "E0000", "I0000"))]
    assert not noise, noise


def in_subprocess(script, *argv, limit_file_size=None, timeout=300):
    """`script` (Python, with `main` imported) in a fresh process, as the CLI runs."""
    code = "import sys\nfrom facegan.cli import main\n" + script

    def limit():
        if limit_file_size:  # Python ignores SIGXFSZ: a write past the limit fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))
    return subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limit)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 2-epoch run: what every interrupted one must end up equal to."""
    run = tmp_path_factory.mktemp("straight") / "run"
    Trainer(run, TrainConfig(epochs=2, **TINY)).fit(verbose=0)
    return run


KILL_POINTS = {
    # SIGKILL after the 3rd checkpoint's temporary file is written, before its rename
    "checkpoint-write": """
        import os, signal
        from facegan.training import runs
        rename, renames = os.replace, []
        def replace(src, dst):
            renames.append(dst) if str(dst).endswith("checkpoint.npz") else None
            if len(renames) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            rename(src, dst)
        runs.os.replace = replace
    """,
    # SIGKILL inside step 11, between its D update and its G update
    "mid-step": """
        import os, signal
        from facegan.training.gan import GAN
        train_generator, calls = GAN.train_generator, []
        def killing(self, z):
            calls.append(1)
            if len(calls) == 11:
                os.kill(os.getpid(), signal.SIGKILL)
            return train_generator(self, z)
        GAN.train_generator = killing
    """,
    # SIGKILL while the final generator is saved (its temporary file written)
    "generator-write": """
        import os, signal
        from facegan.training import runs
        def dying(model, path):
            model.save(path.with_name("generator.tmp.keras"))
            os.kill(os.getpid(), signal.SIGKILL)
        runs.save_model = dying
        import facegan.training.loop
        facegan.training.loop.save_model = dying
    """,
}


@pytest.mark.slow
@pytest.mark.parametrize("point, resumes_at, leftover", [
    ("checkpoint-write", 6, ["checkpoint.tmp.npz"]), ("mid-step", 9, []),
    ("generator-write", 16, ["generator.tmp.keras"])])
def test_a_killed_run_resumes_to_the_uninterrupted_weights_and_history(
        tmp_path, straight, point, resumes_at, leftover):
    run = tmp_path / "run"
    killed = in_subprocess(textwrap.dedent(KILL_POINTS[point]) + "main(sys.argv[1:])", "train", *TINY_ARGS,
                           "--epochs", 2, "--out", run)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert checkpoint_state(run)["step"] == resumes_at  # the previous checkpoint, whole
    assert sorted(p.name for p in run.glob("*.tmp.*")) == leftover  # overwritten on resume
    trainer = Trainer(run)
    assert trainer.step == resumes_at
    trainer.fit(verbose=0)
    assert_same_weights(weights(run / "generator.keras"), weights(straight / "generator.keras"))
    pd.testing.assert_frame_equal(pd.read_csv(run / "history.csv")[LOSS_COLUMNS],
                                  pd.read_csv(straight / "history.csv")[LOSS_COLUMNS])


@pytest.mark.slow
def test_ctrl_c_stops_between_steps_saves_and_exits_130(tmp_path, straight):
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "facegan", "train", *TINY_ARGS,
                                "--epochs", "1000", "--out", run],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "checkpoint.npz").exists() and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    assert process.stderr.read().splitlines()[-1] == (
        "facegan train: interrupted; resume with --resume RUN_DIR")
    step = checkpoint_state(run)["step"]
    assert f"interrupted at step {step}; checkpoint saved" in (run / "log.txt").read_text()
    epochs = max(2, math.ceil(step / 8))
    reference = straight if epochs == 2 else Trainer(
        tmp_path / "reference", TrainConfig(epochs=epochs, **TINY)).fit(verbose=0)
    trainer = Trainer(run)  # the interrupted step was not half done: the resume is exact
    trainer.config.epochs = epochs
    trainer.fit(verbose=0)
    assert_same_weights(weights(run / "generator.keras"), weights(reference / "generator.keras"))


def poisoned_batches(monkeypatch, at_call):
    """Real batches, except the `at_call`-th, which is all NaN (a corrupt image decoder)."""
    import facegan.training.loop

    real, calls = facegan.training.loop.to_model_input, []

    def poisoned(*args):
        calls.append(1)
        batch = real(*args)
        return np.full_like(batch, np.nan) if len(calls) == at_call else batch
    monkeypatch.setattr(facegan.training.loop, "to_model_input", poisoned)


@pytest.mark.slow
@pytest.mark.parametrize("step", ["combined", "fused"])
def test_a_nan_batch_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, step):
    run = tmp_path / "run"
    trainer = Trainer(run, TrainConfig(epochs=1, step=step, **TINY))
    poisoned_batches(monkeypatch, at_call=5)
    with pytest.raises(WorkFailed, match="training diverged at step 5: the discriminator's loss "
                                         "is nan .*the checkpoint of step 3 is intact"):
        trainer.fit(verbose=0)
    good = RunDir(run).checkpoint.read_bytes()
    assert checkpoint_state(run)["step"] == 3
    assert not (run / "generator.keras").exists() and not (run / "lock").exists()
    assert pd.read_csv(run / "history.csv")["step"].tolist() == [2, 4]
    monkeypatch.undo()
    resumed = Trainer(run)  # the run goes on from the good checkpoint
    assert RunDir(run).checkpoint.read_bytes() == good and resumed.step == 3
    resumed.fit(verbose=0)
    assert all(np.isfinite(w).all() for w in weights(run / "generator.keras"))


@pytest.mark.slow
def test_a_nan_weight_no_loss_shows_is_never_saved(tmp_path):
    """NaN in G's BatchNorm moving variance: training-mode losses stay finite (they use
    batch statistics), so only the weight check before every write can catch it."""
    run = tmp_path / "run"
    trainer = Trainer(run, TrainConfig(epochs=3, **TINY))

    def poison(trainer, epoch):
        if epoch == 1:
            variance = next(v for v in trainer.gan.generator.variables
                            if "moving_variance" in v.path)
            variance.assign(np.full(variance.shape, np.nan, "float32"))

    with pytest.raises(WorkFailed, match=r"non-finite weights in the generator \(.*moving_variance"
                                         r"\) when checkpointing step 9"):
        trainer.fit(on_epoch_end=poison, verbose=0)
    assert checkpoint_state(run)["step"] == 8  # epoch 1's checkpoint
    assert not (run / "samples" / "epoch_0002.png").exists()


@pytest.mark.slow
def test_diverging_learning_rate_exits_1_with_one_line(tmp_path, capsys):
    code, lines = run_cli(capsys, "train", *TINY_ARGS, "--epochs", 1, "--lr", "1e30",
                          "--out", tmp_path / "run")
    assert code == 1 and len(lines) == 1, lines
    assert "training diverged at step" in lines[0] and "try a lower --lr" in lines[0]
    assert not (tmp_path / "run" / "generator.keras").exists()


def test_the_collapse_signal_warns_once_without_stopping(tmp_path, caplog):
    trainer = Trainer(tmp_path / "run", TrainConfig(epochs=1, **TINY))
    collapsed = {"d_loss": 0.0, "g_loss": 50.0, "d_acc_real": 1.0, "d_acc_fake": 1.0}
    healthy = {**collapsed, "g_loss": 2.0}
    with caplog.at_level("WARNING", logger="facegan"):
        for row in [collapsed] * 4 + [healthy] + [collapsed] * 12:
            trainer.history._check_collapse(row)
    warnings = [r for r in caplog.records if "may have collapsed" in r.message]
    assert len(warnings) == 1  # after 5 rows in a row, counted afresh after the healthy one
    assert "above 10 for 5 history rows" in warnings[0].message


@pytest.mark.slow
def test_a_full_disk_fails_the_checkpoint_write_and_keeps_the_previous_one(tmp_path, straight):
    """A real write limit: RLIMIT_FSIZE makes every write past it fail (EFBIG), as a full
    disk does; the checkpoint (G, D and Adam's moments) is the run's largest file."""
    run = tmp_path / "run"
    Trainer(run, TrainConfig(epochs=1, **{**TINY, "checkpoint_every": 100})).fit(verbose=0)
    good = RunDir(run).checkpoint.read_bytes()
    history = (run / "history.csv").read_text()
    done = in_subprocess("sys.exit(main(sys.argv[1:]))", "train", "--resume", run, "--epochs", 2,
                         "--quiet", limit_file_size=len(good) * 3 // 4)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"facegan train: error: cannot write {run / 'checkpoint.npz'}: File too large; "
        f"the checkpoint of step 8 is intact: resume with --resume {run}"), done.stderr
    assert_project_lines_only(done.stderr)
    assert RunDir(run).checkpoint.read_bytes() == good
    assert not list(run.glob("*.tmp.*")) and not (run / "lock").exists()
    assert (run / "history.csv").read_text().startswith(history)
    trainer = Trainer(run)  # space again: the run resumes and ends as if nothing happened
    trainer.config.epochs = 2
    trainer.fit(verbose=0)
    assert_same_weights(weights(run / "generator.keras"), weights(straight / "generator.keras"))


def test_a_failed_history_write_leaves_no_half_row(tmp_path, monkeypatch):
    history = RunDir(tmp_path)
    history.append_history({"step": 1, "epoch": 1})
    before = history.history.read_bytes()

    def full_disk(self, path, mode, **kwargs):
        with open(path, mode) as f:
            f.write("2,1,0.5")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    with pytest.raises(OSError):
        history.append_history({"step": 2, "epoch": 1})
    assert history.history.read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize("backend, precision, step", [
    ("tensorflow", "mixed_bfloat16", "combined"), ("tensorflow", "mixed_bfloat16", "fused"),
    ("tensorflow", "float32", "combined"), ("torch", "float32", "combined")])
def test_training_keeps_the_frameworks_logs_off_the_console(tmp_path, backend, precision, step):
    """Not TensorFlow's remapper failing on the recommended preset's D step, nor, on
    PyTorch, TensorFlow's start-up notices when Keras imports it to seed it. In a shell as
    users have it: without conftest's TF_CPP_MIN_LOG_LEVEL=3, which hides C++ errors."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "facegan", "--backend", backend, "train",
                           *TINY_ARGS, "--epochs", "1", "--preset", "recommended",
                           "--precision", precision, "--step", step, "--out", tmp_path / "run"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"run folder: {tmp_path / 'run'}\n"
    assert_project_lines_only(done.stderr)


@pytest.mark.slow
def test_a_second_process_is_refused_and_a_stale_lock_taken_over(tmp_path, capsys):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-m", "facegan", "train", *TINY_ARGS,
                               "--epochs", "1000", "--out", run],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (run / "checkpoint.npz").exists() and time.time() < deadline:
            time.sleep(0.1)
        assert json.loads((run / "lock").read_text())["pid"] == holder.pid
        code, lines = run_cli(capsys, "train", "--resume", run, "--quiet")
        assert code == 2 and lines == [
            f"facegan train: error: {run} is in use by process {holder.pid} on {os.uname().nodename} "
            f"(lock file {run / 'lock'}); wait for it to finish, or delete the lock file if that "
            f"process is gone"]
        code, lines = run_cli(capsys, "train", *TINY_ARGS, "--out", run)
        assert code == 2 and "in use by process" in lines[0]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert_project_lines_only(holder.stderr.read())
    assert (run / "lock").exists()  # left behind by the killed process: stale
    trainer = Trainer(run)
    trainer.config.epochs = trainer.step // trainer.steps_per_epoch + 1
    trainer.fit(verbose=0)
    assert f"took over the stale lock of process {holder.pid}" in (run / "log.txt").read_text()
    assert not (run / "lock").exists()


def test_scoring_snapshots_waits_its_turn_in_a_busy_run_folder(tmp_path, capsys):
    """evaluate --run rewrites metrics.csv, which a training run's --eval-every writes too."""
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.config.write_text('{"config": {}}')
    busy = {"pid": os.getppid(), "host": os.uname().nodename}  # a live process, not this one
    run.lock.write_text(json.dumps(busy))
    code, lines = run_cli(capsys, "evaluate", "--run", run.path)
    assert code == 2 and lines == [
        f"facegan evaluate: error: {run.path} is in use by process {busy['pid']} on "
        f"{busy['host']} (lock file {run.lock}); wait for it to finish, or delete the lock "
        f"file if that process is gone"]
    assert json.loads(run.lock.read_text()) == busy and not run.metrics.exists()


@pytest.mark.parametrize("flag, value, expected", [
    ("--lr", "nan", "a finite number > 0"), ("--lr", "-1", "a finite number > 0"),
    ("--lr", "0", "a finite number > 0"), ("--lr", "inf", "a finite number > 0"),
    ("--beta1", "1", "a number in [0, 1)"), ("--beta1", "-0.1", "a number in [0, 1)"),
    ("--label-smoothing", "1", "a number in [0, 1)"), ("--ema", "0", "a number in (0, 1)"),
    ("--ema", "1", "a number in (0, 1)"), ("--gp-weight", "-1", "a finite number >= 0"),
    ("--gp-weight", "nan", "a finite number >= 0"), ("--holdout", "-1", "an integer >= 0"),
    ("--eval-every", "-1", "an integer >= 0"), ("--seed", "-1", "an integer in [0, 2^32)"),
    ("--epochs", "0", "a positive integer"), ("--log-every", "x", "a positive integer"),
])
def test_numeric_flags_out_of_range_exit_2_with_one_line(capsys, flag, value, expected):
    code, lines = run_cli(capsys, "train", flag, value)
    assert code == 2 and len(lines) == 1, lines
    assert f"argument {flag}: expected {expected}, got '{value}'" in lines[0]


def save_lambda_generator(path):
    """A real Keras file whose model carries a Lambda layer (arbitrary code on loading)."""
    z = keras.Input((8,))
    x = keras.layers.Dense(4 * 4 * 3)(z)
    x = keras.layers.Lambda(lambda t: keras.ops.tanh(t))(x)
    keras.Model(z, keras.layers.Reshape((4, 4, 3))(x)).save(path)


@pytest.mark.slow
def test_bad_model_and_checkpoint_files_get_one_line_naming_the_problem(tmp_path, capsys):
    run = tmp_path / "run"
    Trainer(run, TrainConfig(epochs=1, **TINY)).fit(verbose=0)
    save_lambda_generator(tmp_path / "lambda.keras")
    (tmp_path / "truncated.keras").write_bytes((run / "generator.keras").read_bytes()[:5000])
    from facegan.networks.dcgan import build_discriminator

    build_discriminator(32, 4).save(tmp_path / "discriminator.keras")
    cases = {
        "lambda.keras": "holds a Lambda layer (code that would run on loading); facegan loads "
                        "models in Keras's safe mode and refuses it",
        "truncated.keras": "is not a .keras file (truncated or corrupt: not a zip archive)",
        "discriminator.keras": "is not a generator: it maps (None, 32, 32, 3) to (None, 1), not "
                               "(None, latent_dim) latents to (None, R, R, 3) images (a "
                               "discriminator?)",
    }
    for name, message in cases.items():
        code, lines = run_cli(capsys, "generate", "--generator", tmp_path / name,
                              "--out", tmp_path / "grid.png")
        assert code == 2 and lines == [f"facegan generate: error: {tmp_path / name} {message}"]
    assert not (tmp_path / "grid.png").exists()

    other = tmp_path / "other"  # the same data at another width: its checkpoint cannot fit
    Trainer(other, TrainConfig(epochs=1, **{**TINY, "base_channels": 8})).fit(verbose=0)
    shutil.copyfile(other / "checkpoint.npz", run / "checkpoint.npz")
    code, lines = run_cli(capsys, "train", "--resume", run, "--epochs", 2, "--quiet")
    assert code == 2 and lines == [
        f"facegan train: error: {run / 'checkpoint.npz'} was saved with other settings: "
        f"base_channels 8 (this run: 4)"]
    (run / "checkpoint.npz").write_bytes((other / "checkpoint.npz").read_bytes()[:3000])
    code, lines = run_cli(capsys, "train", "--resume", run, "--epochs", 2, "--quiet")
    assert code == 2 and len(lines) == 1
    assert f"{run / 'checkpoint.npz'} is not a readable checkpoint (truncated or corrupt" in lines[0]


def test_out_naming_a_file_exits_2_with_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    code, lines = run_cli(capsys, "train", *TINY_ARGS, "--out", tmp_path / "taken")
    assert code == 2 and lines == [f"facegan train: error: {tmp_path / 'taken'} is a file, "
                                   f"not a run folder"]
    assert (tmp_path / "taken").read_text() == "not a folder"
