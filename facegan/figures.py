"""Re-make a run's committed figures and gallery: `python -m facegan figures --run runs/NAME`.

Writes, under a name (default: the run folder's name):
  figures/NAME_loss_curves.png    losses and D's accuracies over training
  figures/NAME_progression.png    one fixed latent batch through the snapshots, epoch by epoch
  figures/NAME_interpolation.png  spherical latent interpolations between seeds
  generated_images/NAME_gallery.png  64 faces from the final generator
"""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from facegan.errors import FaceganError
from facegan.plots import image_grid, plot_losses, save_grid
from facegan.runs import RunDir
from facegan.sampling import generate, interpolate, latents, load_generator, sample


def _snapshots(run):
    """(epoch, path) of every snapshot plus the final generator, by epoch."""
    found = {int(re.search(r"(\d+)", p.stem).group(1)): p
             for p in run.snapshots.glob("generator_epoch_*.keras")}
    if run.generator.exists():
        found[int(run.read_history()["epoch"].max())] = run.generator
    return sorted(found.items())


def progression(run, path, columns=8, max_rows=6, title=None):
    """Rows of the same fixed latents, one row per snapshot epoch."""
    snapshots = _snapshots(run)
    if not snapshots:
        raise FaceganError(f"no snapshots or final generator in {run.path}")
    keep = np.unique(np.linspace(0, len(snapshots) - 1, min(max_rows, len(snapshots))).astype(int))
    z = np.load(run.fixed_latents)[:columns]
    rows = [(epoch, image_grid(generate(load_generator(file), z), columns=columns))
            for epoch, file in (snapshots[i] for i in keep)]
    fig, axes = plt.subplots(len(rows), 1, figsize=(columns * 1.1, len(rows) * 1.25),
                             squeeze=False)
    for ax, (epoch, grid) in zip(axes[:, 0], rows):
        ax.imshow(grid)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"epoch {epoch}", rotation=0, ha="right", va="center")
    axes[0, 0].set_title(title or f"{run.path.name}: the same latents across training")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def interpolation(generator, path, seeds=((1, 2), (3, 4), (5, 6), (7, 8)), steps=10, title=None):
    """Spherical interpolations, one row per pair of seeds."""
    dim = generator.input_shape[-1]
    z = np.concatenate([interpolate(latents(1, dim, a)[0], latents(1, dim, b)[0], steps)
                        for a, b in seeds])
    fig, ax = plt.subplots(figsize=(steps * 1.0, len(seeds) * 1.05))
    ax.imshow(image_grid(generate(generator, z), columns=steps))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("spherical interpolation in latent space  →")
    ax.set_title(title or "Latent interpolation between seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def make_figures(run_dir, name=None, figures_dir="figures", gallery_dir="generated_images"):
    """All committed figures of a run; returns the written paths."""
    run = RunDir(run_dir)
    config = run.read_config()
    name = name or run.path.name
    figures_dir, gallery_dir = Path(figures_dir), Path(gallery_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    res = config["resolution"]
    label = f"{name} ({res}x{res}, {config['loss']})"
    if not run.generator.exists():
        raise FaceganError(f"{run.path} has no final generator.keras yet (still training?)")
    generator = load_generator(run.generator)
    loss_curves = figures_dir / f"{name}_loss_curves.png"
    plot_losses(run.read_history(), loss_curves, title=f"{label}: losses")
    return [
        loss_curves,
        progression(run, figures_dir / f"{name}_progression.png",
                    title=f"{label}: the same latents across training"),
        interpolation(generator, figures_dir / f"{name}_interpolation.png",
                      title=f"{label}: spherical latent interpolation"),
        save_grid(gallery_dir / f"{name}_gallery.png", sample(generator, 64, seed=0), columns=8),
    ]
