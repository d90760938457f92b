"""The fused step: the D update and the G update of one step in a single call.

`facegan.training.gan.GAN` is the teaching path: two combined models, two `train_on_batch` calls
per step, each with its own data conversion, metrics and host round trip. `FusedGAN`
computes the same two updates (same losses, same frozen-network semantics, same
optimizers) with the framework's own gradient engine: one `tf.function` on TensorFlow,
one autograd pass per phase on PyTorch, and on JAX one `jax.jit` of a pure function of
every variable's value (Keras's stateless API, as its own JAX trainer does), whose results
are assigned back to the variables. `train_steps` runs several steps per call: on JAX one
`jax.jit` of a `lax.scan` of that pure step, so that a small batch does not wait on
per-step dispatch. Its optimizers hold the same variables as GAN's,
so a checkpoint written by either path restores into the other. It covers every loss
without a gradient penalty and `n_critic`; DiffAugment and WGAN-GP stay on the GAN path.
"""

import keras
import numpy as np
from keras import ops

from facegan.errors import FaceganError
from facegan.training.distribute import process_count
from facegan.training.ema import ema_blend, ema_decay
from facegan.training.gan import accuracy_at, without_tensorflow_remapper
from facegan.training.losses import get_loss

FUSED_BACKENDS = ("tensorflow", "torch", "jax")


def _optimizer(learning_rate, beta_1):
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1)
    if keras.config.dtype_policy().name == "mixed_float16":  # as compile() does for GAN
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def xla_pays():
    """Whether to XLA-compile the TensorFlow step here, by measurement
    (benchmarks/train_throughput.py, fused-xla against fused-noxla): on CPUs XLA costs
    (TensorFlow 2.21 on two AVX-512 CPUs: 0.77x and 0.49x fused, 0.75x and 0.51x plain), so only where TensorFlow sees a
    GPU. On GPUs it is unmeasured (the GPU machines lent here have no TensorFlow): rerun the
    benchmark there."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


class FusedGAN:
    """G and D trained by one fused step; the same interface as `facegan.training.gan.GAN`."""

    def __init__(self, generator, discriminator, loss="bce", learning_rate=2e-4, beta_1=0.5,
                 label_smoothing=0.0, augment="", n_critic=1, gp_weight=10.0, jit_compile=None):
        """GAN's arguments (a DiffAugment policy or a penalised loss is refused), and
        jit_compile: XLA-compile the TensorFlow step; None: where it was measured to pay
        (`xla_pays`). The JAX step is always jitted."""
        without_tensorflow_remapper()  # before the step is traced
        self.backend = keras.backend.backend()
        if self.backend not in FUSED_BACKENDS:
            raise FaceganError(f"the fused step runs on {', '.join(FUSED_BACKENDS)}, "
                               f"not {self.backend}; use the combined-model step")
        self.generator = generator
        self.discriminator = discriminator
        self.label_smoothing = label_smoothing
        self.n_critic = n_critic
        self.losses = get_loss(loss)
        if augment:
            raise FaceganError("the fused step has no DiffAugment; use the combined-model step")
        if self.losses.get("gradient_penalty"):
            raise FaceganError(f"the fused step has no gradient penalty; train {loss} with "
                               f"the combined-model step")
        self.accuracy = accuracy_at(self.losses["threshold"])
        self.d_optimizer = _optimizer(learning_rate, beta_1)
        self.g_optimizer = _optimizer(learning_rate, beta_1)
        self._set_phase(discriminator)
        self.d_optimizer.build(discriminator.trainable_variables)
        self._set_phase(generator)
        self.g_optimizer.build(generator.trainable_variables)
        self._step = self._fused_step
        if self.backend == "tensorflow":
            import tensorflow as tf

            xla = xla_pays() if jit_compile is None else jit_compile
            self._step = tf.function(self._fused_step, jit_compile=xla)
        elif self.backend == "jax":
            import jax

            # The pure step's state: every variable of G, D and both optimizers.
            self._variables = [*generator.variables, *discriminator.variables,
                               *self.d_optimizer.variables, *self.g_optimizer.variables]
            # Donated: _jax_step replaces every variable's buffer with the new value.
            self._jitted = jax.jit(self._stateless_step, donate_argnums=0)
            self._jitted_steps = jax.jit(self._stateless_steps, donate_argnums=(0, 1))
            self._step = self._jax_step

    def _set_phase(self, network):
        # As in GAN: the network that is not trained is frozen, so its BatchNorm keeps
        # batch statistics without updating its moving ones, and it gets no gradients.
        self.discriminator.trainable = network is self.discriminator
        self.generator.trainable = network is self.generator

    def _minimize(self, optimizer, variables, compute_loss):
        """One optimizer step on `variables` down compute_loss() -> (loss, aux)."""
        if self.backend == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape() as tape:
                loss, aux = compute_loss()
                scaled = optimizer.scale_loss(loss)
            optimizer.apply(tape.gradient(scaled, variables), variables)
        elif self.backend == "jax":
            import jax

            def scaled_loss(trainable):
                # Every variable mapped: an unmapped one would be read from the variable
                # itself, and jit would bake its current value in as a constant.
                current = {**self._values, **dict(zip(map(id, variables), trainable))}
                with keras.StatelessScope([(v, current[id(v)]) for v in self._variables]) as scope:
                    loss, aux = compute_loss()
                    scaled = optimizer.scale_loss(loss)
                # The trained network's new moving statistics; a frozen BatchNorm assigns none.
                return scaled, (loss, aux, [scope.get_current_value(v) for v in self._variables])

            trainable = [self._values[id(v)] for v in variables]
            grad_fn = jax.value_and_grad(scaled_loss, has_aux=True)
            (_, (loss, aux, updated)), grads = grad_fn(trainable)
            slots = optimizer.variables
            trainable, slot_values = optimizer.stateless_apply(
                [self._values[id(v)] for v in slots], grads, trainable)
            # Later pairs win: the trained variables take the optimizer's values.
            self._values.update(zip(map(id, [*self._variables, *variables, *slots]),
                                    [*updated, *trainable, *slot_values]))
        else:
            import torch

            for v in variables:
                v.value.grad = None
            loss, aux = compute_loss()
            optimizer.scale_loss(loss).backward()
            with torch.no_grad():
                optimizer.apply([v.value.grad for v in variables], variables)
        return loss, aux

    def _fused_step(self, real, z_for_d, z_for_g):
        G, D, fns = self.generator, self.discriminator, self.losses
        batch = z_for_g.shape[0]
        real_target = ops.full((batch, 1), 1.0 - self.label_smoothing, "float32")
        fake_target = ops.zeros_like(real_target)

        def d_loss(real, z):
            def compute():
                # Fake first, as the combined model's graph runs them: D's moving
                # statistics are an average over both calls, so the order shows in them.
                fake_logit = D(G(z, training=True), training=True)
                real_logit = D(real, training=True)
                loss = (ops.mean(fns["real"](real_target, real_logit))
                        + ops.mean(fns["fake"](fake_target, fake_logit)))
                return loss, (ops.mean(self.accuracy(real_target, real_logit)),
                              ops.mean(self.accuracy(fake_target, fake_logit)))
            return compute

        def g_loss():
            logit = D(G(z_for_g, training=True), training=True)
            return ops.mean(fns["generator"](ops.ones_like(real_target), logit)), None

        self._set_phase(D)
        d_metrics = []
        for i in range(0, self.n_critic * batch, batch):  # n_critic D steps, batch by batch
            loss, (acc_real, acc_fake) = self._minimize(
                self.d_optimizer, D.trainable_variables,
                d_loss(real[i:i + batch], z_for_d[i:i + batch]))
            d_metrics.append((loss, acc_real, acc_fake))
        self._set_phase(G)
        g, _ = self._minimize(self.g_optimizer, G.trainable_variables, g_loss)
        d, acc_real, acc_fake = (ops.mean(ops.stack(m)) for m in zip(*d_metrics))
        return {"d_loss": d, "g_loss": g, "d_acc_real": acc_real, "d_acc_fake": acc_fake}

    def _stateless_step(self, values, real, z_for_d, z_for_g):
        """The step as a pure function: every variable's value in, the new values out."""
        self._values = dict(zip(map(id, self._variables), values))  # _minimize's state
        metrics = self._fused_step(real, z_for_d, z_for_g)
        values, self._values = [self._values[id(v)] for v in self._variables], None
        return values, metrics

    def _stateless_steps(self, values, averages, decays, real, z_for_d, z_for_g):
        """K steps as a pure function: `_stateless_step` scanned over the stacked inputs,
        with the EMA's `averages` (none without one) updated after each step by its decay."""
        import jax

        def step(carry, inputs):
            values, averages = carry
            decay, *batch = inputs
            values, metrics = self._stateless_step(values, *batch)
            generator = values[:len(self.generator.variables)]  # _variables start with G's
            return (values, [ema_blend(a, g, decay) for a, g in zip(averages, generator)]), metrics

        (values, averages), metrics = jax.lax.scan(step, (values, averages),
                                                   (decays, real, z_for_d, z_for_g))
        return values, averages, metrics

    @staticmethod
    def _laid_out(arrays, batch_axis=0):
        """The arrays as the distribution lays data out: --devices splits each batch (on
        `batch_axis`; 1 for stacked steps) over the devices, as Keras's trainer does."""
        distribution = keras.distribution.distribution()
        if distribution is None:
            return arrays

        def layout(shape):
            batch = distribution.get_data_layout(shape[batch_axis:])
            return keras.distribution.TensorLayout([None] * batch_axis + list(batch.axes),
                                                   batch.device_mesh)
        if process_count() > 1:  # each process holds its own rows of the batch
            import jax

            return [jax.make_array_from_process_local_data(layout(x.shape).backend_layout, x)
                    for x in arrays]
        return [keras.distribution.distribute_tensor(x, layout(x.shape)) for x in arrays]

    def _jax_step(self, *arrays):
        values, metrics = self._jitted([v.value for v in self._variables], *self._laid_out(arrays))
        # Back into the variables, as Keras's JAX trainer syncs them: sampling, checkpoints
        # and the EMA read the variables.
        for variable, value in zip(self._variables, values):
            variable.assign(value)
        return metrics

    def train_step(self, real, z_for_d, z_for_g):
        """`n_critic` D steps then one G step, as GAN.train_step. Arrays in, float metrics out."""
        metrics = self._step(*(ops.convert_to_tensor(x) for x in (real, z_for_d, z_for_g)))
        return {k: float(ops.convert_to_numpy(v)) for k, v in metrics.items()}

    def train_steps(self, real, z_for_d, z_for_g, ema=None, step=0):
        """K steps in one call: train_step's inputs stacked on a leading axis of K. Returns
        the K steps' metrics, in order. ema: a GeneratorEMA to update after each step, as
        after steps step + 1 ... step + K.

        On JAX the K steps are one compiled call, the EMA updated inside it; on TensorFlow
        and PyTorch, K calls of train_step. Either way the steps are train_step's.
        """
        if self.backend != "jax":
            metrics = []
            for i, batch in enumerate(zip(real, z_for_d, z_for_g), start=step + 1):
                metrics.append(self.train_step(*batch))
                if ema:
                    ema.update(i)
            return metrics
        k = len(real)
        averages = ema.variables if ema else []
        decays = np.array([ema_decay(ema.decay, step + i) for i in range(1, k + 1)] if ema
                          else np.zeros(k), np.float32)
        arrays = self._laid_out([ops.convert_to_tensor(x) for x in (real, z_for_d, z_for_g)],
                                batch_axis=1)
        values, new_averages, metrics = self._jitted_steps(
            [v.value for v in self._variables], [v.value for v in averages], decays, *arrays)
        for variable, value in zip([*self._variables, *averages], [*values, *new_averages]):
            variable.assign(value)  # once per call, as _jax_step does
        metrics = {key: ops.convert_to_numpy(v) for key, v in metrics.items()}
        return [{key: float(v[i]) for key, v in metrics.items()} for i in range(k)]

    @property
    def random_state(self):
        return []  # no augmentation or penalty draws random numbers

    @property
    def optimizers(self):
        return {"d_optimizer": self.d_optimizer, "g_optimizer": self.g_optimizer}
