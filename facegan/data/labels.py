"""CelebA's 40 binary attribute labels, read once and aligned row by row with the image cache.

Labels come as CelebA's `list_attr_celeba.txt` (a count line, a line of attribute names,
then `000001.jpg -1  1 ...`) or Kaggle's `list_attr_celeba.csv` (`image_id,5_o_Clock_Shadow,...`),
both with -1/1 values. They are matched to images by file name, never by position: the cache
skips unreadable files, and a label file may cover more images (all 202,599) than the data.
"""

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from facegan.data.images import DataError, list_images

ATTRIBUTE_FILES = ("list_attr_celeba.txt", "list_attr_celeba.csv")


def find_attributes(data):
    """CelebA's attribute file beside the zip or in/above the image folder, or None."""
    if data == "synthetic":
        return None
    data = Path(data)
    folders = [data.parent] if data.is_file() else [data, data.parent]
    for folder in folders:
        for name in ATTRIBUTE_FILES:
            if (folder / name).is_file():
                return folder / name
    if data.is_file() and zipfile.is_zipfile(data):
        with zipfile.ZipFile(data) as archive:
            if any(Path(n).name in ATTRIBUTE_FILES for n in archive.namelist()):
                raise DataError(f"extract {'/'.join(ATTRIBUTE_FILES)} from {data} next to it")
    return None


def read_attributes(path):
    """A boolean DataFrame indexed by image file name, one column per attribute."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"attribute file not found: {path}")
    try:
        if path.suffix == ".csv":
            table = pd.read_csv(path, index_col=0)
        else:
            with open(path) as f:
                first = f.readline().strip()
                if not first.isdigit():
                    raise DataError(f"{path}: the first line must be the number of images, "
                                    f"got {first[:40]!r}")
                names = f.readline().split()
                table = pd.read_csv(f, sep=r"\s+", header=None, names=["image"] + names,
                                    index_col=0)
            if len(table) != int(first):
                raise DataError(f"{path} announces {first} images but lists {len(table)}")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not a CelebA attribute file: "
                        f"{str(error).strip().splitlines()[-1]}") from error
    if table.shape[1] == 0 or len(table) == 0:
        raise DataError(f"{path} holds no attribute labels")
    bad = ~table.isin([-1, 1]).all(axis=1)
    if bad.any():
        raise DataError(f"{path}: attribute values must be -1 or 1; {int(bad.sum())} rows are "
                        f"not (first: {table.index[bad][0]}, a missing or extra value?)")
    table.index = table.index.astype(str)
    repeated = table.index[table.index.duplicated()]
    if len(repeated):
        raise DataError(f"{path} lists {repeated[0]} more than once")
    return table == 1


@dataclass(frozen=True)
class Labels:
    """Attribute labels whose row i belongs to row i of the image cache."""

    values: np.ndarray   # (N, A) bool
    names: tuple         # the A attribute names, in the file's order
    images: tuple        # the N image names
    holdout: int = 0     # the last `holdout` rows are held-out images, as in training

    @property
    def held_out(self):
        """(N,) bool: True for the held-out images."""
        return np.arange(len(self.values)) >= len(self.values) - self.holdout

    def frame(self):
        """The labels as a boolean DataFrame indexed by image name."""
        return pd.DataFrame(self.values, index=list(self.images), columns=list(self.names))


def cache_names(images, data):
    """The image name of each row of `images`, a cache that `load_images(data, ...)` made."""
    names = getattr(images, "names", None)
    if names is None:
        listed = list_images(data)
        if len(listed) != len(images):
            raise DataError(f"the image cache {getattr(images, 'path', '')} skipped "
                            f"{len(listed) - len(images)} unreadable images and predates the "
                            f"record of which: delete it to rebuild it")
        names = listed
    if len(names) != len(images):
        raise DataError(f"the image cache lists {len(names)} names for {len(images)} images: "
                        f"delete it to rebuild it")
    return names


def labels_file(data, labels=None):
    """The attribute file for `data`: `labels` if given, else the one found beside it."""
    if data == "synthetic":
        raise DataError("synthetic faces have no attribute labels: use CelebA")
    if not Path(data).exists():
        raise DataError(f"data path does not exist: {data}")
    labels = labels or find_attributes(data)
    if labels is None:
        raise DataError(f"no {' or '.join(ATTRIBUTE_FILES)} beside {data}: pass the labels file")
    if not Path(labels).is_file():
        raise DataError(f"attribute file not found: {labels}")
    return Path(labels)


def load_labels(data, images, labels=None, holdout=0):
    """Labels aligned with `images` (the cache of `data`), matched by file name.

    `labels` is the attribute file (default: found beside the data); the last `holdout`
    images are marked held out. Images without labels are an error, labels without
    images are not (a full-size label file serves any subset of CelebA).
    """
    labels = labels_file(data, labels)
    if not 0 <= holdout < len(images):
        raise DataError(f"holdout {holdout} must be at least 0 and less than the "
                        f"{len(images)} images")
    table = read_attributes(labels)
    names = cache_names(images, data)
    files = pd.Index([Path(n).name for n in names])
    if files.has_duplicates:
        twice = files[files.duplicated()][0]
        raise DataError(f"two images in {data} are named {twice}: labels are matched by file name")
    missing = ~files.isin(table.index)
    if missing.any():
        raise DataError(f"{int(missing.sum())} of the {len(files)} images in {data} have no "
                        f"labels in {labels} (first: {names[int(np.argmax(missing))]})")
    return Labels(table.loc[files].to_numpy(bool), tuple(table.columns), tuple(names), holdout)
