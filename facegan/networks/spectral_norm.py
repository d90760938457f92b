"""Spectral normalisation (Miyato et al. 2018) as a layer wrapper for Dense and Conv2D.

The wrapped layer computes with W / sigma(W), sigma being W's largest singular value, so
each layer is at most 1-Lipschitz and D cannot sharpen its decision without bound. sigma
comes from one power-iteration step per training call, continuing from the vector `u`
kept between calls; gradients flow through sigma's dependence on W (u and v held
constant), as in the paper and torch.nn.utils.spectral_norm.

Why not keras.layers.SpectralNormalization: it overwrites the layer's kernel with W / sigma
on every training call. The optimizer then steps on the normalised kernel, the gradient
ignores sigma, and a frozen D (the G phase) still changes its weights.
"""

import keras
from keras import layers, ops


def _unit(x):
    return x / ops.sqrt(ops.sum(ops.square(x)) + 1e-12)


@keras.saving.register_keras_serializable(package="facegan")
class SpectralNorm(layers.Wrapper):
    """Wraps a Dense or Conv2D layer; `call` uses its kernel divided by its spectral norm."""

    def build(self, input_shape):
        if not isinstance(self.layer, (layers.Dense, layers.Conv2D)):
            raise ValueError(f"SpectralNorm wraps Dense or Conv2D, got {type(self.layer).__name__}")
        super().build(input_shape)
        self.u = self.add_weight(
            shape=(1, self.layer.kernel.shape[-1]), initializer="random_normal",
            trainable=False, name="u", autocast=False,
        )  # (1, out): the running estimate of W's leading left singular vector, float32
        # also under mixed precision (an autocast variable cannot be assigned on torch)

    def sigma(self, training=False):
        """W's largest singular value (float32) estimated from `u`; when training, also
        advance `u`.

        A frozen layer (D in the G phase) leaves `u` alone, as BatchNorm keeps its moving
        statistics, so only D's own phase changes D.
        """
        kernel = self.layer.kernel
        w = ops.cast(ops.reshape(kernel, (-1, kernel.shape[-1])), "float32")  # (fan_in, out)
        v = ops.stop_gradient(_unit(ops.matmul(self.u, ops.transpose(w))))  # (1, fan_in)
        u = ops.stop_gradient(_unit(ops.matmul(v, w)))  # (1, out)
        if training and self.trainable:
            self.u.assign(u)
        return ops.sum(ops.matmul(v, w) * u)

    def call(self, inputs, training=False):
        kernel = self.layer.kernel
        kernel = kernel / ops.cast(self.sigma(training), kernel.dtype)
        if isinstance(self.layer, layers.Conv2D):
            outputs = self.layer.convolution_op(inputs, kernel)
        else:
            outputs = ops.matmul(inputs, kernel)
        if self.layer.use_bias:
            outputs = outputs + self.layer.bias
        return self.layer.activation(outputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)
