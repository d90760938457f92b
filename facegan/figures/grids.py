"""Image grids: faces side by side in one uint8 image, and that image saved as a PNG.
NumPy and PIL only (no matplotlib), for the app and the command line."""

import math
from pathlib import Path

import numpy as np
from PIL import Image

from facegan.atomic import atomic_write

GRID_PADDING = 2  # pixels between and around the faces of a grid


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
