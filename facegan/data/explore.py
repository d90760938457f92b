"""Looking at a face dataset before training on it: raw images, their sizes, what the
preprocessing does, pixel statistics, the mean face and CelebA's 40 binary attributes
(read by `facegan.data.labels`, plotted here).

Everything streams over the uint8 cache in chunks, so it works on all 202,599 CelebA images
as well as on the project's synthetic faces.
"""

from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from facegan.data.images import _Reader, list_images, preprocess
from facegan.data.synthetic import draw_face
from facegan.figures.plots import save_figure


def raw_images(data, n=25, seed=0):
    """`n` images as stored, before any preprocessing, picked at random: (names, PIL images).

    `data` is "synthetic" (faces drawn at 128x128) or a CelebA zip / folder of images.
    """
    if data == "synthetic":
        return [f"synthetic_{i}" for i in range(n)], [
            draw_face(np.random.default_rng([seed, i]), size=128) for i in range(n)]
    names = list_images(data)
    picks = np.random.default_rng(seed).choice(len(names), min(n, len(names)), replace=False)
    names = [names[i] for i in sorted(picks)]
    reader = _Reader(data)
    images = []
    for name in names:
        with reader.open(name) as f:
            images.append(Image.open(f).convert("RGB"))
    return names, images


def image_sizes(data, limit=None):
    """Counts of (width, height) over the dataset (its first `limit` images), from headers only."""
    if data == "synthetic":
        return pd.Series({"128x128": limit or 1}, name="images")
    names = list_images(data)[:limit]
    reader = _Reader(data)
    sizes = Counter()
    for name in names:
        with reader.open(name) as f:
            sizes[Image.open(f).size] += 1  # PIL reads the header, not the pixels
    counts = pd.Series({f"{w}x{h}": c for (w, h), c in sizes.most_common()}, name="images")
    counts.index.name = "width x height"
    return counts


def plot_raw_grid(names, images, path=None, columns=5):
    """Images at their stored size and aspect ratio, in a grid titled with their names."""
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, name, image in zip(axes.ravel(), names, images):
        ax.imshow(image)
        ax.set_title(f"{Path(name).name}\n{image.width}x{image.height}", fontsize=7)
    return save_figure(fig, path)


def plot_crop_resize(images, resolution, path=None):
    """Top: the stored image with the centre square the model keeps. Bottom: what it sees."""
    fig, axes = plt.subplots(2, len(images), figsize=(2.2 * len(images), 4.6), squeeze=False)
    for col, image in enumerate(images):
        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        axes[0, col].imshow(image)
        axes[0, col].add_patch(plt.Rectangle((left - 0.5, top - 0.5), side, side, fill=False,
                                             edgecolor="yellow", linewidth=1.5))
        axes[0, col].set_title(f"stored {w}x{h}", fontsize=8)
        axes[1, col].imshow(preprocess(image, resolution)[0])
        axes[1, col].set_title(f"crop {side}x{side} -> {resolution}x{resolution}", fontsize=8)
        for ax in axes[:, col]:
            ax.axis("off")
    fig.suptitle("Centre square crop, then antialiased resize")
    return save_figure(fig, path)


def _chunks(images, chunk=2048):
    for start in range(0, len(images), chunk):
        yield images[start:min(start + chunk, len(images))]


def channel_statistics(images):
    """Per-channel pixel statistics of uint8 (N, R, R, 3) images, exact, as a DataFrame.

    A 256-bin histogram per channel is summed chunk by chunk; mean, spread and percentiles
    are read from it, so memory stays flat however many images there are.
    """
    histogram = np.zeros((3, 256), np.int64)
    for batch in _chunks(images):
        for c in range(3):
            histogram[c] += np.bincount(batch[..., c].ravel(), minlength=256)
    values = np.arange(256)
    rows = {}
    for c, channel in enumerate("RGB"):
        count = histogram[c].sum()
        mean = (histogram[c] * values).sum() / count
        cumulative = np.cumsum(histogram[c]) / count
        percentile = {f"p{q}": int(np.searchsorted(cumulative, q / 100)) for q in (1, 50, 99)}
        rows[channel] = {
            "mean": mean, "std": np.sqrt((histogram[c] * (values - mean) ** 2).sum() / count),
            "min": int(values[histogram[c] > 0].min()), **percentile,
            "max": int(values[histogram[c] > 0].max()),
        }
    table = pd.DataFrame(rows).T
    table.index.name = "channel"
    return table


def mean_face(images):
    """The pixel-wise mean of uint8 (N, R, R, 3) images, as a uint8 image."""
    total = np.zeros(images[0:1].shape[1:], np.float64)
    for batch in _chunks(images):
        total += batch.sum(axis=0, dtype=np.float64)
    return np.rint(total / len(images)).astype(np.uint8)


def plot_attribute_frequencies(attributes, path=None):
    """Share of images with each attribute, as horizontal bars, most common first."""
    share = attributes.mean().sort_values()
    fig, ax = plt.subplots(figsize=(7, 9))
    ax.barh(share.index, share.values, color="tab:blue")
    ax.set(xlabel="share of images", xlim=(0, 1),
           title=f"CelebA attributes over {len(attributes):,} images")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def plot_attribute_correlations(attributes, path=None):
    """Pearson correlation between every pair of attributes, as a heatmap."""
    corr = attributes.astype(float).corr().fillna(0)  # an attribute nobody has: no correlation
    fig, ax = plt.subplots(figsize=(11, 9.5))
    image = ax.imshow(corr.values, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(corr)), corr.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(corr)), corr.index, fontsize=7)
    ax.set_title("Correlation between CelebA attributes")
    fig.colorbar(image, ax=ax, shrink=0.8, label="Pearson correlation")
    return save_figure(fig, path)
