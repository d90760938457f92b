"""The DCGAN's layers: Keras's, with a GAN-aware BatchNorm and framework fast paths.

On the torch backend Keras computes channels-last convolutions by copying the input to a
contiguous channels-first tensor, converting it back to channels-last memory, and (for
transposed convolutions) computing the uncropped output and slicing it: three full copies
of every activation per layer, and again in the backward pass. A channels-last tensor
viewed channels-first is already in PyTorch's `channels_last` memory format, so the
convolutions here hand that view straight to PyTorch: the same arithmetic, no copies. Every
other backend, and every configuration the fast path does not cover, runs Keras's code.
BatchNorm runs the fused kernel of PyTorch or TensorFlow in training (`_fused_kernel`).
"""

import keras
from keras import layers, ops


def _torch_channels_last(layer, inputs):
    """Whether `layer` may take the PyTorch fast path on `inputs` (NHWC, 2-D, no dilation)."""
    return (keras.backend.backend() == "torch" and layer.data_format == "channels_last"
            and len(inputs.shape) == 4 and tuple(layer.dilation_rate) == (1, 1)
            and getattr(layer, "groups", 1) == 1)


def _same_padding(size, kernel, stride):
    """Keras's "same" padding of one spatial axis as (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@keras.saving.register_keras_serializable(package="facegan")
class Conv2D(layers.Conv2D):
    """keras.layers.Conv2D; on PyTorch one channels-last convolution, without layout copies."""

    def convolution_op(self, inputs, kernel):
        padding = self._torch_padding(inputs)
        if padding is None:
            return super().convolution_op(inputs, kernel)
        import torch.nn.functional as F

        x = ops.convert_to_tensor(inputs).permute(0, 3, 1, 2)      # (B, C, H, W), channels_last
        w = ops.convert_to_tensor(kernel).permute(3, 2, 0, 1)      # (out, in, kh, kw)
        return F.conv2d(x, w, stride=self.strides, padding=padding).permute(0, 2, 3, 1)

    def _torch_padding(self, inputs):
        """PyTorch's symmetric padding equal to Keras's, or None where there is none."""
        if not _torch_channels_last(self, inputs):
            return None
        if self.padding == "valid":
            return (0, 0)
        pads = [_same_padding(size, k, s)
                for size, k, s in zip(inputs.shape[1:3], self.kernel_size, self.strides)]
        return None if any(before != after for before, after in pads) else tuple(p for p, _ in pads)


@keras.saving.register_keras_serializable(package="facegan")
class Conv2DTranspose(layers.Conv2DTranspose):
    """keras.layers.Conv2DTranspose; on PyTorch one channels-last transposed convolution
    with the padding that gives Keras's output directly (no computed-then-cropped border)."""

    def call(self, inputs):
        padding = self._torch_padding(inputs)
        if padding is None:
            return super().call(inputs)
        import torch.nn.functional as F

        x = ops.convert_to_tensor(inputs).permute(0, 3, 1, 2)      # (B, C, H, W), channels_last
        w = ops.convert_to_tensor(self.kernel).permute(3, 2, 0, 1)  # (in, out, kh, kw)
        bias = ops.convert_to_tensor(self.bias) if self.use_bias else None
        y = F.conv_transpose2d(x, w, bias, stride=self.strides, padding=padding)
        return self.activation(y.permute(0, 2, 3, 1))              # (B, sH, sW, filters)

    def _torch_padding(self, inputs):
        """Keras's "same" output (input x stride) and "valid" output ((input - 1) x stride +
        kernel) as PyTorch's symmetric padding; None where that cannot express it."""
        if not _torch_channels_last(self, inputs) or self.output_padding is not None:
            return None
        if self.padding == "valid":
            ok = all(k >= s for k, s in zip(self.kernel_size, self.strides))
            return (0, 0) if ok else None
        crops = [k - s for k, s in zip(self.kernel_size, self.strides)]
        return None if any(c < 0 or c % 2 for c in crops) else tuple(c // 2 for c in crops)


@keras.saving.register_keras_serializable(package="facegan")
class BatchNorm(layers.BatchNormalization):
    """BatchNormalization that uses batch statistics whenever training, even when frozen.

    Keras switches a layer with `trainable=False` to its moving statistics. In a GAN the
    frozen network must judge (or generate) a batch exactly as it does in its own phase,
    as the DCGAN reference does: otherwise G would be optimised against a discriminator
    that normalises differently from the one D trains, and whose moving averages mix real
    and fake batches. So freezing only stops the moving-statistics update. At inference
    (`training=False`) the moving statistics are used, so a face does not depend on the
    other faces in its batch.
    """

    def call(self, inputs, training=None, mask=None):
        if training and mask is None and self._fused_kernel(inputs):
            y, mean, variance = _FUSED_BATCH_NORM[keras.backend.backend()](
                inputs, self.gamma, self.beta, self.epsilon)
            if self.trainable:  # frozen: batch statistics, moving ones left alone (below)
                for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                    moving.assign(moving * self.momentum + batch * (1 - self.momentum))
            return y
        if not training or self.trainable or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, "float32")
        mean, variance = ops.moments(x, axes=self._reduction_axes)
        x = ops.batch_normalization(
            x, mean, variance, axis=self.axis,
            offset=ops.cast(self.beta, x.dtype), scale=ops.cast(self.gamma, x.dtype),
            epsilon=self.epsilon,
        )
        return ops.cast(x, self.compute_dtype)

    def _fused_kernel(self, inputs):
        """Whether training mode may run the framework's fused kernel on `inputs`: one pass
        forward and one backward, where Keras composes BatchNorm from elementwise ops (on
        torch autograd traces each: the largest cost of the step after the convolutions;
        on TensorFlow 8% of the step). Both kernels compute in float32 from float32 or
        bfloat16 inputs, as Keras does."""
        return (keras.backend.backend() in _FUSED_BATCH_NORM and len(inputs.shape) == 4
                and self.axis in (-1, 3) and self.scale and self.center
                and self.compute_dtype in ("float32", "bfloat16"))


def _torch_batch_norm(x, gamma, beta, epsilon):
    """(y, batch mean, biased batch variance) of NHWC `x` by PyTorch's fused kernel."""
    import torch

    y, mean, inverse_std = torch.native_batch_norm(
        torch.movedim(x, -1, 1), gamma.value, beta.value, None, None, True, 0.0, epsilon)
    return torch.movedim(y, 1, -1), mean.detach(), (inverse_std.pow(-2) - epsilon).detach()


def _tensorflow_batch_norm(x, gamma, beta, epsilon):
    """(y, batch mean, biased batch variance) of NHWC `x` by TensorFlow's fused kernel."""
    import tensorflow as tf

    empty = tf.constant([], tf.float32)
    y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=gamma.value, offset=beta.value, mean=empty, variance=empty,
        epsilon=epsilon, is_training=True)
    count = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
    return y, mean, variance * (count - 1) / count  # the kernel's variance is Bessel-corrected


_FUSED_BATCH_NORM = {"torch": _torch_batch_norm, "tensorflow": _tensorflow_batch_norm}
