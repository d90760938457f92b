"""Adversarial losses on discriminator logits, as Keras loss functions `fn(y_true, logits)`.

Each loss names three functions: D's loss on real images, D's loss on generated images,
and G's loss. `y_true` carries the target (1 real, 0 fake; real targets may be smoothed);
the margin and Wasserstein losses ignore it. `threshold` is the logit above which D calls
an image real (for the accuracies in the history); `gradient_penalty` marks losses whose D
step adds the WGAN-GP penalty (facegan/training/gradient_penalty.py).
"""

from keras import ops


def _bce(y_true, logits):
    return ops.mean(ops.binary_crossentropy(y_true, logits, from_logits=True), axis=-1)


def _squared_error(y_true, logits):
    return ops.mean(ops.square(logits - y_true), axis=-1)


def _minus_score(y_true, logits):
    return -ops.mean(logits, axis=-1)


def _score(y_true, logits):
    return ops.mean(logits, axis=-1)


def _hinge_real(y_true, logits):
    return ops.mean(ops.relu(1.0 - logits), axis=-1)


def _hinge_fake(y_true, logits):
    return ops.mean(ops.relu(1.0 + logits), axis=-1)


LOSSES = {
    # Non-saturating BCE (Goodfellow et al. 2014): G maximises log D(G(z)) rather than
    # minimising log(1 - D(G(z))), whose gradient vanishes while D easily rejects fakes.
    "bce": {"real": _bce, "fake": _bce, "generator": _bce, "threshold": 0.0},
    # WGAN-GP (Gulrajani et al. 2017): D is a critic estimating the Wasserstein distance;
    # the gradient penalty keeps it 1-Lipschitz, so its gradients do not vanish.
    "wgan-gp": {"real": _minus_score, "fake": _score, "generator": _minus_score,
                "threshold": 0.0, "gradient_penalty": True},
    # Hinge (Lim & Ye 2017; SNGAN, BigGAN): D stops pushing images already beyond the
    # margin, G maximises the critic's score.
    "hinge": {"real": _hinge_real, "fake": _hinge_fake, "generator": _minus_score,
              "threshold": 0.0},
    # Least squares (Mao et al. 2017, the 0-1-1 scheme): D regresses 1 for real and 0 for
    # fake, G pulls D(G(z)) to 1; fakes far from the boundary still get a gradient.
    "lsgan": {"real": _squared_error, "fake": _squared_error, "generator": _squared_error,
              "threshold": 0.5},
}


def get_loss(name):
    """The entry of loss `name`: functions real, fake, generator; threshold; gradient_penalty."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {name!r}")
    return LOSSES[name]
