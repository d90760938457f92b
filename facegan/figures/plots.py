"""Matplotlib figures saved at sizes that read well in a README, and the training plot."""

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
