"""CelebA's attribute labels: both file formats, matched to the image cache by file name,
and one clear error for every way a label file can fail to fit the images."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from facegan.data.images import DataError, load_images, names_file
from facegan.data.labels import find_attributes, load_labels, read_attributes
from facegan.data.synthetic import synthetic_faces

NAMES = ("Bit0", "Bit1", "Bit2", "Bit3", "Bit4")  # image k's labels spell k in binary


def bits(k):
    return [bool(k >> j & 1) for j in range(len(NAMES))]


def write_txt(path, numbers, names=NAMES):
    """CelebA's own format: a count line, the names, then `000001.jpg -1  1 ...` rows."""
    rows = [f"{k:06d}.jpg " + " ".join(" 1" if b else "-1" for b in bits(k)) for k in numbers]
    path.write_text(f"{len(rows)}\n{' '.join(names)}\n" + "\n".join(rows) + "\n")
    return path


def write_csv(path, numbers):
    """Kaggle's export: an image_id column, then one -1/1 column per attribute."""
    rows = [f"{k:06d}.jpg," + ",".join("1" if b else "-1" for b in bits(k)) for k in numbers]
    path.write_text("image_id," + ",".join(NAMES) + "\n" + "\n".join(rows) + "\n")
    return path


def jpeg(seed):
    buffer = io.BytesIO()
    Image.fromarray(synthetic_faces(1, 64, seed)[0]).resize((89, 109)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def celeba_zip(tmp_path):
    """A zip laid out like CelebA's, images 1 to 12, with image 3 unreadable (skipped)."""
    path = tmp_path / "img_align_celeba.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for k in range(1, 13):
            data = b"not a jpeg" if k == 3 else jpeg(k)
            archive.writestr(f"img_align_celeba/{k:06d}.jpg", data)
    return path


def decoded(labels):
    """The image number each row's labels spell."""
    return (labels.values * (1 << np.arange(len(NAMES)))).sum(1)


@pytest.mark.parametrize("write", [write_txt, write_csv])
def test_labels_follow_the_cache_rows_past_a_skipped_image(celeba_zip, tmp_path, write):
    images = load_images(str(celeba_zip), 32)
    assert len(images) == 11  # image 3 could not be read
    # a label file in another order, covering more images than the data holds
    suffix = write.__name__.replace("write_", ".")  # .txt or .csv
    labels_file = write(tmp_path / f"list_attr_celeba{suffix}", [20, *range(12, 0, -1)])
    labels = load_labels(str(celeba_zip), images, labels_file, holdout=4)
    assert labels.values.shape == (11, 5) and labels.names == NAMES
    assert decoded(labels).tolist() == [1, 2, *range(4, 13)]
    assert labels.images[2] == "img_align_celeba/000004.jpg"
    assert labels.held_out.tolist() == [False] * 7 + [True] * 4
    assert labels.frame().loc["img_align_celeba/000005.jpg"].tolist() == bits(5)


def test_folder_and_the_file_found_beside_it(tmp_path):
    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    for k in (1, 2, 3):
        (folder / f"{k:06d}.jpg").write_bytes(jpeg(k))
    write_txt(tmp_path / "celeba" / "list_attr_celeba.txt", [1, 2, 3])
    assert find_attributes(str(folder)) == tmp_path / "celeba" / "list_attr_celeba.txt"
    labels = load_labels(str(folder), load_images(str(folder), 32))
    assert decoded(labels).tolist() == [1, 2, 3] and not labels.held_out.any()


def test_a_cache_without_recorded_names_is_read_by_listing_when_nothing_was_skipped(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    for k in (1, 2):
        (folder / f"{k:06d}.jpg").write_bytes(jpeg(k))
    images = load_images(str(folder), 32)
    names_file(images.path).unlink()  # a cache made before the names were recorded
    labels = load_labels(str(folder), images, write_txt(tmp_path / "a.txt", [2, 1]))
    assert decoded(labels).tolist() == [1, 2]


def test_an_old_cache_that_skipped_images_must_be_rebuilt(celeba_zip, tmp_path):
    images = load_images(str(celeba_zip), 32)
    names_file(images.path).unlink()
    with pytest.raises(DataError, match="skipped 1 unreadable images .* delete it to rebuild"):
        load_labels(str(celeba_zip), images, write_txt(tmp_path / "a.txt", range(1, 13)))


@pytest.mark.parametrize("content, message", [
    ("3\nA B\n000001.jpg 1 -1\n000002.jpg -1 1\n", "announces 3 images but lists 2"),
    ("A B\n000001.jpg 1 -1\n", "first line must be the number of images"),
    ("2\nA B\n000001.jpg 1 -1\n000002.jpg 1\n", "must be -1 or 1; 1 rows are not (first: 000002.jpg"),
    ("2\nA B\n000001.jpg 1 -1\n000002.jpg 1 0\n", "must be -1 or 1"),
    ("2\nA B\n000001.jpg 1 -1\n000002.jpg 1 -1 1 1\n", "not a CelebA attribute file"),
    ("2\nA B\n000001.jpg 1 -1\n000001.jpg 1 1\n", "lists 000001.jpg more than once"),
    ("", "first line must be the number of images"),
])
def test_malformed_files_get_one_line(tmp_path, content, message):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(")) as error:
        read_attributes(path)
    assert "\n" not in str(error.value)


def test_images_without_labels_are_counted_and_named(celeba_zip, tmp_path):
    images = load_images(str(celeba_zip), 32)
    labels_file = write_txt(tmp_path / "a.txt", range(1, 10))  # no labels for 10, 11, 12
    with pytest.raises(DataError, match=r"3 of the 11 images .* have no labels in .*a\.txt "
                                        r"\(first: img_align_celeba/000010\.jpg\)"):
        load_labels(str(celeba_zip), images, labels_file)


@pytest.mark.parametrize("data, labels, holdout, message", [
    ("synthetic", None, 0, "synthetic faces have no attribute labels"),
    ("zip", None, 0, "no list_attr_celeba.txt or list_attr_celeba.csv beside"),
    ("zip", "missing.txt", 0, "attribute file not found"),
    ("zip", "a.txt", 11, "holdout 11 must be at least 0 and less than the 11 images"),
])
def test_missing_files_and_bad_holdout(celeba_zip, tmp_path, data, labels, holdout, message):
    write_txt(tmp_path / "a.txt", range(1, 13))
    data = "synthetic" if data == "synthetic" else str(celeba_zip)
    images = load_images(str(celeba_zip), 32)
    with pytest.raises(DataError, match=message):
        load_labels(data, images, labels and tmp_path / labels, holdout)


def test_two_images_with_one_file_name_are_ambiguous(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / "faces" / folder).mkdir(parents=True)
        (tmp_path / "faces" / folder / "000001.jpg").write_bytes(jpeg(1))
    data = str(tmp_path / "faces")
    with pytest.raises(DataError, match="two images in .* are named 000001.jpg"):
        load_labels(data, load_images(data, 32), write_txt(tmp_path / "a.txt", [1]))
