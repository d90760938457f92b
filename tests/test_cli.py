import subprocess
import sys

import numpy as np
import pytest

from facegan.cli import main


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines()


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--batch-size", "0"], "--batch-size: expected a positive integer"),
    (["train", "--resolution", "48"], "--resolution: must be one of (32, 64, 128, 256)"),
    (["train", "--label-smoothing", "1.5"], "expected a number in [0, 1)"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["fly"], "invalid choice: 'fly'"),
])
def test_bad_arguments_get_one_line_and_exit_2(capsys, argv, fragment):
    code, lines = run_cli(capsys, *argv)
    assert code == 2 and len(lines) == 1 and fragment in lines[0], lines


TINY = ["--resolution", "32", "--base-channels", "4", "--latent-dim", "8", "--batch-size", "16",
        "--synthetic-size", "32", "--quiet"]


def bad_inputs(tmp):
    """(argv, the error line) for each way the CLI's input can be wrong: exit code 2."""
    (tmp / "empty").mkdir()
    (tmp / "broken").mkdir()
    (tmp / "broken" / "a.jpg").write_bytes(b"not a jpeg")
    (tmp / "notes.txt").write_text("not images")
    (tmp / "unfinished").mkdir()
    (tmp / "unfinished" / "config.json").write_text('{"config": {}}')
    return [
        (["train", "--data", "/no/such/folder"], "data path does not exist: /no/such/folder"),
        (["train", "--data", tmp / "notes.txt"], f"not a zip file or folder of images: {tmp / 'notes.txt'}"),
        (["train", "--data", tmp / "empty"], f"no .jpg/.jpeg/.png images found in {tmp / 'empty'}"),
        (["train", "--data", tmp / "broken", "--out", tmp / "r1"],
         f"none of the 1 images in {tmp / 'broken'} could be read"),
        (["train", *TINY, "--batch-size", "64", "--out", tmp / "r2"],
         "32 training images (32 less 0 held out) are fewer than one step of 1 x 64"),
        (["train", *TINY, "--devices", "2", "--out", tmp / "r3"], "--devices 2 needs the jax backend"),
        (["train", *TINY, "--step", "fused", "--augment", "color", "--out", tmp / "r4"],
         "the fused step has no DiffAugment; use the combined-model step"),
        (["train", *TINY, "--out", tmp / "unfinished"],
         f"{tmp / 'unfinished'} already holds a run; resume it with --resume"),
        (["train", "--resume", "/no/such/run"], "not a run folder (no config.json): /no/such/run"),
        (["generate", "--generator", "missing.keras"], "generator file not found: missing.keras"),
        (["generate", "--generator", "pretrained:celeba99"], "no shipped generator named 'celeba99'"),
        (["figures", "--run", tmp / "unfinished"],
         f"{tmp / 'unfinished'} has no final generator.keras yet (still training? --epoch N "
         "draws from a snapshot)"),
        (["export", "--run", tmp / "unfinished", "--name", "x"],
         f"{tmp / 'unfinished'} has no final generator.keras to export"),
        (["export", "--run", tmp / "unfinished", "--name", "x", "--epoch", "7"],
         f"{tmp / 'unfinished'} has no snapshot of epoch 7 (it has none; see --snapshot-every)"),
        (["evaluate", "--generator", "pretrained:celeba64"],
         "evaluate --generator needs --data (the real images to compare with)"),
    ]


def test_bad_input_gets_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    """One error line, last; any line before it is facegan's own progress, not a traceback."""
    monkeypatch.chdir(tmp_path)  # the runs/ that a train without --out starts stays in tmp
    for argv, fragment in bad_inputs(tmp_path):
        code, lines = run_cli(capsys, *map(str, argv))
        errors = [line for line in lines if ": error: " in line or "Traceback" in line]
        assert code == 2 and errors == lines[-1:], (argv, lines)
        assert lines[-1].startswith(f"facegan {argv[0]}: error: ") and fragment in lines[-1], lines


def test_a_failed_write_exits_1_with_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code, lines = run_cli(capsys, "generate", "--generator", "pretrained:celeba64", "--n", "4",
                          "--out", str(tmp_path / "file" / "grid.png"))
    assert code == 1 and lines == [f"facegan generate: error: {tmp_path / 'file'}: File exists"]


def test_a_missing_backend_exits_2_with_how_to_install_it():
    script = ("import sys; sys.modules['torch'] = None\n"  # as if PyTorch were not installed
              "from facegan.cli import main\n"
              "sys.exit(main(['--backend', 'torch', 'generate', '--generator', 'x.keras']))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("facegan generate: error: the Keras backend 'torch' is not "
                                  "installed (")
    assert done.stderr.rstrip().endswith("; pip install torch")


def test_every_verb_has_help(capsys):
    for verb in ("train", "generate", "demo"):
        code, _ = run_cli(capsys, verb, "--help")
        assert code == 0


@pytest.mark.slow
def test_train_then_generate(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--resolution", "32", "--base-channels", "4", "--synthetic-size", "64",
                 "--batch-size", "32", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    grid, each = tmp_path / "grid.png", tmp_path / "faces"
    assert main(["generate", "--generator", str(run / "generator.keras"), "--n", "6",
                 "--out", str(grid), "--each", str(each)]) == 0
    assert grid.is_file() and len(list(each.glob("*.png"))) == 6


@pytest.mark.parametrize("name, size", [("celeba64", 64), ("celeba128", 128)])
def test_generate_samples_a_shipped_generator_by_name(tmp_path, name, size):
    from PIL import Image

    grid = tmp_path / "grid.png"
    assert main(["generate", "--generator", f"pretrained:{name}", "--n", "4", "--out", str(grid)]) == 0
    image = Image.open(grid)
    assert image.size[0] >= 2 * size and np.asarray(image).std() > 10  # 2x2 faces, not blank


def test_a_run_finds_its_image_folder_from_any_working_directory(tmp_path, monkeypatch):
    from PIL import Image

    from facegan.figures.gallery import training_split

    (tmp_path / "faces").mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (40, 36, 3), np.uint8)).save(tmp_path / "faces" / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "faces", "--resolution", "32", "--base-channels", "4",
                 "--batch-size", "16", "--holdout", "8", "--epochs", "1", "--quiet",
                 "--out", "run"]) == 0
    monkeypatch.chdir(tmp_path / "run")  # as notebooks/ is to the repository
    training, held_out = training_split("../run")
    assert (len(training), len(held_out)) == (32, 8)
