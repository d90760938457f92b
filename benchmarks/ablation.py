"""The GAN-variant ablation (issue 8): the BCE DCGAN baseline, each option alone, and the
best combination, trained on the same data for the same number of images with the same
seed, then scored by facegan.evaluate (face rate, diversity, memorisation; FID, KID,
precision and recall when torch-fidelity's Inception weights are on disk).

Protocol: every configuration shows D `epochs` passes over the training images (holdout
kept out), seed 0, Adam(lr, beta_1=0.5), one process, configurations one after another.
The combination is chosen by a rule fixed in advance (`best`): the loss of the best-scoring
single-loss run, plus EMA and DiffAugment if each alone beat the baseline; EMA and
DiffAugment are also run together. The best-scoring row becomes the recommended preset.

    KERAS_BACKEND=torch python benchmarks/ablation.py --data ../shared/data/celeba-8k.zip \
        --out runs/ablation --json results/ablation.json --figure figures/ablation.png

Results are appended to the JSON after each configuration; a rerun skips those already
there, and `--plot-only` redraws the figures from it.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

AUGMENT = "color,translation,cutout"
SINGLE = {  # name -> TrainConfig fields that differ from the baseline
    "baseline (BCE)": {},
    "WGAN-GP": {"loss": "wgan-gp"},
    "hinge + SN": {"loss": "hinge", "spectral_norm": True},
    "LSGAN": {"loss": "lsgan"},
    "EMA": {"ema": 0.999},
    "DiffAugment": {"augment": AUGMENT},
}
LOSS_RUNS = ("baseline (BCE)", "WGAN-GP", "hinge + SN", "LSGAN")
EXTRA = {"EMA + DiffAugment": {"ema": 0.999, "augment": AUGMENT}}  # the add-ons together


def score(entry):
    """The rule that ranks configurations: face rate x diversity (capped at 1), so that
    neither one face repeated nor varied non-faces wins; 0 for a generator that copies."""
    m = entry["metrics"]
    if m.get("memorisation_flagged", False):
        return 0.0
    return m["face_rate"] * min(m["diversity"], 1.0)


def best(results):
    """The combination: the best loss setting, plus each add-on that beat the baseline alone."""
    loss = max(LOSS_RUNS, key=lambda name: score(results[name]))
    settings = dict(SINGLE[loss])
    base = score(results["baseline (BCE)"])
    for addon in ("EMA", "DiffAugment"):
        if score(results[addon]) > base:
            settings.update(SINGLE[addon])
    return settings


def flatten(results):
    from facegan.evaluate import flat_row

    row = flat_row(results)
    if "memorisation" in results:
        row["memorisation_flagged"] = bool(results["memorisation"]["flagged"])
    return row


def run_one(name, settings, args, evaluator):
    from facegan.training import TrainConfig, Trainer

    config = TrainConfig(data=args.data, resolution=args.resolution, epochs=args.epochs,
                         batch_size=args.batch_size, base_channels=args.base_channels,
                         holdout=args.holdout, seed=args.seed, snapshot_every=args.epochs,
                         checkpoint_every=10**9, **settings)
    folder = Path(args.out) / name.replace(" ", "").replace("+", "_").replace("(", "_").replace(")", "")
    trainer = Trainer(folder, config)
    start = time.perf_counter()
    trainer.fit(verbose=0)
    train_seconds = time.perf_counter() - start
    entry = {"settings": settings, "g_steps": trainer.step,
             "images_seen": trainer.step * trainer.images_per_step,
             "train_seconds": train_seconds, "metrics": flatten(evaluator.score(trainer.sampler))}
    if trainer.ema:  # the raw generator too, to show what the average adds
        entry["metrics_raw_generator"] = flatten(evaluator.score(trainer.gan.generator))
    from facegan.sampling import generate, latents

    entry["samples"] = str(folder / "ablation_samples.npy")
    np.save(entry["samples"], generate(trainer.sampler, latents(8, config.latent_dim, seed=1)))
    return entry


def plot(record, path):
    import matplotlib.pyplot as plt

    results = record["results"]
    names = list(results)
    labels = [f"{n} (= {results[n]['same_as']})" if "same_as" in results[n] else n for n in names]
    panels = [("face_rate", "face-detection rate", "face_rate_real", "real images"),
              ("diversity", "diversity (pairwise, 1 = as varied as data)", None, None),
              ("memorisation", "near copies of training images", "memorisation_real",
               "held-out faces")]
    panels = [p for p in panels if p[0] in results[names[0]]["metrics"]]
    fig = plt.figure(figsize=(13, 7.5))
    grid = fig.add_gridspec(2, len(panels), height_ratios=[1, 1.15])
    colors = ["#777777"] + ["#4C72B0"] * (len(names) - 1)
    if "best combination" in names:
        colors[names.index("best combination")] = "#DD8452"
    for i, (key, label, ref, ref_label) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        values = [results[n]["metrics"][key] for n in names]
        bars = ax.barh(range(len(names)), values, color=colors)
        ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
        ax.set_yticks(range(len(names)), labels if i == 0 else [""] * len(names))
        ax.invert_yaxis()
        if ref:
            ax.axvline(results[names[0]]["metrics"][ref], ls="--", color="black", lw=1,
                       label=ref_label)
            ax.legend(fontsize=8, loc="lower right")
        elif key == "diversity":
            ax.axvline(1.0, ls="--", color="black", lw=1)
        ax.set(xlabel=label, xlim=(0, None))
        ax.grid(axis="x", alpha=0.3)
    samples = fig.add_subplot(grid[1, :])
    rows = [np.concatenate(list(np.load(results[n]["samples"])), axis=1) for n in names]
    samples.imshow(np.concatenate(rows, axis=0))
    height = rows[0].shape[0]
    samples.set_yticks([height * (k + 0.5) for k in range(len(names))], labels)
    samples.set_xticks([])
    samples.set_title("8 samples per configuration (same latents; EMA generator where kept)",
                      fontsize=10)
    p = record["protocol"]
    fig.suptitle(f"GAN variants on {p['data']} at {p['resolution']}x{p['resolution']}: "
                 f"{p['images_seen']:,} real images seen each, base channels "
                 f"{p['base_channels']}, batch {p['batch_size']}, seed {p['seed']} "
                 f"({p['backend']}, {p['hardware']})", fontsize=11)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table(record):
    """A Markdown table of the results."""
    lines = ["| configuration | face rate | diversity | NN ratio | near copies | G steps | "
             "train time |", "|---|---|---|---|---|---|---|"]
    for name, r in record["results"].items():
        m = r["metrics"]
        lines.append(f"| {name} | {m['face_rate']:.3f} | {m['diversity']:.3f} | "
                     f"{m['diversity_nearest_neighbour']:.3f} | {m.get('memorisation', float('nan')):.3f} | "
                     f"{r['g_steps']} | {r['train_seconds'] / 60:.1f} min |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="runs/ablation", help="run folders")
    parser.add_argument("--json", default="results/ablation.json")
    parser.add_argument("--figure", default="figures/ablation.png")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--base-channels", type=int, default=16)
    parser.add_argument("--holdout", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000, help="generated samples per score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hardware", default=f"{os.cpu_count()} shared CPU cores, no GPU")
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args()

    path = Path(args.json)
    record = json.loads(path.read_text()) if path.exists() else {"results": {}}
    if not args.plot_only:
        import keras

        from facegan.data import load_images
        from facegan.evaluate import Evaluator

        train_count = len(load_images(args.data, args.resolution, args.seed)) - args.holdout
        record["protocol"] = {
            "data": Path(args.data).name, "resolution": args.resolution, "epochs": args.epochs,
            "images_seen": args.epochs * (train_count // args.batch_size) * args.batch_size,
            "batch_size": args.batch_size, "base_channels": args.base_channels,
            "holdout": args.holdout, "samples": args.samples, "seed": args.seed,
            "optimizer": "Adam lr 2e-4, beta_1 0.5", "backend": keras.backend.backend(),
            "hardware": args.hardware, "cpu": platform.processor() or platform.machine(),
            "selection": "face rate x min(diversity, 1); 0 if memorisation is flagged",
        }
        evaluator = Evaluator(load_images(args.data, args.resolution, args.seed),
                              n=args.samples, holdout=args.holdout, seed=args.seed)
        plan = list(SINGLE.items()) + list(EXTRA.items()) + [("best combination", None)]
        for name, settings in plan:
            if name in record["results"]:
                continue
            same = []
            if settings is None:
                settings = best(record["results"])
                same = [n for n, s in SINGLE.items() if s == settings]
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {settings}", flush=True)
            if same:  # training is deterministic: that run already is the combination
                record["results"][name] = {**record["results"][same[0]], "same_as": same[0]}
            else:
                record["results"][name] = run_one(name, settings, args, evaluator)
            print(f"    {record['results'][name]['metrics']}", flush=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=2))
    plot(record, args.figure)
    print(table(record))
    winner = max(record["results"], key=lambda name: score(record["results"][name]))
    print(f"winner (the recommended preset): {winner}: {record['results'][winner]['settings']}")
    print(f"wrote {args.figure} and {path}")


if __name__ == "__main__":
    sys.exit(main())
