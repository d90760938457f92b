"""Time to faces: the wall time a user waits, at given settings, until the face-detection
rate of the samples first exceeds a threshold (0.90 by default; real CelebA faces: ~0.95).

Trains a new run with `--eval-every 1` (the sampling generator scored on `--samples` faces
after every epoch) and stops after the first epoch above the threshold, or reads a run
that already has a metrics.csv (`--run`). The time is the run's own wall time at the end of
that epoch, which includes the scoring of the epochs before it.

    python benchmarks/time_to_faces.py --data ../shared/data/celeba-8k.zip --out runs/ttf
    python benchmarks/time_to_faces.py --run runs/celeba64   # an existing run
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def first_crossing(run_dir, threshold):
    """(epoch, step, face rate, diversity, wall seconds, images seen) of the first scored
    epoch whose face rate exceeds `threshold`, or None. The diversity tells whether the
    faces then are varied or a few alike ones."""
    from facegan.training.runs import RunDir

    run = RunDir(run_dir)
    metrics = run.read_metrics()
    if metrics.empty or "face_rate" not in metrics:
        return None
    above = metrics[metrics["face_rate"] > threshold]
    if above.empty:
        return None
    row = above.iloc[0]
    history = run.read_history()
    end = history[history["step"] <= row["step"]].iloc[-1]
    config = run.read_config()
    per_step = config["batch_size"] * config["n_critic"]
    return {"epoch": int(row["epoch"]), "step": int(row["step"]),
            "face_rate": float(row["face_rate"]), "diversity": float(row.get("diversity", "nan")),
            "wall_seconds": float(end["wall_time"]),
            "images_seen": int(row["step"]) * per_step}


def train_until(args):
    """Train epoch by epoch, scoring each, until the threshold is crossed or max_epochs."""
    from facegan.training.config import TrainConfig
    from facegan.training.loop import Trainer
    from facegan.training.presets import PRESETS

    settings = {**PRESETS.get(args.preset, {}), **json.loads(args.settings)}
    data = args.data if args.data == "synthetic" else str(Path(args.data).resolve())
    config = TrainConfig(data=data, epochs=1, eval_every=1,
                         eval_samples=args.samples, holdout=args.holdout, **settings)
    trainer = Trainer(args.out, config)
    for epoch in range(1, args.max_epochs + 1):
        trainer.config.epochs = epoch
        trainer.fit(verbose=0)
        if first_crossing(args.out, args.threshold):
            break
    return trainer.run.path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="read this run instead of training one")
    parser.add_argument("--data", help="the images to train on")
    parser.add_argument("--out", type=Path, default=Path(f"runs/time-to-faces-{time.strftime('%Y%m%d-%H%M%S')}"))
    parser.add_argument("--preset",
                        help="a named preset (facegan.training.presets); default: the defaults")
    parser.add_argument("--settings", default="{}",
                        help='TrainConfig fields as JSON, e.g. \'{"base_channels": 32}\'')
    parser.add_argument("--threshold", type=float, default=0.90)
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--samples", type=int, default=1000, help="generated samples per score")
    parser.add_argument("--holdout", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="append the result to this JSON list")
    args = parser.parse_args()
    if not args.run and not args.data:
        parser.error("give --data to train a run, or --run to read one")

    run = args.run or train_until(args)
    import keras

    from facegan.training.runs import RunDir

    crossing = first_crossing(run, args.threshold)
    config = RunDir(run).read_config()
    result = {"run": str(run), "threshold": args.threshold, "crossing": crossing,
              "config": config, "backend": keras.backend.backend(), "date": time.strftime("%Y-%m-%d"),
              "machine": common.machine(), "keras": keras.__version__,
              "framework": common.framework_version(keras.backend.backend())}
    if crossing:
        print(f"face rate {crossing['face_rate']:.3f} > {args.threshold} first at epoch "
              f"{crossing['epoch']} (diversity {crossing['diversity']:.2f}; step {crossing['step']}, "
              f"{crossing['images_seen']:,} images): "
              f"{crossing['wall_seconds']:.0f} s = {crossing['wall_seconds'] / 60:.1f} min")
    else:
        print(f"the face rate never exceeded {args.threshold} in {run}")
    if args.json:
        records = json.loads(args.json.read_text()) if args.json.exists() else []
        args.json.write_text(json.dumps(records + [result], indent=2))
    return 0 if crossing else 1


if __name__ == "__main__":
    sys.exit(main())
