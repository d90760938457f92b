"""Figures and tables of latent directions (facegan.editing.directions): the fits, what a
direction changes (`measure`), an edit grid, and the DCGAN paper's vector arithmetic."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from facegan.editing.directions import conditional, move
from facegan.figures.grids import image_grid
from facegan.figures.plots import save_figure
from facegan.networks.sampling import generate, latents


def direction_table(directions):
    """Each attribute's rate among the generator's faces and its linear fit's balanced
    accuracy on held-out latents, one row per attribute."""
    return pd.DataFrame({"rate": directions.rate,
                         "linear_balanced_accuracy": directions.accuracy},
                        index=pd.Index(directions.names, name="attribute"))


def measure(generator, classifier, directions, attributes, n=500, strength=2.0, seed=1,
            keep=()):
    """Does a direction change its attribute, and only it? For `n` faces moved by `strength`,
    the mean change of the target's probability beside the mean absolute change of every
    other attribute's, and the other attribute that moved most. With `keep`, each direction
    is `conditional` on those attributes. A last row moves the faces along a random
    direction: what any step of that length does."""
    z = latents(n, generator.input_shape[-1], seed)
    before = classifier.probabilities(generate(generator, z))
    random = np.random.default_rng(seed).standard_normal(z.shape[1])
    rows = {}
    for name in [*attributes, None]:
        direction = (conditional(directions, name, keep) if name
                     else random / np.linalg.norm(random))
        after = classifier.probabilities(generate(generator, move(z, direction, [strength])[:, 0]))
        change = (after - before).mean(0)
        others = [i for i in range(len(classifier.names)) if classifier.names[i] != name]
        absolute = np.abs(after - before).mean(0)
        top = others[int(np.argmax(absolute[others]))]
        target = classifier.index(name) if name else None
        kept = [k for k in keep if k != name]
        label = f"{name}, keeping {', '.join(kept)}" if name and kept else name
        rows[label or "(random direction)"] = {
            "target_before": before[:, target].mean() if name else np.nan,
            "target_after": after[:, target].mean() if name else np.nan,
            "target_change": change[target] if name else np.nan,
            "others_mean_abs_change": absolute[others].mean(),
            "most_changed_other": classifier.names[top],
            "its_change": change[top]}
    table = pd.DataFrame(rows).T
    table.index.name = "direction"
    return table


def plot_edit(faces, strengths, attribute, probabilities=None, path=None, title=None):
    """The edit grid with each column's strength, and, given the classifier's probabilities
    of the attribute (N, steps), their mean per column."""
    rows, steps = faces.shape[:2]
    grid = image_grid(faces.reshape(-1, *faces.shape[2:]), columns=steps)
    fig, ax = plt.subplots(figsize=(1.1 * steps + 1, 1.1 * rows + 1.2))
    ax.imshow(grid)
    tile = grid.shape[1] / steps
    labels = [f"{s:+.1f}" + ("" if probabilities is None else f"\nP={p:.2f}")
              for s, p in zip(strengths, probabilities.mean(0) if probabilities is not None
                              else strengths)]
    ax.set_xticks((np.arange(steps) + 0.5) * tile, labels, fontsize=8)
    ax.set_yticks([])
    ax.set_xlabel(f"strength along the {attribute} direction (latent standard deviations)"
                  + ("; P: classifier's mean probability" if probabilities is not None else ""))
    ax.set_ylabel("faces")
    ax.set_title(title or f"Moving faces along {attribute}")
    return save_figure(fig, path)


def plot_vector_arithmetic(outcome, labels=("man with glasses", "man", "woman"), path=None):
    """Each group's faces above their average, then the result and its jittered copies."""
    fig, axes = plt.subplots(1, 4, figsize=(12, 4.2),
                             gridspec_kw={"width_ratios": [1, 1, 1, 2.2]})
    for ax, key, label, sign in zip(axes, "abc", labels, ("", "-", "+")):
        average = outcome["averages"]["abc".index(key)]
        faces = np.concatenate([outcome["groups"][key], average[None]])
        ax.imshow(image_grid(faces, columns=1))
        ax.set_title(f"{sign} {label}".strip(), fontsize=11)
        ax.set_xlabel(f"{len(faces) - 1} faces, then\nthe face of their\nmean latent", fontsize=8)
    result = outcome["result"]
    ax = axes[3]
    ax.imshow(image_grid(result, columns=3))
    measured = ", ".join(f"P({k}) {v:.2f}" for k, v in outcome["result_probabilities"].items())
    ax.set_title("= result (top left: the sum; the others jittered)", fontsize=11)
    ax.set_xlabel(f"classifier on these {len(result)} faces: {measured}", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Vector arithmetic on latents (DCGAN paper, fig. 7)")
    return save_figure(fig, path)
