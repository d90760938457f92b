import io
import logging
import zipfile

import numpy as np
import pytest
from PIL import Image

from facegan.data.images import (CachedImages, DataError, list_images, load_images, prepare,
                                 to_model_input, to_uint8)
from facegan.data.synthetic import synthetic_faces


def jpeg_bytes(image, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **kwargs)
    return buffer.getvalue()


def face_like(width=178, height=218, seed=0):
    """A smooth picture the size of a CelebA image (a drawn face, stretched)."""
    return Image.fromarray(synthetic_faces(1, 64, seed)[0]).resize((width, height))


@pytest.fixture
def messy_folder(tmp_path):
    """A folder as users have them: good images, odd modes, junk, nested folders."""
    root = tmp_path / "faces"
    (root / "nested").mkdir(parents=True)
    for i in range(5):
        face_like(seed=i).save(root / f"{i:06d}.jpg")
    face_like(seed=9).convert("L").save(root / "nested" / "gray.png")
    face_like(seed=10).convert("RGBA").save(root / "rgba.png")
    face_like(seed=11).convert("CMYK").save(root / "cmyk.jpg")
    face_like(20, 30, seed=12).save(root / "small.png")
    (root / "corrupt.jpg").write_bytes(b"not an image at all")
    (root / "truncated.jpg").write_bytes(jpeg_bytes(face_like(seed=13))[:300])
    (root / "notes.txt").write_text("not an image, ignored by extension")
    return root


def test_folder_keeps_convertible_images_and_counts_skips(messy_folder, caplog):
    with caplog.at_level(logging.INFO, logger="facegan"):
        images = prepare(messy_folder, 32)
    assert len(images) == 9  # 5 rgb + gray + rgba + cmyk + small (upscaled)
    assert images[np.arange(9)].shape == (9, 32, 32, 3) and images[0].dtype == np.uint8
    assert "skipped 2 unreadable" in caplog.text and "upscaled 1" in caplog.text


def test_zip_laid_out_like_celeba(tmp_path):
    path = tmp_path / "img_align_celeba.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in (3, 1, 2):
            archive.writestr(f"img_align_celeba/{i:06d}.jpg", jpeg_bytes(face_like(seed=i)))
    assert list_images(path) == [f"img_align_celeba/{i:06d}.jpg" for i in (1, 2, 3)]
    images = prepare(path, 64)
    assert images.shape == (3, 64, 64, 3)
    # Centre crop of 178x218 is the middle 178x178, then resized.
    expected = np.asarray(face_like(seed=1).crop((0, 20, 178, 198)).resize((64, 64), Image.LANCZOS))
    assert np.abs(images[0].astype(int) - expected).mean() < 3


def test_cache_is_reused(messy_folder, tmp_path):
    first = prepare(messy_folder, 32)
    (messy_folder / "000000.jpg").unlink()  # a cached prepare does not decode again...
    again = prepare(messy_folder, 32)
    assert again.path != first.path  # ...but a changed listing makes a new cache
    assert prepare(messy_folder, 32).path == again.path


def test_cached_images_index_like_arrays(tmp_path):
    data = np.random.default_rng(0).integers(0, 255, (10, 4, 4, 3), np.uint8)
    np.save(tmp_path / "x.npy", data)
    images = CachedImages(tmp_path / "x.npy")
    assert len(images) == 10
    np.testing.assert_array_equal(images[[7, 2, 2]], data[[7, 2, 2]])
    np.testing.assert_array_equal(images[3], data[3])
    np.testing.assert_array_equal(images[8:], data[8:])


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: p, "no .jpg/.jpeg/.png images"),
    (lambda p: (p / "x.txt").write_text("x") and p / "x.txt", "not a zip file or folder"),
])
def test_bad_paths_raise_one_clear_error(tmp_path, make, message):
    with pytest.raises(DataError, match=message):
        load_images(str(make(tmp_path)), 32)


def test_all_unreadable_is_an_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match="none of the 1 images"):
        prepare(tmp_path, 32)


def test_model_input_range_and_flip(rng):
    images = synthetic_faces(8, 32, 0)
    x = to_model_input(images)
    assert x.dtype == np.float32 and x.min() >= -1 and x.max() <= 1
    np.testing.assert_array_equal(to_uint8(x), images)
    flipped = to_model_input(images, np.random.default_rng(1))
    mirrored = [np.array_equal(f, o[:, ::-1]) and not np.array_equal(f, o)
                for f, o in zip(flipped, x)]
    same = [np.array_equal(f, o) for f, o in zip(flipped, x)]
    assert all(m or s for m, s in zip(mirrored, same)) and any(mirrored) and any(same)


def test_synthetic_faces_are_deterministic_and_varied():
    a = synthetic_faces(16, 32, seed=3)
    np.testing.assert_array_equal(a[:4], synthetic_faces(4, 32, seed=3))  # face i ignores n
    assert not np.array_equal(a, synthetic_faces(16, 32, seed=4))
    assert a.shape == (16, 32, 32, 3) and a.dtype == np.uint8
    pairwise = np.abs(a[:, None].astype(int) - a[None].astype(int)).mean(axis=(2, 3, 4))
    assert pairwise[~np.eye(16, dtype=bool)].min() > 5  # no two faces alike
    # Face structure: the centre (skin) differs from the corners (background) on average.
    centre, corner = a[:, 12:20, 12:20].mean((1, 2)), a[:, :4, :4].mean((1, 2))
    assert np.abs(centre - corner).mean() > 20


def test_worker_processes_decode_like_one_process(tmp_path):
    """Large sets are decoded in a pool of processes; the result is the same, in order."""
    faces = synthetic_faces(520, 32, seed=5)
    for i, face in enumerate(faces):
        Image.fromarray(face).save(tmp_path / f"{i:06d}.png")
    pooled = prepare(tmp_path, 32, cache_dir=tmp_path / "pooled", workers=2)
    inline = prepare(tmp_path, 32, cache_dir=tmp_path / "inline", workers=1)
    np.testing.assert_array_equal(pooled[np.arange(520)], inline[np.arange(520)])
    np.testing.assert_array_equal(inline[np.arange(520)], faces)  # PNG, same size: lossless


def test_logged_paths_name_the_home_folder_as_a_tilde(tmp_path, monkeypatch):
    """Logs and notebook outputs (the cache's path) must not name the user's folders."""
    from facegan.data.images import home_relative

    monkeypatch.setenv("HOME", str(tmp_path))
    assert home_relative(tmp_path / ".cache" / "facegan" / "x.npy") == "~/.cache/facegan/x.npy"
    assert home_relative("/srv/cache/x.npy") == "/srv/cache/x.npy"


def _prepare_after(barrier, folder, cache_dir):
    barrier.wait()
    prepare(folder, 32, cache_dir=cache_dir, workers=1)


def test_two_processes_can_prepare_one_cache_at_once(tmp_path):
    """Two runs started together on new data each decode it; neither trips on the other's
    temporary file, and the cache they leave is whole."""
    import multiprocessing

    faces = synthetic_faces(400, 32, seed=6)
    for i, face in enumerate(faces):
        Image.fromarray(face).save(tmp_path / f"{i:06d}.png")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    runs = [context.Process(target=_prepare_after, args=(barrier, tmp_path, tmp_path / "cache"))
            for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(120)
    assert [run.exitcode for run in runs] == [0, 0]
    np.testing.assert_array_equal(prepare(tmp_path, 32, cache_dir=tmp_path / "cache")[
        np.arange(400)], faces)
    assert not list((tmp_path / "cache").glob("*partial*"))
