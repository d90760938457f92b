"""Adversarial losses on discriminator logits, as Keras loss functions `fn(y_true, logits)`.

Each loss names three functions: D's loss on real images, D's loss on generated images,
and G's loss. `y_true` carries the target (1 real, 0 fake; real targets may be smoothed).
"""

from keras import ops


def _bce(y_true, logits):
    return ops.mean(ops.binary_crossentropy(y_true, logits, from_logits=True), axis=-1)


# Non-saturating BCE (Goodfellow et al. 2014): G maximises log D(G(z)) rather than
# minimising log(1 - D(G(z))), whose gradient vanishes while D easily rejects fakes.
LOSSES = {
    "bce": {"real": _bce, "fake": _bce, "generator": _bce},
}


def get_loss(name):
    """The three functions of loss `name` as a dict with keys real, fake, generator."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {name!r}")
    return LOSSES[name]
