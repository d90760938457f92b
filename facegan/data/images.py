"""Face images for training: CelebA (zip or folder), any folder of images, or synthetic faces.

Real images are decoded once into a uint8 cache (N, R, R, 3) per resolution, a `.npy` file
read row by row, so memory stays flat however large the set; later runs start at once.
"""

import hashlib
import io
import logging
import multiprocessing
import os
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from facegan.errors import FaceganError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
CACHE_VERSION = 1
log = logging.getLogger("facegan")


class DataError(FaceganError):
    """The data path is missing or holds no usable image."""


def default_cache_dir():
    return Path(os.environ.get("FACEGAN_CACHE", Path.home() / ".cache" / "facegan"))


def list_images(path):
    """Sorted image names in a zip (members) or folder (relative paths, recursive)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data path does not exist: {path}")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise DataError(f"not a zip file or folder of images: {path}")
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(IMAGE_EXTENSIONS)]
    else:
        names = [
            str(p.relative_to(path)) for p in path.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        ]
    if not names:
        raise DataError(f"no .jpg/.jpeg/.png images found in {path}")
    return sorted(names)


def preprocess(image, resolution):
    """Any PIL image -> (resolution, resolution, 3) uint8: RGB, centre square crop, resize.

    Returns the array and whether the crop had to be upscaled.
    """
    if image.format == "JPEG":
        image.draft("RGB", (resolution, resolution))  # decode at reduced size: much faster
    image = image.convert("RGB")  # grayscale, RGBA, CMYK, palette
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((resolution, resolution), Image.Resampling.LANCZOS)  # antialiased
    return np.asarray(image, dtype=np.uint8), side < resolution


class _Reader:
    """Opens images by name from a zip or folder; one per worker process."""

    def __init__(self, path):
        self.path = Path(path)
        self.archive = zipfile.ZipFile(self.path) if self.path.is_file() else None

    def open(self, name):
        if self.archive is not None:
            return self.archive.open(name)
        return open(self.path / name, "rb")


_reader = None


def _init_worker(path):
    global _reader
    _reader = _Reader(path)


def _decode(task):
    name, resolution = task
    try:
        with _reader.open(name) as f:
            image = Image.open(f)
            image.load()
            return preprocess(image, resolution)
    except Exception as error:  # corrupt, truncated or not an image: skip it, count why
        return None, type(error).__name__


def _decoded(path, names, resolution, workers):
    """(array, upscaled) or (None, reason) per name, in order; in worker processes when many
    (starting them costs more than decoding a few hundred images)."""
    tasks = [(name, resolution) for name in names]
    if workers == 1 or len(names) < 512:
        _init_worker(path)
        yield from map(_decode, tasks)
        return
    with multiprocessing.get_context("spawn").Pool(workers, _init_worker, (str(path),)) as pool:
        yield from pool.imap(_decode, tasks, chunksize=64)


def home_relative(path):
    """`path` with the home folder written ~, so that logs and notebook outputs do not name
    the user's folders."""
    try:
        return f"~/{Path(path).relative_to(Path.home())}"
    except ValueError:
        return str(path)


def _cache_key(path, names, resolution):
    path = Path(path).resolve()
    stats = [path.stat().st_size, path.stat().st_mtime_ns] if path.is_file() else []
    text = f"{CACHE_VERSION}|{path}|{resolution}|{stats}|{len(names)}|{names[0]}|{names[-1]}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def prepare(path, resolution, cache_dir=None, workers=None):
    """Decode every image under `path` once into a cached uint8 `.npy`; return its reader."""
    names = list_images(path)
    cache_dir = Path(cache_dir or default_cache_dir())
    cache_file = cache_dir / f"{Path(path).stem}-{resolution}-{_cache_key(path, names, resolution)}.npy"
    if cache_file.exists():
        return CachedImages(cache_file)

    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("preparing %d images from %s at %dx%d into %s", len(names), path, resolution,
             resolution, home_relative(cache_file))
    # this process's own temporary file: two runs started together on new data each decode
    # it, and the second rename replaces a whole cache with an equal one
    partial = cache_file.with_suffix(f".{os.getpid()}.partial.npy")
    skipped, upscaled, kept = Counter(), 0, []
    decoded = _decoded(path, names, resolution, workers or os.cpu_count() or 1)
    # plain writes, not a memmap: mapped pages would count in this process's memory until
    # the whole set is written (10 GB for CelebA at 128x128)
    with open(partial, "wb") as out:
        out.write(_npy_header(len(names), resolution))
        for name, (array, info) in zip(names, decoded):
            if array is None:
                skipped[info] += 1
                continue
            out.write(array.tobytes())
            kept.append(name)
            upscaled += info
    if not kept:
        partial.unlink()
        raise DataError(f"none of the {len(names)} images in {path} could be read")
    if len(kept) < len(names):  # the rows are all written; the header names their count
        header = _npy_header(len(kept), resolution)
        assert len(header) == len(_npy_header(len(names), resolution))  # numpy pads the count
        with open(partial, "r+b") as out:
            out.write(header)
    names_file(cache_file).write_text("\n".join(kept) + "\n")  # row i's image, for labels
    os.replace(partial, cache_file)  # atomic: an interrupted run never leaves a half cache
    log.info("prepared %d images; skipped %d unreadable %s; upscaled %d smaller than %d px",
             len(kept), sum(skipped.values()), dict(skipped), upscaled, resolution)
    return CachedImages(cache_file)


def names_file(cache_file):
    """The text file beside a cache that names the image behind each of its rows."""
    return Path(cache_file).with_suffix(".names.txt")


def _npy_header(rows, resolution):
    """The .npy header of a (rows, R, R, 3) uint8 array."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {
        "descr": "|u1", "fortran_order": False, "shape": (rows, resolution, resolution, 3)})
    return header.getvalue()


class CachedImages:
    """A uint8 image `.npy` read by rows with pread: memory does not grow with its size."""

    def __init__(self, path):
        self.path = Path(path)
        header = np.load(self.path, mmap_mode="r")  # reads the header; no pixel is touched
        self.shape, self._offset = header.shape, header.offset
        del header
        self._row_bytes = int(np.prod(self.shape[1:]))
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self):
        return self.shape[0]

    @property
    def names(self):
        """The image name of each row (skipped files leave no row), or None for a cache made
        before the names were recorded."""
        file = names_file(self.path)
        return file.read_text().splitlines() if file.exists() else None

    def __getitem__(self, indices):
        if isinstance(indices, (int, np.integer)):
            return self[[indices]][0]
        if isinstance(indices, slice):
            indices = range(*indices.indices(len(self)))
        indices = np.asarray(indices, dtype=np.int64) % len(self)
        out = np.empty((len(indices),) + self.shape[1:], np.uint8)
        flat = out.reshape(len(indices), -1)
        for row, index in zip(flat, indices):
            os.preadv(self._fd, [row], self._offset + int(index) * self._row_bytes)
        return out

    def __del__(self):
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)


def load_images(data, resolution, seed=0, synthetic_size=4096, cache_dir=None):
    """`data` is "synthetic" or a path; returns an indexable (N, R, R, 3) uint8 array-like."""
    if data == "synthetic":
        from facegan.data.synthetic import synthetic_faces

        return synthetic_faces(synthetic_size, resolution, seed)
    return prepare(data, resolution, cache_dir)


def to_model_input(images, flip_rng=None):
    """uint8 (B, R, R, 3) -> float32 in [-1, 1]; mirrors a random half if `flip_rng` is given."""
    x = images.astype(np.float32) / 127.5 - 1.0
    if flip_rng is not None:
        flip = flip_rng.random(len(x)) < 0.5
        x[flip] = x[flip, :, ::-1]
    return x


def to_uint8(images):
    """Model output in [-1, 1] -> uint8 images."""
    return np.clip(np.rint((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)
