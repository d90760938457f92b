"""Named sets of GAN-variant settings (TrainConfig fields), chosen by benchmarks/ablation.py.

Plain data, no Keras import, so the command line can list them before a backend is chosen.
"""

PRESETS = {
    # The best combination of the 32x32 CelebA ablation (README: "Better faces").
    "recommended": {"loss": "hinge", "spectral_norm": True, "augment": "color,translation,cutout",
                    "ema": 0.999},
}
