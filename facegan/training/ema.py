"""An exponential moving average of the generator's weights (Karras et al. 2018; Yazıcı et
al. 2019), kept beside the trained generator and used for sampling.

G's weights chase a moving discriminator and jitter from step to step; their running
average generates smoother, more stable faces at no training cost. Every variable is
averaged, BatchNorm's moving statistics too, so the averaged network normalises with
statistics that match its averaged weights.

The decay ramps up as in tf.train.ExponentialMovingAverage, min(decay, (1 + t) / (10 + t))
after t steps: with a fixed 0.999 a short run's average would still be mostly the random
initial weights (0.999^1000 = 0.37).
"""

import keras
import numpy as np


def ema_decay(decay, step):
    """The decay used at `step` (1 for the first update)."""
    return min(decay, (1.0 + step) / (10.0 + step))


def ema_blend(average, current, d):
    """One update of an average, for variables or values: d * average + (1 - d) * current.
    d is a float32, so that 1 - d is rounded alike here and in the compiled multi-step
    update (facegan.training.fused), which must give the same average."""
    return average * d + current * (1 - d)


class GeneratorEMA:
    """A copy of `generator` whose variables follow avg <- d * avg + (1 - d) * current."""

    def __init__(self, generator, decay=0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay!r}")
        self.generator = generator
        self.decay = decay
        self.model = keras.models.clone_model(generator)
        self.model.set_weights(generator.get_weights())

    @property
    def variables(self):
        return self.model.variables

    def update(self, step):
        """Fold the generator's current weights in, after training step `step`."""
        d = np.float32(ema_decay(self.decay, step))
        for average, current in zip(self.model.variables, self.generator.variables):
            average.assign(ema_blend(average, current, d))
