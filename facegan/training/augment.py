"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) in front of the discriminator.

With 8,000 faces D memorises the training set and its feedback to G degrades. DiffAugment
shows D only augmented images, real and generated alike, and back-propagates through the
augmentation to G, so G is never taught to produce augmented-looking faces.

Policy: every image D sees in a step, real or generated, goes through the same layer and
the same transforms, each drawn independently per image (as in the reference code):
  color       brightness +U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5)
  translation shift by up to 1/8 of the side in x and y, zero (mid-grey) fill
  cutout      zero a square of half the side at a uniformly random centre
Images are in [-1, 1], as in the reference. All ops are keras.ops, so gradients flow on
every backend; the random state is one SeedGenerator, checkpointed with the run.
"""

import keras
from keras import ops

TRANSFORMS = ("color", "translation", "cutout")
DEFAULT_POLICY = ",".join(TRANSFORMS)


def parse_policy(policy):
    """"color,translation" -> ("color", "translation"); "" -> ()."""
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    unknown = [name for name in names if name not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; choose from {TRANSFORMS}")
    return names


def _shift_matrices(shift, size, dtype):
    """(B,) integer shifts -> (B, size, size) with M[b, i, j] = 1 where j = i + shift[b]."""
    i = ops.arange(size)[None, :, None]
    j = ops.arange(size)[None, None, :]
    return ops.cast(ops.equal(j, i + shift[:, None, None]), dtype)


class DiffAugment(keras.layers.Layer):
    """(B, H, W, C) images in [-1, 1] -> the same images randomly augmented by `policy`."""

    def __init__(self, policy=DEFAULT_POLICY, seed=None, translation=0.125, cutout=0.5,
                 **kwargs):
        super().__init__(**kwargs)
        self.policy = policy
        self.transforms = parse_policy(policy)
        self.translation = translation
        self.cutout_ratio = cutout
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:  # D judges images as they are outside training
            return images
        for name in self.transforms:
            images = getattr(self, f"_{name}")(images)
        return images

    def _uniform(self, batch, low, high, dtype):
        """(B, 1, 1, 1) factors, drawn in float32 and cast to the images' dtype (mixed precision)."""
        draw = keras.random.uniform((batch, 1, 1, 1), low, high, seed=self.seed_generator)
        return ops.cast(draw, dtype)

    def _randint(self, batch, low, high):
        """(B,) integers in [low, high)."""
        return keras.random.randint((batch,), low, high, seed=self.seed_generator)

    def _color(self, x):
        b = ops.shape(x)[0]
        x = x + self._uniform(b, -0.5, 0.5, x.dtype)  # brightness
        mean = ops.mean(x, axis=3, keepdims=True)
        x = (x - mean) * self._uniform(b, 0.0, 2.0, x.dtype) + mean  # saturation
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) * self._uniform(b, 0.5, 1.5, x.dtype) + mean  # contrast

    def _translation(self, x):
        b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        # out[i, j] = x[i + dy, j + dx], zero outside: two batched one-hot matrix products,
        # cheap at these sizes and differentiable everywhere.
        dy = self._randint(b, -int(h * self.translation + 0.5), int(h * self.translation + 0.5) + 1)
        dx = self._randint(b, -int(w * self.translation + 0.5), int(w * self.translation + 0.5) + 1)
        x = ops.einsum("bij,bjwc->biwc", _shift_matrices(dy, h, x.dtype), x)
        return ops.einsum("bkw,bhwc->bhkc", _shift_matrices(dx, w, x.dtype), x)

    def _cutout(self, x):
        b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        ch, cw = int(h * self.cutout_ratio + 0.5), int(w * self.cutout_ratio + 0.5)
        top = self._randint(b, 0, h + (1 - ch % 2)) - ch // 2  # as the reference: the
        left = self._randint(b, 0, w + (1 - cw % 2)) - cw // 2  # square may leave the image
        rows = ops.arange(h)[None, :] - top[:, None]  # (B, H)
        cols = ops.arange(w)[None, :] - left[:, None]  # (B, W)
        inside = ((rows >= 0) & (rows < ch))[:, :, None] & ((cols >= 0) & (cols < cw))[:, None, :]
        return x * ops.cast(~inside, x.dtype)[..., None]

    def compute_output_shape(self, input_shape):
        return input_shape
