"""The adversarial step: two combined models over one generator G and one discriminator D.

- The D phase trains `discriminator_trainer`: (real, z) -> (D(real), D(G(z))) with G frozen.
  Real and generated batches go through D separately (each with its own BatchNorm
  statistics) and D takes one optimizer step on the sum of both losses, as in the DCGAN
  reference. Generating inside the model keeps the step to one compiled call.
- The G phase trains `build_gan`'s combined model: z -> D(G(z)) with D frozen, target
  "real" (the non-saturating loss).

Options (issue 8): any loss of facegan.training.losses; DiffAugment as one layer in front of D in
both models, so real and generated images are augmented alike and G gets gradients through
it; for WGAN-GP a third D-phase output, the gradient penalty, and `n_critic` D steps per
G step.
"""

import keras
import numpy as np
from keras import layers

from facegan.training.augment import DiffAugment
from facegan.training.gradient_penalty import GradientPenalty, penalty_loss
from facegan.training.losses import get_loss


def accuracy_at(threshold):
    """The metric: share of images D classifies right, calling logits above `threshold` real."""
    def accuracy(y_true, logits):
        # Targets above 0.5 (smoothed too) count as real. keras.ops, not operators: Keras
        # hands metrics NumPy targets, which torch would compare on the CPU with CUDA logits.
        right = keras.ops.equal(keras.ops.greater(logits, threshold), keras.ops.greater(y_true, 0.5))
        return keras.ops.mean(keras.ops.cast(right, "float32"), axis=-1)
    return accuracy


accuracy = accuracy_at(0.0)


def without_tensorflow_remapper():
    """Turn off TensorFlow's graph remapper, for the whole process.

    On CPUs (oneDNN) its rewrite of a convolution with a bias followed by LeakyReLU fails on
    the D phase's graph (D without BatchNorm, or G with nearest-neighbour upsampling, as in
    the recommended preset): it drops the BiasAdd that LeakyReLU's gradient still reads, and
    TensorFlow logs `E0000 ... meta_optimizer.cc ... remapper failed` from C++ on the console.
    A failed pass leaves the graph as it was, and the step runs as fast without the remapper
    (docs/run-folder.md: What happens when things go wrong)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"remapping": False})


def build_gan(generator, discriminator, augment=None):
    """The combined model z -> D(augment(G(z))) that trains G through a frozen D."""
    z = keras.Input(generator.input_shape[1:], name="z")
    image = generator(z)
    if augment is not None:
        image = augment(image)
    return keras.Model(z, discriminator(image), name="gan")


def build_discriminator_trainer(generator, discriminator, augment=None, gradient_penalty=None):
    """The model (real, z) -> (D(real), D(G(z))[, penalty]) that trains D with G frozen.

    `augment` (one layer) goes in front of D on both paths; `gradient_penalty` (a
    GradientPenalty over D) adds the per-sample penalty at images between the two.
    """
    real = keras.Input(discriminator.input_shape[1:], name="real_image")
    z = keras.Input(generator.input_shape[1:], name="z")
    fake = generator(z)
    if augment is not None:
        real_seen, fake_seen = augment(real), augment(fake)
    else:
        real_seen, fake_seen = real, fake
    outputs = [layers.Identity(name="real")(discriminator(real_seen)),
               layers.Identity(name="fake")(discriminator(fake_seen))]
    if gradient_penalty is not None:
        outputs.append(gradient_penalty([real_seen, fake_seen]))
    return keras.Model([real, z], outputs, name="discriminator_trainer")


class GAN:
    """G and D with their two training models, optimizers and the alternating step."""

    def __init__(self, generator, discriminator, loss="bce", learning_rate=2e-4, beta_1=0.5,
                 label_smoothing=0.0, augment="", n_critic=1, gp_weight=10.0):
        """augment: a DiffAugment policy ("" for none); n_critic: D steps per G step;
        gp_weight: the gradient penalty's weight, for losses that have one."""
        without_tensorflow_remapper()  # before the training functions are traced
        self.generator = generator
        self.discriminator = discriminator
        self.label_smoothing = label_smoothing
        self.n_critic = n_critic
        fns = get_loss(loss)
        self.augment = DiffAugment(augment, name="augment") if augment else None
        self.gradient_penalty = None
        losses = {"real": fns["real"], "fake": fns["fake"]}
        if fns.get("gradient_penalty"):
            self.gradient_penalty = GradientPenalty(discriminator, name="penalty")
            losses["penalty"] = penalty_loss(gp_weight)

        self.discriminator_trainer = build_discriminator_trainer(
            generator, discriminator, self.augment, self.gradient_penalty)
        metric = accuracy_at(fns["threshold"])
        self.discriminator_trainer.compile(
            optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
            loss=losses, metrics={"real": [metric], "fake": [metric]},
        )
        self.gan = build_gan(generator, discriminator, self.augment)
        self.gan.compile(
            optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1), loss=fns["generator"]
        )
        # Build both optimizers now, each on its phase's variables, so checkpoints can be
        # restored before the first step.
        for trainer in (self.discriminator_trainer, self.gan):
            self._set_phase(trainer)
            trainer.optimizer.build(trainer.trainable_variables)

    def _set_phase(self, trainer):
        # Keras 3 reads `trainable` when a training function is first traced or called, not
        # at compile(), and both models share G and D. So each phase sets the flags right
        # before its own train_on_batch: every call then sees the same trainable set.
        d_phase = trainer is self.discriminator_trainer
        self.discriminator.trainable = d_phase
        self.generator.trainable = not d_phase

    def train_discriminator(self, real, z):
        """The D phase: one step of D on a real batch and G(z), G frozen. Returns Keras's dict."""
        batch = len(real)
        real_target = np.full((batch, 1), 1.0 - self.label_smoothing, "float32")
        fake_target = np.zeros((batch, 1), "float32")
        targets = {"real": real_target, "fake": fake_target}
        if self.gradient_penalty is not None:
            targets["penalty"] = fake_target  # unused: the penalty's target is 0
        self._set_phase(self.discriminator_trainer)
        return self.discriminator_trainer.train_on_batch([real, z], targets, return_dict=True)

    def train_generator(self, z):
        """The G phase: one step of G through the combined model, D frozen, target "real"."""
        self._set_phase(self.gan)
        return self.gan.train_on_batch(z, np.ones((len(z), 1), "float32"), return_dict=True)

    def train_step(self, real, z_for_d, z_for_g):
        """`n_critic` D steps then one G step. Arrays in, dict of float metrics out.

        real and z_for_d hold the n_critic D batches one after another: (n_critic * B, ...);
        the D metrics are their means.
        """
        batch = len(z_for_g)
        if len(real) != self.n_critic * batch or len(z_for_d) != len(real):
            raise ValueError(f"expected {self.n_critic} x {batch} real images and D latents, "
                             f"got {len(real)} and {len(z_for_d)}")
        ds = [self.train_discriminator(real[i:i + batch], z_for_d[i:i + batch])
              for i in range(0, len(real), batch)]
        g = self.train_generator(z_for_g)
        return {
            "d_loss": float(np.mean([d["loss"] for d in ds])),
            "g_loss": float(g["loss"]),
            "d_acc_real": float(np.mean([d["real_accuracy"] for d in ds])),
            "d_acc_fake": float(np.mean([d["fake_accuracy"] for d in ds])),
        }

    @property
    def random_state(self):
        """The augmentation's and the penalty's random-number states, for checkpoints."""
        return [layer.seed_generator.state for layer in (self.augment, self.gradient_penalty)
                if layer is not None]

    @property
    def optimizers(self):
        return {"d_optimizer": self.discriminator_trainer.optimizer, "g_optimizer": self.gan.optimizer}
