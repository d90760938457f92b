"""When does a GAN start to copy? The same settings and number of steps on 1,000, 7,000 and
46,000 training images, scored along the way (issue 25's data-size figure).

Protocol: the training sets are the first N images of `--data` in name order; the last
`--holdout` images are held out of all of them (the same faces, the reference for near
copies). Each set is a folder of links to those images, so the loaders read it as any
folder. Every run trains the recommended preset (`--preset recommended`, base channels 32,
batch 64, seed 0) for `--images` images and is scored with `--eval-every` at about every
`--score-every` images on `--samples` samples: face rate, diversity, near copies, the
attribute measures and FID, each against its own training images. On 1,000 images D sees
each face many times more often than on 46,000: the figure shows what that does.

    python benchmarks/data_size.py --data data/celeba-46k --sizes 1000,7000,44253 \\
        --images 600000 --out ~/runs/data_size --precision mixed_bfloat16
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PANELS = [("face_rate", "face-detection rate (higher is better)"),
          ("diversity", "diversity (1 = as varied as the data)"),
          ("memorisation", "near copies of training faces (share of samples)"),
          ("attribute_fd", "attribute Fréchet distance (lower is better)"),
          ("fid", "FID (lower is better)")]


def training_set(data, size, holdout, out):
    """A folder of links: the first `size` images of `data` and its last `holdout`."""
    from facegan.data.images import list_images

    names = list_images(data)
    if size + holdout > len(names):
        raise SystemExit(f"{data} has {len(names)} images: too few for {size} + {holdout} held out")
    folder = Path(out) / "sets" / f"{size}"
    if not folder.exists():
        part = folder.with_suffix(".partial")
        part.mkdir(parents=True, exist_ok=True)
        for name in names[:size] + names[-holdout:]:
            link = part / name.replace("/", "_")
            if not link.exists():
                link.symlink_to(Path(data).resolve() / name)
        part.rename(folder)
    return folder


def train(size, args):
    """Train (or resume) the run on `size` images; return its metrics table."""
    from facegan.training.config import TrainConfig
    from facegan.training.loop import Trainer
    from facegan.training.presets import PRESETS

    folder = Path(args.out) / f"n{size}"
    steps_per_epoch = size // args.batch_size
    every = max(1, round(args.score_every / (steps_per_epoch * args.batch_size)))  # epochs
    epochs = every * max(1, round(args.images / (steps_per_epoch * args.batch_size) / every))
    config = None if (folder / "config.json").exists() else TrainConfig(
        data=str(training_set(args.data, size, args.holdout, args.out)), resolution=64,
        epochs=epochs, batch_size=args.batch_size, base_channels=32, **PRESETS["recommended"],
        precision=args.precision, holdout=args.holdout, seed=0, eval_every=every,
        eval_samples=args.samples, snapshot_every=every, checkpoint_every=1000)
    trainer = Trainer(folder, config)
    trainer.fit(verbose=0)
    table = trainer.run.read_metrics()
    table["images_seen"] = table["step"] * args.batch_size
    return table


def plot(record, path):
    """Each measure against images seen, one line per training-set size; the real faces'
    near-copy rate dashed."""
    import matplotlib.pyplot as plt

    from facegan.figures.plots import save_figure

    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.1 * len(PANELS), 3.6))
    for ax, (key, label) in zip(axes, PANELS):
        for i, (size, rows) in enumerate(record["results"].items()):
            images = [r["images_seen"] / 1000 for r in rows]
            ax.plot(images, [r[key] for r in rows], marker=".", color=f"C{i}",
                    label=f"{int(size):,} images")
            if key == "memorisation":
                ax.plot(images, [r["memorisation_real"] for r in rows], "--", color=f"C{i}",
                        alpha=0.5)
        ax.set(xlabel="images seen (thousands)", title=label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[2].text(0.02, 0.95, "dashed: real held-out faces", transform=axes[2].transAxes,
                 fontsize=8, va="top")
    p = record["protocol"]
    fig.suptitle(f"About {p['images']:,} images' worth of steps on "
                 f"{', '.join(f'{n:,}' for n in p['sizes'])} training faces (64x64, recommended "
                 f"preset, base channels 32; {p['samples']} samples per score)", fontsize=11)
    save_figure(fig, path, close=True)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the images, in name order")
    parser.add_argument("--sizes", default="1000,7000,44253",
                        type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--holdout", type=int, default=2000)
    parser.add_argument("--images", type=int, default=600_000, help="images seen per run")
    parser.add_argument("--score-every", type=int, default=40_000, help="images")
    parser.add_argument("--samples", type=int, default=500, help="generated samples per score")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--out", required=True, help="folder of the run folders")
    parser.add_argument("--json", default="results/data_size.json")
    parser.add_argument("--figure", default="figures/data_size.png")
    args = parser.parse_args()
    record = {"protocol": {k: v for k, v in vars(args).items() if k not in ("json", "figure")},
              "results": {}}
    for size in args.sizes:
        print(f"[{time.strftime('%H:%M:%S')}] training on {size:,} images", flush=True)
        table = train(size, args)
        record["results"][str(size)] = json.loads(table.to_json(orient="records"))
        common.write_json(args.json, record)
    plot(record, args.figure)


if __name__ == "__main__":
    main()
