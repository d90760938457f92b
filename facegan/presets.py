"""Named sets of GAN-variant settings (TrainConfig fields), chosen by benchmarks/ablation.py.

Plain data, no Keras import, so the command line can list them before a backend is chosen.
"""

PRESETS = {
    # The winner of the ablation (README: "Better faces"; results/ablation.json): at 32x32
    # on CPU, one epoch of CelebA-8k, no option beat the BCE DCGAN baseline, so the
    # recommendation is the defaults. Re-run the ablation longer (GPU, 64x64) to revise it.
    "recommended": {},
}
