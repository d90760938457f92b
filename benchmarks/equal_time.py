"""Configurations trained for the same minutes of this machine, then scored alike: which one
gives the better faces for the time (issue 25's 128x128 comparison).

Protocol: each configuration is `facegan train SHARED FLAGS --minutes M`, trained alone, one
after another, so each has every core for the same wall time (`--minutes` counts training
only: decoding, tracing's first step and the final save are outside it). Its final sampling
generator (the weight average where the run keeps one) is scored with
facegan.metrics.evaluate on `--samples` samples against the training images of the shared
`--data` (the last `--holdout` held out, for near copies), with the same latents for all.

The winner is chosen by a rule fixed before the runs (`common.rank`): the best mean rank over
face rate (higher), |1 - diversity|, attribute coverage, attribute Fréchet distance and FID
(lower), among the rows whose near-copy rate is not flagged; ties go to the lower FID.
A rerun skips the configurations already scored in the JSON and resumes unfinished runs.

    python benchmarks/equal_time.py --out ~/runs/compare128 --minutes 12 \\
        --data data/celeba-46k --resolution 128 --holdout 2000 --shared "--ema --epochs 100" \\
        --config "transposed 32=--upsampling transposed --base-channels 32" \\
        --config "nearest 32=--upsampling nearest --base-channels 32"
"""

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

MEASURES = ("face_rate", "diversity", "attribute_coverage", "attribute_fd", "fid")
RULE = ("best mean rank over face rate (higher), |1 - diversity|, attribute coverage, attribute "
        "Frechet distance and FID (lower), among the rows whose near-copy rate is not flagged; "
        "ties go to the lower FID")


def train(folder, flags, minutes):
    """Train (or resume) one configuration to its minutes; its log beside the run folder."""
    if (folder / "config.json").exists():
        command = ["--resume", str(folder), "--minutes", str(minutes)]
    else:
        command = [*flags, "--minutes", str(minutes), "--out", str(folder)]
    with open(folder.with_suffix(".log"), "a") as log:
        subprocess.run([sys.executable, "-m", "facegan", "train", *command], check=True,
                       stdout=log, stderr=subprocess.STDOUT, cwd=common.ROOT)


def score(folder, evaluator, z):
    """The run's final sampling generator scored, with its training figures and 8 samples."""
    from facegan.metrics.evaluate import flat_row
    from facegan.networks.sampling import generate, load_generator
    from facegan.training.runs import RunDir

    run = RunDir(folder)
    generator = load_generator(run.sampling_generator)
    results = evaluator.score(generator)
    history = run.read_history()
    config = run.read_config()
    images_seen = int(history["step"].iloc[-1]) * config["batch_size"] * config["n_critic"]
    np.save(folder / "samples_equal_time.npy", generate(generator, z))
    return {**flat_row(results), "memorisation_flagged": bool(results["memorisation"]["flagged"]),
            "train_seconds": float(history["wall_time"].iloc[-1]), "images_seen": images_seen,
            "epochs": round(images_seen / evaluator.train_count, 2),
            "samples": str(folder / "samples_equal_time.npy")}


def plot(record, path):
    """Eight faces of each configuration from the same latents, its measures beside them."""
    import matplotlib.pyplot as plt

    from facegan.figures.grids import image_grid
    from facegan.figures.plots import save_figure

    rows = record["results"]
    order = common.rank(rows, MEASURES)
    fig, axes = plt.subplots(len(order), 1, figsize=(12, 1.9 * len(order) + 0.6))
    for ax, name in zip(np.atleast_1d(axes), order):
        r = rows[name]
        ax.imshow(image_grid(np.load(r["samples"]), columns=8))
        ax.set_axis_off()
        ax.set_title(f"{name}: {r['images_seen']:,} images in {r['train_seconds'] / 60:.0f} min"
                     f" | face rate {r['face_rate']:.3f}, diversity {r['diversity']:.2f}, "
                     f"attr. coverage {r['attribute_coverage']:.3f}, attr. FD "
                     f"{r['attribute_fd']:.2f}, FID {r['fid']:.1f}", fontsize=9, loc="left")
    fig.suptitle(f"{record['protocol']['minutes']:g} minutes each on {record['machine']}; "
                 f"ranked best first", fontsize=10)
    save_figure(fig, path, close=True)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder of the run folders")
    parser.add_argument("--data", required=True, help="the training and scoring images")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--holdout", type=int, default=1000, help="last N images held out")
    parser.add_argument("--shared", default="", help="more facegan train flags of every run")
    parser.add_argument("--config", action="append", required=True, metavar="NAME=FLAGS")
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--samples", type=int, default=1000, help="generated samples per score")
    parser.add_argument("--json", default="results/compare_128.json")
    parser.add_argument("--figure", default="figures/compare_128.png")
    args = parser.parse_args()
    configs = dict(c.split("=", 1) for c in args.config)
    path = Path(args.json)
    record = json.loads(path.read_text()) if path.exists() else {}
    record.setdefault("results", {})
    shared = ["--data", args.data, "--resolution", str(args.resolution), "--holdout",
              str(args.holdout), *shlex.split(args.shared)]
    record["protocol"] = {"minutes": args.minutes, "shared": shlex.join(shared),
                          "configs": configs, "samples": args.samples, "rule": RULE}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    todo = [n for n in configs if n not in record["results"]]
    for name in todo:
        print(f"[{time.strftime('%H:%M:%S')}] training {name}", flush=True)
        train(Path(args.out) / common.slug(name), shared + shlex.split(configs[name]),
              args.minutes)

    from facegan.data.images import load_images
    from facegan.metrics.evaluate import Evaluator
    from facegan.networks.sampling import latents

    evaluator = Evaluator(load_images(args.data, args.resolution), n=args.samples,
                          holdout=args.holdout)
    z = latents(8, 100, seed=1)  # facegan train's default latent size
    for name in todo:
        record["results"][name] = score(Path(args.out) / common.slug(name), evaluator, z)
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {record['results'][name]}", flush=True)
        common.write_json(path, record)
    print("ranked:", common.rank(record["results"], MEASURES))
    plot({**record, "machine": common.machine()}, args.figure)


if __name__ == "__main__":
    main()
