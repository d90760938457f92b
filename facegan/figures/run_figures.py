"""Re-make a run's committed figures and gallery: `python -m facegan figures --run runs/NAME`.

Writes, under a name (default: the run folder's name):
  figures/NAME_loss_curves.png    losses and D's accuracies over training
  figures/NAME_progression.png    the fixed latent grid across epochs
  figures/NAME_progression.gif    the same, every epoch, animated
  figures/NAME_interpolation.png  linear and spherical latent interpolation between seeds
  figures/NAME_metrics.png        metrics over training (runs trained with --eval-every)
  generated_images/NAME_gallery.png  64 faces from the final generator
"""

from pathlib import Path

import matplotlib.pyplot as plt

from facegan.errors import FaceganError
from facegan.figures import gallery
from facegan.figures.grids import save_grid
from facegan.figures.plots import FIGURE_DPI, plot_losses
from facegan.metrics.evaluate import plot_metrics
from facegan.networks.sampling import load_generator, sample
from facegan.training.runs import RunDir


def make_figures(run_dir, name=None, figures_dir="figures", gallery_dir="generated_images",
                 epoch=None):
    """All committed figures of a run; returns the written paths. The gallery and
    interpolation come from its final generator, or from its snapshot of `epoch` (the one
    shipped; the run may be unfinished); losses, progression and metrics cover all of it."""
    run = RunDir(run_dir)
    config = run.read_config()
    if not epoch and not run.sampling_generator.exists():
        raise FaceganError(f"{run.path} has no final {run.sampling_generator.name} yet "
                           "(still training? --epoch N draws from a snapshot)")
    name = name or run.path.name
    figures_dir, gallery_dir = Path(figures_dir), Path(gallery_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    res = config["resolution"]
    settings = [f"{res}x{res}", f"{config['loss']} loss"]
    settings += ["nearest upsampling"] if config.get("upsampling") == "nearest" else []
    settings += ["EMA"] if config.get("ema") else []
    settings += [f"epoch {epoch}"] if epoch else []
    label = f"{name} ({', '.join(settings)})"
    # The weight average, if the run keeps one.
    generator = load_generator(run.sampling_snapshot(epoch) if epoch else run.sampling_generator)

    def figure(suffix, fig, what):
        path = figures_dir / f"{name}_{suffix}.png"
        fig.suptitle(f"{label}: {what}", fontsize=11, y=1.0)
        fig.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight")
        plt.close(fig)
        return path

    paths = [
        figure("loss_curves", plot_losses(run.read_history(), title="Losses"), "training"),
        figure("progression", gallery.plot_progression(run.path),
               "the same latents through training"),
        gallery.progression_gif(run.path, figures_dir / f"{name}_progression.gif"),
        figure("interpolation", gallery.plot_interpolations(generator), "latent interpolation"),
    ]
    if run.metrics.exists():
        paths.append(figure("metrics", plot_metrics(run.read_metrics(), mark_epoch=epoch),
                            "metrics during training"))
    paths.append(save_grid(gallery_dir / f"{name}_gallery.png", sample(generator, 64, seed=0),
                           columns=8))
    return paths
