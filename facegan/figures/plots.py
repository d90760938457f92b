"""Matplotlib figures saved at sizes that read well in a README, and the training plot."""

import math
from pathlib import Path

import matplotlib.pyplot as plt

from facegan.atomic import atomic_write

FIGURE_DPI = 110


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



DATA_SIZE_PANELS = [("face_rate", "face-detection rate (higher is better)"),
                    ("diversity", "diversity (1 = as varied as the data)"),
                    ("fid", "FID (lower is better)"),
                    ("attribute_fd", "attribute Fréchet distance (lower is better)"),
                    ("memorisation_median_ratio",
                     "distance to the nearest training face\n(relative to held-out faces')"),
                    ("memorisation", "near copies of training faces\n(share of samples)")]
DATA_SIZE_REAL = {"memorisation_median_ratio": 1.0, "memorisation": "memorisation_real"}


def plot_data_size(results, path=None, base_channels=32, samples=500):
    """Each measure against images seen, one line per training-set size, real held-out faces
    dashed where they have a value. `results`: {size: [metrics row with `images_seen`, ...]}
    (`facegan.training.data_size.train`'s tables as records); `base_channels` and `samples`
    (per score) are the runs' settings, for the title."""
    rows = [r for table in results.values() for r in table]
    panels = [(key, label) for key, label in DATA_SIZE_PANELS if any(key in r for r in rows)]
    columns = min(3, len(panels))
    fig, axes = plt.subplots(math.ceil(len(panels) / columns), columns,
                             figsize=(4.3 * columns, 3.4 * math.ceil(len(panels) / columns)),
                             squeeze=False)
    for ax, (key, label) in zip(axes.flat, panels):
        for i, (size, table) in enumerate(results.items()):
            ax.plot([r["images_seen"] / 1000 for r in table], [r.get(key) for r in table],
                    marker=".", color=f"C{i}", label=f"{int(size):,} images")
        real = DATA_SIZE_REAL.get(key)
        if real is not None:
            ax.axhline(rows[0][real] if isinstance(real, str) else real, ls="--",
                       color="gray", label="real held-out faces")
        ax.set(xlabel="images seen (thousands)", title=label)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    axes.flat[len(panels) - 1].legend(fontsize=8, title="trained on", title_fontsize=8)
    sizes = ", ".join(f"{int(size):,}" for size in results)
    fig.suptitle(f"The same training on {sizes} faces (64x64, recommended preset, base channels "
                 f"{base_channels}; {samples} samples per score)", fontsize=11)
    return save_figure(fig, path, close=path is not None)
