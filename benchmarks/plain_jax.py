"""The facegan DCGAN written in plain JAX (parameter pytrees, jax.lax convolutions, a
hand-written Adam, NHWC, the whole step in one `jax.jit` with its state donated): the JAX
bar the Keras paths are measured against. Same layers, initialisation and step as
benchmarks/plain_tf.py and plain_torch.py (D on real and fake with G's output held constant;
G through a D that takes no update, non-saturating BCE). Batch statistics in both phases;
the moving statistics, which training never reads, are not kept."""

import math

import jax
import jax.numpy as jnp

CONV = ("NHWC", "HWIO", "NHWC")


def adam(params, grads, state, learning_rate=2e-4, beta_1=0.5, beta_2=0.999, epsilon=1e-7):
    """One Adam (Kingma & Ba) update of a parameter pytree; state = (step, m, v)."""
    step, m, v = state
    step = step + 1
    m = jax.tree.map(lambda m, g: beta_1 * m + (1 - beta_1) * g, m, grads)
    v = jax.tree.map(lambda v, g: beta_2 * v + (1 - beta_2) * g * g, v, grads)
    scale = learning_rate * jnp.sqrt(1 - beta_2**step) / (1 - beta_1**step)
    params = jax.tree.map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + epsilon), params, m, v)
    return params, (step, m, v)


def adam_state(params):
    return (jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, params),
            jax.tree.map(jnp.zeros_like, params))


def _batch_norm(x, norm):
    gamma, beta = norm
    mean, variance = jnp.mean(x, (0, 1, 2)), jnp.var(x, (0, 1, 2))
    return (x - mean) * jax.lax.rsqrt(variance + 1e-3) * gamma + beta


def _normal(key, shape, mean=0.0):
    return mean + 0.02 * jax.random.normal(key, shape)


def init_generator(key, resolution, latent_dim, base_channels):
    blocks = int(math.log2(resolution // 4))
    channels = base_channels * 2 ** (blocks - 1)
    keys = iter(jax.random.split(key, 2 * blocks + 2))
    params = {"project": _normal(next(keys), (latent_dim, 16 * channels)),
              "norms": [(_normal(next(keys), (channels,), 1.0), jnp.zeros(channels))],
              "kernels": [], "bias": jnp.zeros(3)}
    for _ in range(1, blocks):
        params["kernels"].append(_normal(next(keys), (4, 4, channels, channels // 2)))  # HWIO
        channels //= 2
        params["norms"].append((_normal(next(keys), (channels,), 1.0), jnp.zeros(channels)))
    params["kernels"].append(_normal(next(keys), (4, 4, channels, 3)))
    return params


def generator(params, z):
    start = params["project"].shape[1] // 16
    x = jnp.reshape(z @ params["project"], (-1, 4, 4, start))                 # (B, 4, 4, C)
    x = jax.nn.relu(_batch_norm(x, params["norms"][0]))
    for kernel, norm in zip(params["kernels"][:-1], params["norms"][1:]):
        # (B, S, S, C) -> (B, 2S, 2S, C/2)
        x = jax.lax.conv_transpose(x, kernel, (2, 2), "SAME", dimension_numbers=CONV)
        x = jax.nn.relu(_batch_norm(x, norm))
    x = jax.lax.conv_transpose(x, params["kernels"][-1], (2, 2), "SAME", dimension_numbers=CONV)
    return jnp.tanh(x + params["bias"])                                        # (B, R, R, 3)


def init_discriminator(key, resolution, base_channels):
    blocks = int(math.log2(resolution // 4))
    keys = iter(jax.random.split(key, 2 * blocks + 1))
    params = {"kernels": [], "norms": [], "first_bias": jnp.zeros(base_channels)}
    channels = 3
    for i in range(blocks):
        out = base_channels * 2**i
        params["kernels"].append(_normal(next(keys), (4, 4, channels, out)))
        if i > 0:
            params["norms"].append((_normal(next(keys), (out,), 1.0), jnp.zeros(out)))
        channels = out
    params["dense"], params["dense_bias"] = _normal(next(keys), (16 * channels, 1)), jnp.zeros(1)
    return params


def discriminator(params, image):
    def conv(x, kernel):
        return jax.lax.conv_general_dilated(x, kernel, (2, 2), "SAME", dimension_numbers=CONV)

    x = jax.nn.leaky_relu(conv(image, params["kernels"][0]) + params["first_bias"], 0.2)
    for kernel, norm in zip(params["kernels"][1:], params["norms"]):
        x = jax.nn.leaky_relu(_batch_norm(conv(x, kernel), norm), 0.2)
    return jnp.reshape(x, (x.shape[0], -1)) @ params["dense"] + params["dense_bias"]  # (B, 1)


def _d_loss(d_params, g_params, real, z):
    fake = generator(g_params, z)  # differentiated for D's parameters only: G held constant
    # BCE with logits: -log sigmoid(l) = softplus(-l) for "real", softplus(l) for "fake"
    return (jnp.mean(jax.nn.softplus(-discriminator(d_params, real)))
            + jnp.mean(jax.nn.softplus(discriminator(d_params, fake))))


def _g_loss(g_params, d_params, z):
    return jnp.mean(jax.nn.softplus(-discriminator(d_params, generator(g_params, z))))


def _train_step(state, real, z_for_d, z_for_g):
    g_params, d_params, g_adam, d_adam = state
    d_loss, d_grads = jax.value_and_grad(_d_loss)(d_params, g_params, real, z_for_d)
    d_params, d_adam = adam(d_params, d_grads, d_adam)
    g_loss, g_grads = jax.value_and_grad(_g_loss)(g_params, d_params, z_for_g)
    g_params, g_adam = adam(g_params, g_grads, g_adam)
    return (g_params, d_params, g_adam, d_adam), d_loss, g_loss


class PlainGAN:
    """The two-phase step in plain JAX; `train_step` takes the same arrays as GAN."""

    def __init__(self, resolution, latent_dim=100, base_channels=64):
        g_key, d_key = jax.random.split(jax.random.PRNGKey(0))
        g = init_generator(g_key, resolution, latent_dim, base_channels)
        d = init_discriminator(d_key, resolution, base_channels)
        self.state = (g, d, adam_state(g), adam_state(d))
        self._step = jax.jit(_train_step, donate_argnums=0)

    def train_step(self, real, z_for_d, z_for_g):
        self.state, d_loss, g_loss = self._step(self.state, real, z_for_d, z_for_g)
        return {"d_loss": float(d_loss), "g_loss": float(g_loss)}  # float() waits for the device
