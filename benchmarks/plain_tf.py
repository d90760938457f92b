"""The facegan DCGAN written in plain TensorFlow (tf.Variable, tf.nn ops, GradientTape, a
hand-written Adam, NHWC, fused BatchNorm, one `tf.function` per step): the TensorFlow bar
the Keras paths are measured against, with and without XLA. Same layers, initialisation and step as
benchmarks/plain_torch.py (D on real and fake with G's output held constant; G through a
D that takes no update, non-saturating BCE). Batch statistics in both phases; the moving
statistics, which training never reads, are not kept."""

import math

import tensorflow as tf


class Adam:
    """Adam (Kingma & Ba) over a list of variables, its slots created once."""

    def __init__(self, variables, learning_rate=2e-4, beta_1=0.5, beta_2=0.999, epsilon=1e-7):
        self.variables, self.lr, self.b1, self.b2, self.eps = variables, learning_rate, beta_1, beta_2, epsilon
        self.m = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.t = tf.Variable(0.0)

    def apply(self, grads):
        self.t.assign_add(1.0)
        scale = self.lr * tf.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        for var, g, m, v in zip(self.variables, grads, self.m, self.v):
            m.assign(self.b1 * m + (1 - self.b1) * g)
            v.assign(self.b2 * v + (1 - self.b2) * tf.square(g))
            var.assign_sub(scale * m / (tf.sqrt(v) + self.eps))


def _weight(shape, rng):
    return tf.Variable(rng.normal(shape, 0.0, 0.02))


def _norm(channels, rng):
    """BatchNorm's (gamma, beta), initialised as DCGAN's."""
    return tf.Variable(rng.normal((channels,), 1.0, 0.02)), tf.Variable(tf.zeros(channels))


def _batch_norm(x, gamma, beta):
    """Training-mode BatchNorm of NHWC `x` by TensorFlow's fused kernel (8% faster per step
    on a CPU than tf.nn.moments and tf.nn.batch_normalization)."""
    empty = tf.constant([], tf.float32)
    return tf.raw_ops.FusedBatchNormV3(x=x, scale=gamma, offset=beta, mean=empty, variance=empty,
                                       epsilon=1e-3, is_training=True)[0]


class Generator:
    def __init__(self, resolution, latent_dim, base_channels, rng):
        blocks = int(math.log2(resolution // 4))
        channels = base_channels * 2 ** (blocks - 1)
        self.start = channels
        self.project = _weight((latent_dim, 16 * channels), rng)
        self.norms = [_norm(channels, rng)]
        self.kernels = []
        for _ in range(1, blocks):
            self.kernels.append(_weight((4, 4, channels // 2, channels), rng))  # (h, w, out, in)
            channels //= 2
            self.norms.append(_norm(channels, rng))
        self.kernels.append(_weight((4, 4, 3, channels), rng))
        self.bias = tf.Variable(tf.zeros(3))
        self.variables = [self.project, *[v for pair in self.norms for v in pair], *self.kernels, self.bias]

    def __call__(self, z):
        x = tf.reshape(z @ self.project, (-1, 4, 4, self.start))            # (B, 4, 4, C)
        x = tf.nn.relu(_batch_norm(x, *self.norms[0]))
        for kernel, norm in zip(self.kernels[:-1], self.norms[1:]):
            size, out = 2 * x.shape[1], kernel.shape[2]
            x = tf.nn.conv2d_transpose(x, kernel, (tf.shape(x)[0], size, size, out), 2)  # (B, 2S, 2S, C/2)
            x = tf.nn.relu(_batch_norm(x, *norm))
        size = 2 * x.shape[1]
        x = tf.nn.conv2d_transpose(x, self.kernels[-1], (tf.shape(x)[0], size, size, 3), 2)
        return tf.tanh(x + self.bias)                                         # (B, R, R, 3)


class Discriminator:
    def __init__(self, resolution, base_channels, rng):
        blocks = int(math.log2(resolution // 4))
        self.kernels, self.norms, channels = [], [], 3
        for i in range(blocks):
            out = base_channels * 2**i
            self.kernels.append(_weight((4, 4, channels, out), rng))
            if i > 0:
                self.norms.append(_norm(out, rng))
            channels = out
        self.first_bias = tf.Variable(tf.zeros(base_channels))
        self.dense = _weight((16 * channels, 1), rng)
        self.dense_bias = tf.Variable(tf.zeros(1))
        self.variables = [*self.kernels, *[v for pair in self.norms for v in pair],
                          self.first_bias, self.dense, self.dense_bias]

    def __call__(self, image):
        x = tf.nn.leaky_relu(tf.nn.conv2d(image, self.kernels[0], 2, "SAME") + self.first_bias, 0.2)
        for kernel, norm in zip(self.kernels[1:], self.norms):
            x = tf.nn.leaky_relu(_batch_norm(tf.nn.conv2d(x, kernel, 2, "SAME"), *norm), 0.2)
        return tf.reshape(x, (tf.shape(x)[0], -1)) @ self.dense + self.dense_bias  # (B, 1)


class PlainGAN:
    """The two-phase step in plain TensorFlow; `train_step` takes the same arrays as GAN."""

    def __init__(self, resolution, latent_dim=100, base_channels=64, jit_compile=False):
        rng = tf.random.Generator.from_seed(0)
        self.generator = Generator(resolution, latent_dim, base_channels, rng)
        self.discriminator = Discriminator(resolution, base_channels, rng)
        self.g_optimizer = Adam(self.generator.variables)
        self.d_optimizer = Adam(self.discriminator.variables)
        self._step = tf.function(self._train_step, jit_compile=jit_compile)

    def _train_step(self, real, z_for_d, z_for_g):
        G, D = self.generator, self.discriminator
        bce = tf.nn.sigmoid_cross_entropy_with_logits
        fake = tf.stop_gradient(G(z_for_d))
        with tf.GradientTape() as tape:
            real_logit, fake_logit = D(real), D(fake)
            d_loss = (tf.reduce_mean(bce(tf.ones_like(real_logit), real_logit))
                      + tf.reduce_mean(bce(tf.zeros_like(fake_logit), fake_logit)))
        self.d_optimizer.apply(tape.gradient(d_loss, D.variables))
        with tf.GradientTape() as tape:
            logit = D(G(z_for_g))
            g_loss = tf.reduce_mean(bce(tf.ones_like(logit), logit))
        self.g_optimizer.apply(tape.gradient(g_loss, G.variables))
        return d_loss, g_loss

    def train_step(self, real, z_for_d, z_for_g):
        d_loss, g_loss = self._step(real, z_for_d, z_for_g)
        return {"d_loss": float(d_loss), "g_loss": float(g_loss)}
