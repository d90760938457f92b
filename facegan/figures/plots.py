"""Image grids and training plots, saved at sizes that read well in a README."""

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from facegan.atomic import atomic_write

GRID_PADDING = 2  # pixels between and around the faces of a grid
FIGURE_DPI = 110


def image_grid(images, columns=None, padding=GRID_PADDING, background=255):
    """(N, H, W, 3) uint8 -> one (rows*H, columns*W, 3) uint8 grid with thin gaps."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c),
                   background, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y:y + h, x:x + w] = image
    return grid


def save_grid(path, images, columns=None, min_size=512):
    """Save a grid PNG, upscaled with nearest neighbour to at least `min_size` pixels wide."""
    grid = image_grid(images, columns)
    scale = max(1, math.ceil(min_size / grid.shape[1]))
    image = Image.fromarray(grid)
    if scale > 1:
        image = image.resize((grid.shape[1] * scale, grid.shape[0] * scale),
                             Image.Resampling.NEAREST)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, image.save)
    return path


def save_figure(fig, path=None, close=False):
    """Tighten `fig`'s layout; given a `path`, save it there (folders created) and, if
    `close`, close it. Returns `fig`."""
    fig.tight_layout()
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=FIGURE_DPI))
        if close:
            plt.close(fig)
    return fig


def plot_losses(history, path=None, title="Training losses", smooth=None):
    """Loss curves and D's accuracies from a history DataFrame, against images seen."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    x = history["step"]
    smooth = smooth or max(1, len(history) // 50)
    for column, label in (("d_loss", "D loss"), ("g_loss", "G loss")):
        ax_loss.plot(x, history[column], alpha=0.25 if smooth > 1 else 1)
        ax_loss.plot(x, history[column].rolling(smooth, min_periods=1).mean(), label=label,
                     color=ax_loss.lines[-1].get_color())
    ax_loss.set(xlabel="step", ylabel="loss", title=title)
    ax_loss.legend()
    for column, label in (("d_acc_real", "D accuracy on real"), ("d_acc_fake", "D accuracy on fake")):
        ax_acc.plot(x, history[column].rolling(smooth, min_periods=1).mean(), label=label)
    ax_acc.set(xlabel="step", ylabel="accuracy", ylim=(-0.02, 1.02),
               title="Discriminator accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    return save_figure(fig, path, close=True)  # the trainer re-plots every epoch
