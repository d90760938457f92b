"""Every setting of a training run (TrainConfig), saved in the run's config.json.

Plain data, no Keras import: the command line reads these fields before a backend is chosen.
"""

import dataclasses

from facegan.errors import FaceganError


@dataclasses.dataclass
class TrainConfig:
    data: str = "synthetic"         # "synthetic", a CelebA zip, or a folder of images
    resolution: int = 64
    epochs: int = 5
    batch_size: int = 64
    latent_dim: int = 100
    base_channels: int = 64
    upsampling: str = "transposed"  # G's upsampling: "transposed" (DCGAN) or "nearest" + conv
    loss: str = "bce"               # bce, wgan-gp, hinge or lsgan (facegan.training.losses)
    spectral_norm: bool = False     # spectral normalisation in D, in place of its BatchNorm
    augment: str = ""               # DiffAugment policy in front of D: "color,translation,cutout"
    ema: float = 0.0                # decay of the generator's weight average (0: none)
    n_critic: int = 1               # D steps per G step, each on its own real batch
    gp_weight: float = 10.0         # weight of the gradient penalty (wgan-gp)
    step: str = "combined"          # "combined" (two combined models) or "fused" (one call)
    steps_per_call: int = 1         # fused steps per compiled call (one lax.scan on jax)
    precision: str = "float32"      # or "mixed_bfloat16", "mixed_float16" (GPU)
    devices: int = 1                # data-parallel devices (jax backend)
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    label_smoothing: float = 0.0    # one-sided: real targets become 1 - label_smoothing
    flip: bool = True               # random horizontal flips of real images
    seed: int = 0
    synthetic_size: int = 4096      # faces drawn when data is "synthetic"
    holdout: int = 0                # last N images never trained on (memorisation checks)
    log_every: int = 20             # steps per history row
    checkpoint_every: int = 500     # steps; also at every epoch end
    snapshot_every: int = 10        # epochs per saved generator snapshot
    cache_dir: str | None = None    # where decoded images are cached (default ~/.cache/facegan)
    eval_every: int = 0             # epochs per metrics.csv row (0: never)
    eval_samples: int = 1000        # generated samples per evaluation
    inception_weights: str | None = None  # torch-fidelity's Inception file; else torch.hub's cache
    tensorboard: bool = False       # also log scalars and sample grids to RUN/tensorboard/


def check_steps_per_call(config):
    """Refuse a steps_per_call the loop cannot run: checkpoints are written between calls."""
    k = config.steps_per_call
    if k < 1:
        raise FaceganError(f"steps per call must be a positive integer, got {k}")
    if k > 1 and config.step != "fused":
        raise FaceganError(f"--steps-per-call {k} needs --step fused: the combined-model "
                           f"step trains one step per call")
    if config.checkpoint_every % k:
        raise FaceganError(f"--checkpoint-every {config.checkpoint_every} is not a multiple of "
                           f"--steps-per-call {k}: checkpoints are written between calls")
