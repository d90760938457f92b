"""DCGAN generator and discriminator (Radford et al. 2016) at 32, 64, 128 or 256 pixels.

Each resolution adds or removes one stride-2 block; channels double as the feature map
halves, so the default 64x64 networks cost about 0.1 GMAC per image, like the paper's.
"""

import math

import keras
from keras import layers

from facegan.networks.layers import BatchNorm, Conv2D, Conv2DTranspose
from facegan.networks.spectral_norm import SpectralNorm

RESOLUTIONS = (32, 64, 128, 256)
UPSAMPLINGS = ("transposed", "nearest")
DISCRIMINATOR_NORMALIZATIONS = ("batch", "none", "spectral")


def _init():
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _batch_norm(name):
    # momentum 0.9 matches PyTorch's 0.1: moving statistics keep up with a fast-changing G.
    return BatchNorm(
        momentum=0.9, epsilon=1e-5,
        gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02), name=name,
    )


def _num_blocks(resolution):
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    return int(math.log2(resolution // 4))


def _check_positive(**sizes):
    for name, value in sizes.items():
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def build_generator(resolution=64, latent_dim=100, base_channels=64, upsampling="transposed"):
    """Latent vector -> image in [-1, 1] of shape (resolution, resolution, 3).

    upsampling: "transposed" (DCGAN: 4x4 stride-2 transposed convolutions) or "nearest"
    (nearest-neighbour x2 then a 3x3 convolution, Odena et al. 2016: every output pixel
    gets the same number of kernel taps, so there is no checkerboard texture to unlearn;
    it costs 9/4 the generator's multiply-accumulates).
    """
    blocks = _num_blocks(resolution)
    _check_positive(latent_dim=latent_dim, base_channels=base_channels)
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}")
    channels = base_channels * 2 ** (blocks - 1)

    def upsample(x, filters, name, use_bias):
        if upsampling == "transposed":
            return Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=use_bias,
                                   kernel_initializer=_init(), name=name)(x)
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_nearest")(x)
        return Conv2D(filters, 3, padding="same", use_bias=use_bias,
                      kernel_initializer=_init(), name=name)(x)

    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(4 * 4 * channels, use_bias=False, kernel_initializer=_init(), name="project")(z)
    x = layers.Reshape((4, 4, channels))(x)  # (4, 4, C * 2^(blocks-1))
    x = _batch_norm("project_bn")(x)
    x = layers.ReLU()(x)
    size = 4
    for i in range(1, blocks):
        channels //= 2
        size *= 2
        x = upsample(x, channels, f"up{size}", use_bias=False)  # (size, size, channels)
        x = _batch_norm(f"up{size}_bn")(x)
        x = layers.ReLU()(x)
    x = upsample(x, 3, f"up{resolution}", use_bias=True)  # (resolution, resolution, 3)
    image = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(z, image, name=f"generator_{resolution}")


def build_discriminator(resolution=64, base_channels=64, normalization="batch"):
    """Image -> one logit (real > 0 > fake). Use a loss that takes logits.

    normalization: "batch" (DCGAN: BatchNorm on all but the first block), "none"
    (for losses such as WGAN-GP whose penalty is per sample) or "spectral" (SNGAN:
    every layer spectrally normalised, no BatchNorm).
    """
    blocks = _num_blocks(resolution)
    _check_positive(base_channels=base_channels)
    if normalization not in DISCRIMINATOR_NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {DISCRIMINATOR_NORMALIZATIONS}, got {normalization!r}"
        )

    def linear(layer):
        if normalization != "spectral":
            return layer
        return SpectralNorm(layer, dtype=layer.dtype_policy, name=f"{layer.name}_sn")

    image = keras.Input((resolution, resolution, 3), name="image")
    x, size, channels = image, resolution, base_channels
    for i in range(blocks):
        size //= 2
        x = linear(Conv2D(
            channels, 4, strides=2, padding="same", use_bias=(i == 0 or normalization != "batch"),
            kernel_initializer=_init(), name=f"down{size}",
        ))(x)  # (size, size, channels)
        if i > 0 and normalization == "batch":
            x = _batch_norm(f"down{size}_bn")(x)
        x = layers.LeakyReLU(0.2)(x)
        channels *= 2
    x = layers.Flatten()(x)  # (4 * 4 * C * 2^(blocks-1),)
    logit = linear(layers.Dense(1, kernel_initializer=_init(), dtype="float32", name="logit"))(x)
    return keras.Model(image, logit, name=f"discriminator_{resolution}")


def portable(model):
    """`model` built from Keras's own layer classes computing in float32, with the same
    weights: how generators are saved, so that `keras.saving.load_model` reads them in any
    Keras program, without facegan. facegan's layers (facegan/networks/layers.py) compute
    what their Keras parents compute at inference, but a file naming them loads only where
    facegan is imported. Mixed-precision training keeps float32 weights but records its
    bfloat16/float16 policy in every layer, and a saved generator would compute at that
    precision wherever it is loaded (slowly, or not at all, on hardware without it)."""
    def keras_parent(layer):  # the nearest Keras class in the layer's ancestry
        return next(c for c in type(layer).__mro__ if c.__module__.startswith("keras."))

    if all(type(layer) is keras_parent(layer) and layer.dtype_policy.name == "float32"
           for layer in model.layers):
        return model
    copy = local_clone(model, lambda layer: keras_parent(layer).from_config(
        {**layer.get_config(), "dtype": "float32"}))
    copy.set_weights(model.get_weights())
    return copy


def local_clone(model, clone_function=None):
    """keras.models.clone_model on this process's devices alone: in a multi-process job
    (facegan.training.distribute) variables created under the job's distribution are laid
    out over every process, and process 0 alone samples and saves."""
    distribution = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        return keras.models.clone_model(model, clone_function=clone_function)
    finally:
        keras.distribution.set_distribution(distribution)


def count_macs(model):
    """Multiply-accumulates of one forward pass per example, counted from the layers."""
    total = 0
    for outer in model.layers:
        layer = outer.layer if isinstance(outer, SpectralNorm) else outer
        if isinstance(layer, layers.Dense):
            total += math.prod(layer.kernel.shape)
        elif isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose)):
            kh, kw, cin_or_out, cout_or_in = layer.kernel.shape
            _, h, w, _ = outer.output.shape
            if isinstance(layer, layers.Conv2DTranspose):
                # Each output pixel gathers (k / stride)^2 input pixels.
                sh, sw = layer.strides
                total += h * w * cin_or_out * cout_or_in * (kh // sh) * (kw // sw)
            else:
                total += h * w * kh * kw * cin_or_out * cout_or_in
    return total
