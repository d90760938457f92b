"""Named sets of GAN-variant settings (TrainConfig fields), chosen by benchmarks/ablation.py.

Plain data, no Keras import, so the command line can list them before a backend is chosen.
"""

PRESETS = {
    # The winner of the ablation (docs/ablation.md; results/ablation.json): 64x64,
    # base channels 32, 30 epochs of CelebA-8k, ranked by face rate, diversity and both
    # attribute measures; it also won at equal wall time (6 and 12 minutes on a 2-core CPU).
    "recommended": {"upsampling": "nearest", "ema": 0.999},
}
