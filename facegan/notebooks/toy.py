"""A GAN you can watch: 8 Gaussians on a ring, tiny MLPs, the project's own two-phase step.

In two dimensions every part of the game can be drawn: the data, the generator's samples
and the discriminator's belief D(x) at every point of the plane. The networks are small
MLPs, but they train through `facegan.training.gan.GAN`, the same class (combined models, frozen
discriminator) that trains the face generators.
"""

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from keras import layers

from facegan.figures.plots import FIGURE_DPI, save_figure
from facegan.training.gan import GAN

RADIUS = 2.0
MODE_STD = 0.05


def ring_centres(modes=8, radius=RADIUS):
    """(modes, 2) centres evenly spaced on a circle."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def sample_ring(n, rng, modes=8, radius=RADIUS, std=MODE_STD):
    """`n` points from a mixture of `modes` equal Gaussians on a ring: the "real data"."""
    centres = ring_centres(modes, radius)
    picks = rng.integers(modes, size=n)
    return (centres[picks] + std * rng.standard_normal((n, 2))).astype(np.float32)


def build_toy_generator(latent_dim=2, width=128, depth=3):
    """z (latent_dim,) -> point (2,): an MLP with ReLU hidden layers and a linear output."""
    z = keras.Input((latent_dim,), name="z")
    x = z
    for i in range(depth):
        x = layers.Dense(width, activation="relu", name=f"g_dense_{i}")(x)  # (width,)
    return keras.Model(z, layers.Dense(2, name="g_point")(x), name="toy_generator")


def build_toy_discriminator(width=128, depth=3):
    """point (2,) -> one logit (1,), like the face discriminator."""
    point = keras.Input((2,), name="point")
    x = point
    for i in range(depth):
        x = layers.Dense(width, activation="relu", name=f"d_dense_{i}")(x)  # (width,)
    return keras.Model(point, layers.Dense(1, name="d_logit")(x), name="toy_discriminator")


def toy_gan(latent_dim=2, g_width=128, d_width=128, depth=3, learning_rate=1e-3,
            d_learning_rate=None, seed=0):
    """A `facegan.training.gan.GAN` over the two MLPs, seeded so a run can be repeated.

    d_learning_rate: D's own learning rate, when it should differ from G's.
    """
    keras.utils.set_random_seed(seed)
    gan = GAN(build_toy_generator(latent_dim, g_width, depth),
              build_toy_discriminator(d_width, depth), learning_rate=learning_rate, beta_1=0.5)
    if d_learning_rate is not None:
        gan.discriminator_trainer.optimizer.learning_rate = d_learning_rate
    return gan


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def decision_surface(discriminator, extent=3.0, size=120):
    """D's probability that x is real on a size x size grid over [-extent, extent]^2."""
    axis = np.linspace(-extent, extent, size, dtype=np.float32)
    xx, yy = np.meshgrid(axis, axis)
    logits = _predict(discriminator, np.stack([xx.ravel(), yy.ravel()], axis=1))
    return axis, 1 / (1 + np.exp(-logits.reshape(size, size)))


def mode_coverage(points, modes=8, radius=RADIUS, std=MODE_STD):
    """How many modes the points cover, and how many points are good samples.

    A point belongs to its nearest centre if it lies within 3 standard deviations of it;
    a mode is covered when it holds at least a quarter of its fair share of points.
    """
    centres = ring_centres(modes, radius)
    distance = np.linalg.norm(points[:, None] - centres[None], axis=2)
    nearest, good = distance.argmin(1), distance.min(1) < 3 * std
    counts = np.bincount(nearest[good], minlength=modes)
    return int((counts >= 0.25 * len(points) / modes).sum()), float(good.mean())


def train_toy(gan, steps, batch_size=256, seed=0, snapshot_steps=(), modes=8):
    """Train `gan` on the ring; return (history DataFrame, {step: snapshot}).

    The history logs, every 50 steps, the losses, the modes covered and the spread of G's
    samples (their standard deviation; about 1.4 for the ring, near 0 for a collapsed G).
    A snapshot holds G's samples for fixed latents and D's decision surface at that step.
    """
    rng = np.random.default_rng(seed)
    latent_dim = gan.generator.input_shape[-1]
    fixed_z = rng.standard_normal((1000, latent_dim)).astype(np.float32)
    rows, snapshots = [], {}

    def snapshot(step):
        samples = _predict(gan.generator, fixed_z)
        axis, surface = decision_surface(gan.discriminator)
        snapshots[step] = {"samples": samples, "axis": axis, "surface": surface}

    if 0 in snapshot_steps:
        snapshot(0)
    for step in range(1, steps + 1):
        real = sample_ring(batch_size, rng, modes)
        z = rng.standard_normal((2, batch_size, latent_dim)).astype(np.float32)
        metrics = gan.train_step(real, z[0], z[1])
        if step % 50 == 0 or step == steps:
            samples = _predict(gan.generator, fixed_z)
            covered, good = mode_coverage(samples, modes)
            rows.append({"step": step, **metrics, "modes_covered": covered, "good_samples": good,
                         "spread": float(samples.std(0).mean())})
        if step in snapshot_steps:
            snapshot(step)
    return pd.DataFrame(rows), snapshots


def plot_snapshots(snapshots, title, path=None, modes=8):
    """Top row: D's decision surface. Bottom row: G's samples over the real data. One column per step."""
    steps = sorted(snapshots)
    fig, axes = plt.subplots(2, len(steps), figsize=(2.6 * len(steps), 5.6), squeeze=False)
    real = sample_ring(1000, np.random.default_rng(1), modes)
    centres = ring_centres(modes)
    for col, step in enumerate(steps):
        snap = snapshots[step]
        top, bottom = axes[0, col], axes[1, col]
        extent = [snap["axis"][0], snap["axis"][-1]] * 2
        image = top.imshow(snap["surface"], origin="lower", extent=extent, cmap="RdBu_r",
                           vmin=0, vmax=1)
        top.scatter(centres[:, 0], centres[:, 1], s=12, c="k", marker="x")
        top.set_title(f"step {step}: D(x)")
        bottom.scatter(real[:, 0], real[:, 1], s=2, c="tab:blue", alpha=0.3, label="real")
        bottom.scatter(snap["samples"][:, 0], snap["samples"][:, 1], s=2, c="tab:red",
                       alpha=0.5, label="G(z)")
        covered, _ = mode_coverage(snap["samples"], modes)
        bottom.set_title(f"step {step}: {covered}/{modes} modes")
        for ax in (top, bottom):
            ax.set(xlim=extent[:2], ylim=extent[:2], aspect="equal")
            ax.set_xticks([])
            ax.set_yticks([])
    axes[1, 0].legend(loc="lower left", fontsize=7, markerscale=4)
    axes[0, 0].set_ylabel("discriminator")
    axes[1, 0].set_ylabel("generator")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="D(x) = P(real)")
    fig.suptitle(title)
    if path:
        fig.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight")
    return fig


def weight_changes(gan, real, z):
    """Which variables each phase of one training step changes, as a DataFrame.

    Runs the D phase and then the G phase once, comparing every weight of G and D before
    and after each: the D phase must change only D, the G phase only G.
    """
    variables = {f"G/{v.path}": v for v in gan.generator.trainable_weights}
    variables |= {f"D/{v.path}": v for v in gan.discriminator.trainable_weights}

    def values():
        return {name: keras.ops.convert_to_numpy(v).copy() for name, v in variables.items()}

    before = values()
    gan.train_discriminator(real, z)
    after_d = values()
    gan.train_generator(z)
    after_g = values()
    return pd.DataFrame({
        "D phase changed": {n: not np.array_equal(before[n], after_d[n]) for n in variables},
        "G phase changed": {n: not np.array_equal(after_d[n], after_g[n]) for n in variables},
    })


def plot_history(histories, path=None, modes=8):
    """Losses, modes covered and the spread of G's samples against training step, one line
    per run ({label: history})."""
    fig, (ax_loss, ax_modes, ax_spread) = plt.subplots(1, 3, figsize=(15, 3.8))
    for label, history in histories.items():
        line, = ax_loss.plot(history["step"], history["g_loss"], label=f"{label}: G loss")
        ax_loss.plot(history["step"], history["d_loss"], "--", color=line.get_color(),
                     label=f"{label}: D loss")
        ax_modes.plot(history["step"], history["modes_covered"], color=line.get_color(),
                      label=label)
        ax_spread.plot(history["step"], history["spread"], color=line.get_color(), label=label)
    ax_loss.set(xlabel="step", ylabel="loss", title="Losses")
    ax_modes.set(xlabel="step", ylabel="modes covered", ylim=(-0.3, modes + 0.3),
                 title=f"Modes of the ring G covers (of {modes})")
    real_spread = sample_ring(10000, np.random.default_rng(0), modes).std(0).mean()
    ax_spread.axhline(real_spread, color="grey", linestyle=":", label="real data")
    ax_spread.set(xlabel="step", ylabel="std of G's samples", title="Spread of G's samples")
    for ax in (ax_loss, ax_modes, ax_spread):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_generator_losses(path=None):
    """The minimax and the non-saturating G loss, and their gradients, against D(G(z)).

    With D's logit l and D(G(z)) = sigmoid(l): minimax log(1 - D) has d/dl = -D, which
    vanishes when D confidently rejects the fakes (early in training); non-saturating
    -log D has d/dl = -(1 - D), largest exactly there.
    """
    d = np.linspace(1e-3, 1 - 1e-3, 500)
    fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(11, 3.8))
    ax_loss.plot(d, np.log(1 - d), label="minimax: minimise log(1 - D(G(z)))")
    ax_loss.plot(d, -np.log(d), label="non-saturating: minimise -log D(G(z))")
    ax_loss.set(xlabel="D(G(z))", ylabel="generator loss", title="Generator losses")
    ax_grad.plot(d, d, label="minimax: |dL/dlogit| = D(G(z))")
    ax_grad.plot(d, 1 - d, label="non-saturating: |dL/dlogit| = 1 - D(G(z))")
    ax_grad.axvspan(0, 0.1, color="grey", alpha=0.15, label="early training: D rejects fakes")
    ax_grad.set(xlabel="D(G(z))", ylabel="gradient size at D's logit",
                title="Gradient that reaches G")
    for ax in (ax_loss, ax_grad):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def fake_scores(gan, n=1000, seed=0):
    """D(G(z)) for `n` fresh latents: how real D finds the generator's samples."""
    z = np.random.default_rng(seed).standard_normal((n, gan.generator.input_shape[-1]))
    logits = _predict(gan.gan, z.astype(np.float32))
    return 1 / (1 + np.exp(-logits[:, 0]))
