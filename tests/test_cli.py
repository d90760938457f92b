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


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--data", "/no/such/folder"], "data path does not exist: /no/such/folder"),
    (["generate", "--generator", "missing.keras"], "generator file not found: missing.keras"),
    (["generate", "--generator", "pretrained:celeba99"], "no shipped generator named 'celeba99'"),
    (["train", "--resume", "/no/such/run"], "not a run folder"),
])
def test_bad_input_gets_one_line_and_exit_1(capsys, argv, fragment):
    code, lines = run_cli(capsys, *argv)
    assert code == 1 and len(lines) == 1 and fragment in lines[0], lines


def test_every_verb_has_help(capsys):
    for verb in ("train", "generate", "demo"):
        code, _ = run_cli(capsys, verb, "--help")
        assert code == 0


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

    from facegan.gallery import training_split

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
