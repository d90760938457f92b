"""Looking at trained generators: where to load them from, training progression (figure and
animated GIF), linear versus spherical interpolation, nearest training images of generated
faces, and resolutions side by side. Used by the training and results notebooks."""

import re

import imageio.v3 as iio
import matplotlib.pyplot as plt
import numpy as np

from facegan.data.images import load_images
from facegan.errors import FaceganError
from facegan.figures.grids import GRID_PADDING, image_grid
from facegan.figures.plots import save_figure
from facegan.metrics.pixels import pairwise_distances, pixel_features
from facegan.networks import pretrained
from facegan.networks.sampling import generate, interpolate, latents, load_generator
from facegan.training.runs import RunDir, snapshots


def trained_generator(name=None, run_dir=None):
    """(generator, where it came from): the shipped generator `name` if present, else the
    run folder's final generator, else its newest snapshot (a run still training)."""
    if name and name in pretrained.available():
        return pretrained.load(name), f"shipped generator {name!r}"
    if run_dir is not None:
        run = RunDir(run_dir)
        if run.sampling_generator.exists():
            return load_generator(run.sampling_generator), f"{run.sampling_generator}"
        saved = snapshots(run_dir)
        if saved:
            return load_generator(saved[-1][1]), f"{saved[-1][1]} (newest snapshot)"
    raise FaceganError(f"no generator: neither a shipped {name!r} nor one in run folder "
                       f"{run_dir}; train one with notebook 02 or 03")


def sample_grids(run_dir):
    """[(epoch, path)] of the run's per-epoch sample grids (always the same latents)."""
    grids = sorted(RunDir(run_dir).samples.glob("epoch_*.png"))
    return [(int(re.search(r"(\d+)", p.stem).group(1)), p) for p in grids]


def plot_progression(run_dir, path=None, panels=6):
    """Up to `panels` epochs' sample grids side by side, first and last included."""
    grids = sample_grids(run_dir)
    if not grids:
        raise FaceganError(f"no sample grids in {RunDir(run_dir).samples}")
    keep = np.unique(np.linspace(0, len(grids) - 1, min(panels, len(grids))).astype(int))
    fig, axes = plt.subplots(1, len(keep), figsize=(3.2 * len(keep), 3.5), squeeze=False)
    for ax, i in zip(axes[0], keep):
        epoch, file = grids[i]
        ax.imshow(iio.imread(file))
        ax.set_title(f"epoch {epoch}")
        ax.axis("off")
    fig.suptitle("The same latent vectors through training")
    return save_figure(fig, path)


def progression_gif(run_dir, path, seconds_per_frame=0.5, max_frames=20, max_width=640):
    """The run's sample grids through training as a looping animated GIF: at most
    `max_frames` epochs, evenly spaced with the first and last, and at most `max_width`
    pixels wide (wider grids are cropped to the top-left faces, at full resolution)."""
    grids = sample_grids(run_dir)
    if not grids:
        raise FaceganError(f"no sample grids in {RunDir(run_dir).samples}")
    keep = np.unique(np.linspace(0, len(grids) - 1, min(max_frames, len(grids))).astype(int))
    frames = np.stack([iio.imread(grids[i][1])[..., :3] for i in keep])
    if frames.shape[2] > max_width:
        tile = RunDir(run_dir).read_config()["resolution"] + GRID_PADDING
        side = (max_width - GRID_PADDING) // tile * tile + GRID_PADDING
        frames = frames[:, :side, :side]
    iio.imwrite(path, frames, duration=int(1000 * seconds_per_frame), loop=0)
    return path


def plot_interpolations(generator, path=None, seeds=((1, 2), (3, 4)), steps=9):
    """For each pair of seeds, a linear (top) and a spherical (bottom) path between them."""
    dim = generator.input_shape[-1]
    rows, labels, norms = [], [], []
    for a, b in seeds:
        z0, z1 = latents(1, dim, a)[0], latents(1, dim, b)[0]
        for spherical in (False, True):
            z = interpolate(z0, z1, steps, spherical=spherical)
            rows.append(generate(generator, z))
            labels.append(f"seeds {a}->{b}\n{'spherical' if spherical else 'linear'}")
            norms.append(np.linalg.norm(z, axis=1))
    fig, axes = plt.subplots(len(rows), 1, figsize=(steps * 1.05, len(rows) * 1.25), squeeze=False)
    for ax, images, label, norm in zip(axes[:, 0], rows, labels, norms):
        ax.imshow(image_grid(images, columns=steps))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"{label}\n|z| min {norm.min():.1f}", rotation=0, ha="right", va="center",
                      fontsize=8)
    axes[0, 0].set_title(f"Latent interpolation (|z| of a typical sample: {np.sqrt(dim):.1f})")
    return save_figure(fig, path)


def training_split(run_dir=None, shipped=None, data=None):
    """(training images, held-out images) as a run chose them: a run folder's, or those of the
    shipped generator `shipped`, read from `data` (default: the data its card names)."""
    if shipped:
        settings = pretrained.card(shipped).get("settings")
        if not settings:
            raise FaceganError(f"shipped generator {shipped!r} has no card with its settings")
        config = {**settings, "data": str(data or settings["data"])}
    else:
        config = RunDir(run_dir).read_config()
    images = load_images(config["data"], config["resolution"], config["seed"],
                         config["synthetic_size"], config.get("cache_dir"))
    count = len(images) - config.get("holdout", 0)
    return images[:count], images[count:]


def nearest_neighbours(images, training, chunk=2048):
    """(index, distance) of each image's nearest training image, in the pixel space of
    `facegan.metrics.pixels` (32x32, RMS distance), streaming the training set in chunks."""
    queries = pixel_features(images)
    best = np.full(len(images), np.inf, np.float32)
    index = np.zeros(len(images), np.int64)
    for start in range(0, len(training), chunk):
        d = pairwise_distances(queries, pixel_features(training[start:start + chunk]))
        closer = d.min(1) < best
        index[closer] = start + d.argmin(1)[closer]
        best = np.minimum(best, d.min(1))
    return index, best


def plot_nearest_neighbours(generated, training, index, distance, path=None, show_training=True):
    """Each generated face above its nearest training image, with their distance; with
    `show_training=False`, the generated faces alone, titled with the distance (for figures
    that are published where the training images may not be)."""
    n = len(generated)
    rows = 2 if show_training else 1
    fig, axes = plt.subplots(rows, n, figsize=(1.3 * n, 1.5 * rows), squeeze=False)
    for col in range(n):
        axes[0, col].imshow(generated[col])
        axes[rows - 1, col].set_title(f"{distance[col]:.3f}", fontsize=8)
        if show_training:
            axes[1, col].imshow(training[int(index[col])])
        for ax in axes[:, col]:
            ax.axis("off")
    if show_training:
        axes[0, 0].set_title("generated", fontsize=8, loc="left")
        title = "Generated faces (top) and their nearest training images (bottom, RMS distance)"
    else:
        title = "Generated faces, titled with the RMS distance to their nearest training image"
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_side_by_side(generators, path=None, n=8, seed=0):
    """One row of `n` samples per generator ({label: model}), each at its own resolution."""
    fig, axes = plt.subplots(len(generators), 1, figsize=(n * 1.3, 1.55 * len(generators)),
                             squeeze=False)
    for ax, (label, generator) in zip(axes[:, 0], generators.items()):
        images = generate(generator, latents(n, generator.input_shape[-1], seed))
        ax.imshow(image_grid(images, columns=n))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    axes[0, 0].set_title("Samples from each generator (same seed)")
    return save_figure(fig, path)
