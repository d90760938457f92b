"""The data-size experiment's training sets and schedule (facegan/training/data_size.py); its
training and figure run in notebook 06's test (tests/test_notebooks.py)."""

import pytest
from PIL import Image

from facegan.data.images import DataError, list_images
from facegan.data.synthetic import synthetic_faces
from facegan.training.data_size import schedule, training_set


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "faces"
    (root / "nested").mkdir(parents=True)
    for i, face in enumerate(synthetic_faces(10, 32)):
        Image.fromarray(face).save(root / ("nested" if i == 3 else "") / f"{i:06d}.png")
    return root


def test_a_training_set_is_the_first_images_and_the_last_held_out(folder, tmp_path):
    names = list_images(folder)
    made = training_set(folder, 4, 3, tmp_path / "out")
    assert made == tmp_path / "out" / "sets" / "4"
    assert list_images(made) == sorted(n.replace("/", "_") for n in names[:4] + names[-3:])
    assert (made / "nested_000003.png").resolve() == (folder / "nested" / "000003.png").resolve()
    assert not (tmp_path / "out" / "sets" / "4.partial").exists()
    (made / "000000.png").unlink()  # made once: an existing set is reused as it is
    assert training_set(folder, 4, 3, tmp_path / "out") == made
    assert not (made / "000000.png").exists()


def test_a_set_larger_than_the_data_is_refused(folder, tmp_path):
    with pytest.raises(DataError, match="10 images: too few for 8 \\+ 3 held out"):
        training_set(folder, 8, 3, tmp_path / "out")


@pytest.mark.parametrize("size, expected", [
    (44253, (11, 1)),     # 44,224 images an epoch: 11 epochs, scored every epoch
    (7000, (66, 6)),      # 6,976 an epoch: scored every 6 epochs, 11 scores
    (1000, (504, 42)),    # 960 an epoch: every 42 epochs, 12 scores
])
def test_the_schedule_gives_whole_epochs_and_scoring_intervals(size, expected):
    epochs, every = schedule(size, 64, 480_000, 40_000)
    assert (epochs, every) == expected
    assert epochs % every == 0


def test_a_run_shorter_than_an_epoch_trains_and_scores_one():
    assert schedule(640, 64, 100, 50) == (1, 1)
