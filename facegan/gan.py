"""The adversarial step: two combined models over one generator G and one discriminator D.

- The D phase trains `discriminator_trainer`: (real, z) -> (D(real), D(G(z))) with G frozen.
  Real and generated batches go through D separately (each with its own BatchNorm
  statistics) and D takes one optimizer step on the sum of both losses, as in the DCGAN
  reference. Generating inside the model keeps the step to one compiled call.
- The G phase trains `build_gan`'s combined model: z -> D(G(z)) with D frozen, target
  "real" (the non-saturating loss).
"""

import keras
import numpy as np
from keras import layers

from facegan.losses import get_loss


def accuracy(y_true, logits):
    """Share of images D classifies right; targets above 0.5 (smoothed too) count as real."""
    return keras.ops.mean(keras.ops.cast((logits > 0) == (y_true > 0.5), "float32"), axis=-1)


def build_gan(generator, discriminator):
    """The combined model z -> D(G(z)) that trains G through a frozen D."""
    z = keras.Input(generator.input_shape[1:], name="z")
    return keras.Model(z, discriminator(generator(z)), name="gan")


def build_discriminator_trainer(generator, discriminator):
    """The model (real, z) -> (D(real), D(G(z))) that trains D with G frozen."""
    real = keras.Input(discriminator.input_shape[1:], name="real_image")
    z = keras.Input(generator.input_shape[1:], name="z")
    real_logit = layers.Identity(name="real")(discriminator(real))
    fake_logit = layers.Identity(name="fake")(discriminator(generator(z)))
    return keras.Model([real, z], [real_logit, fake_logit], name="discriminator_trainer")


class GAN:
    """G and D with their two training models, optimizers and the alternating step."""

    def __init__(self, generator, discriminator, loss="bce", learning_rate=2e-4, beta_1=0.5,
                 label_smoothing=0.0):
        self.generator = generator
        self.discriminator = discriminator
        self.label_smoothing = label_smoothing
        fns = get_loss(loss)

        self.discriminator_trainer = build_discriminator_trainer(generator, discriminator)
        self.discriminator_trainer.compile(
            optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
            loss={"real": fns["real"], "fake": fns["fake"]},
            metrics={"real": [accuracy], "fake": [accuracy]},
        )
        self.gan = build_gan(generator, discriminator)
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
        self._set_phase(self.discriminator_trainer)
        return self.discriminator_trainer.train_on_batch(
            [real, z], {"real": real_target, "fake": fake_target}, return_dict=True
        )

    def train_generator(self, z):
        """The G phase: one step of G through the combined model, D frozen, target "real"."""
        self._set_phase(self.gan)
        return self.gan.train_on_batch(z, np.ones((len(z), 1), "float32"), return_dict=True)

    def train_step(self, real, z_for_d, z_for_g):
        """One D step then one G step. Arrays in, dict of float metrics out."""
        d = self.train_discriminator(real, z_for_d)
        g = self.train_generator(z_for_g)
        return {
            "d_loss": float(d["loss"]),
            "g_loss": float(g["loss"]),
            "d_acc_real": float(d["real_accuracy"]),
            "d_acc_fake": float(d["fake_accuracy"]),
        }

    @property
    def optimizers(self):
        return {"d_optimizer": self.discriminator_trainer.optimizer, "g_optimizer": self.gan.optimizer}
