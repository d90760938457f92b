"""The WGAN-GP gradient penalty (Gulrajani et al. 2017) as a layer of the D-phase model.

WGAN-GP keeps the critic D 1-Lipschitz softly: it penalises (|grad_x D(x)| - 1)^2 at
points x uniformly interpolated between real and generated images. The penalty is itself
a gradient, and D's step needs its gradient with respect to D's weights: double backprop.
keras.ops has no input-gradient op, so `input_gradients` below calls each backend's
autograd (tf.GradientTape, torch.autograd.grad, jax.grad); everything else stays Keras.

Why this loss does not need its own hand-written step: the penalty is a third output of
the D-phase model, (real, z) -> (D(real), D(G(z)), penalty), so D still trains through
compile() and train_on_batch, and G still trains through the combined model with D frozen
(its WGAN loss, -D(G(z)), needs no penalty).
"""

import keras
from keras import ops


def input_gradients(critic, x):
    """d sum(critic(x)) / dx, itself differentiable with respect to the critic's weights.

    The critic runs with training=False: it must hold no BatchNorm (the penalty is per
    sample), and it must not update state (spectral norm's `u`) inside the inner gradient.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = critic(x, training=False)
        return tape.gradient(scores, x)
    if backend == "torch":
        import torch

        with torch.enable_grad():  # also when Keras builds the model under no_grad
            x = x.detach().requires_grad_(True)
            scores = critic(x, training=False)
            return torch.autograd.grad(scores.sum(), x, create_graph=True)[0]
    if backend == "jax":
        import jax

        return jax.grad(lambda x: ops.sum(critic(x, training=False)))(x)
    raise NotImplementedError(f"no gradient penalty for backend {backend!r}")


class GradientPenalty(keras.layers.Layer):
    """[real, fake] (B, H, W, C) each -> (B, 1) per-sample (|grad D(x_hat)| - 1)^2.

    x_hat = eps * real + (1 - eps) * fake, eps ~ U(0, 1) per sample; `penalty_loss`
    weights it (10 in the paper).
    """

    def __init__(self, critic, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.critic = critic
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        real, fake = inputs
        eps = keras.random.uniform((ops.shape(real)[0], 1, 1, 1), dtype=real.dtype,
                                   seed=self.seed_generator)
        x_hat = ops.stop_gradient(eps * real + (1.0 - eps) * fake)
        # (B, H, W, C); summed in float32, also under mixed precision
        grads = ops.cast(input_gradients(self.critic, x_hat), "float32")
        norms = ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3)) + 1e-12)  # (B,)
        return ops.square(norms - 1.0)[:, None]

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], 1)


def penalty_loss(weight):
    """The Keras loss on GradientPenalty's output: `weight` times the penalty (no target)."""
    def gradient_penalty(y_true, penalty):
        return weight * ops.mean(penalty, axis=-1)
    return gradient_penalty
