"""The GAN a TrainConfig describes: G, D, the step that trains them (two combined models or
the fused step) and the generator's weight average. The loop, the tests, the benchmarks and
the notebooks build it here, so that a setting means the same everywhere."""

import keras

from facegan.networks.dcgan import build_discriminator, build_generator
from facegan.training.distribute import use_devices
from facegan.training.ema import GeneratorEMA
from facegan.training.fused import FusedGAN
from facegan.training.gan import GAN
from facegan.training.losses import get_loss


def discriminator_normalization(config):
    """SNGAN's spectral norm if asked for; no BatchNorm under a per-sample gradient penalty."""
    if config.spectral_norm:
        return "spectral"
    return "none" if get_loss(config.loss).get("gradient_penalty") else "batch"


def make_gan(config, **step_options):
    """(gan, ema) for `config`: its step (GAN or FusedGAN, given `step_options` such as
    FusedGAN's jit_compile) over a new G and D, and a GeneratorEMA of G when config.ema is
    set (else None). Keras's dtype policy and device distribution are set to the config's
    first, as the networks are built under them."""
    keras.config.set_dtype_policy(config.precision)
    use_devices(config.devices, config.batch_size)
    step = FusedGAN if config.step == "fused" else GAN
    gan = step(
        build_generator(config.resolution, config.latent_dim, config.base_channels,
                        config.upsampling),
        build_discriminator(config.resolution, config.base_channels,
                            discriminator_normalization(config)),
        loss=config.loss, learning_rate=config.learning_rate, beta_1=config.beta_1,
        label_smoothing=config.label_smoothing, augment=config.augment,
        n_critic=config.n_critic, gp_weight=config.gp_weight, **step_options,
    )
    ema = GeneratorEMA(gan.generator, config.ema) if config.ema else None
    return gan, ema
