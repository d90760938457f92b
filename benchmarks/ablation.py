"""The GAN-variant ablation (issue 18): which settings give the best faces, for a budget of
epochs and for a budget of minutes.

Protocol: every configuration trains on the same data (the last `holdout` images kept out),
seed and number of images (D sees every training image once per epoch), Adam(2e-4, 0.5),
and keeps an EMA of G's weights (decay 0.999) beside its raw generator; the average never
feeds back into training, so one run gives both rows, "X" and "X + EMA". Snapshots are
scored with facegan.metrics.evaluate at `--epochs-scored`, and at the snapshot nearest each
`--budget` in minutes, from each configuration's training rate measured first on an
otherwise idle machine. Configurations train `--jobs` at a time, each pinned to its own
core, longest first; a rerun skips those already in the JSON and resumes unfinished runs.

The winner is chosen by a rule fixed before the runs (`common.rank`): the best mean rank over
face rate (higher), |1 - diversity| (lower), attribute coverage and attribute Fréchet
distance (lower), among the rows not flagged for memorisation.

    python benchmarks/ablation.py --data ../shared/data/celeba-8k.zip --out runs/ablation \\
        --precision mixed_bfloat16
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import rank, slug  # noqa: E402

AUGMENT = "color,translation,cutout"
CONFIGS = {  # name -> TrainConfig fields that differ from the baseline, longest-running first
    "WGAN-GP": {"loss": "wgan-gp", "n_critic": 5},
    "nearest upsampling": {"upsampling": "nearest"},
    "DiffAugment": {"augment": AUGMENT},
    "hinge + SN": {"loss": "hinge", "spectral_norm": True},
    "BCE (baseline)": {},
    "LSGAN": {"loss": "lsgan"},
}
EMA = 0.999
def settings_of(row):
    """The TrainConfig fields of a row ("X" or "X + EMA")."""
    name, ema = (row[:-6], True) if row.endswith(" + EMA") else (row, False)
    return {**CONFIGS[name], **({"ema": EMA} if ema else {})}


def base_config(args, name, **overrides):
    from facegan.training.config import TrainConfig

    return TrainConfig(data=args.data, resolution=args.resolution, batch_size=args.batch_size,
                       base_channels=args.base_channels, holdout=args.holdout, seed=args.seed,
                       precision=args.precision, ema=EMA, **{**CONFIGS[name], **overrides})


def measure_speed(name, args):
    """Training images per second (D's images) over one epoch with every core, after the
    first history row (tracing)."""
    import shutil

    from facegan.training.loop import Trainer

    folder = Path(args.out) / "speed" / slug(name)
    shutil.rmtree(folder, ignore_errors=True)
    trainer = Trainer(folder, base_config(args, name, epochs=1, log_every=5,
                                          snapshot_every=10**6, checkpoint_every=10**9))
    trainer.fit(verbose=0)
    return float(trainer.run.read_history()["images_per_sec"].iloc[1:].median())


def flatten(results):
    from facegan.metrics.evaluate import flat_row

    row = flat_row(results)
    row["memorisation_flagged"] = bool(results["memorisation"]["flagged"])
    return row


def work(name, args):
    """One configuration: train (or resume) to the last scored epoch, then score its
    snapshots, raw and EMA. Runs in its own process; returns the configuration's entry."""
    from facegan.data.images import load_images
    from facegan.metrics.evaluate import Evaluator
    from facegan.networks.sampling import generate, latents, load_generator
    from facegan.training.loop import Trainer

    record = json.loads(Path(args.json).read_text())
    epochs = max(args.epochs_scored)
    folder = Path(args.out) / slug(name)
    config = None if (folder / "config.json").exists() else base_config(
        args, name, epochs=epochs, snapshot_every=args.snapshot_every, checkpoint_every=500)
    trainer = Trainer(folder, config)
    trainer.fit(verbose=0)
    images_per_epoch = trainer.steps_per_epoch * trainer.images_per_step
    # the snapshot nearest each budget, at the rate measured alone
    rate = record["speed"][name]
    budget_epochs = {str(b): int(min(epochs, max(args.snapshot_every, args.snapshot_every * round(
        rate * b * 60 / images_per_epoch / args.snapshot_every)))) for b in args.budget}
    scored = sorted(set(args.epochs_scored) | set(budget_epochs.values()))
    evaluator = Evaluator(load_images(args.data, args.resolution, args.seed), n=args.samples,
                          holdout=args.holdout, seed=args.seed)
    run = trainer.run
    scores = {"": {}, " + EMA": {}}
    for epoch in scored:
        for suffix, ema in (("", False), (" + EMA", True)):
            scores[suffix][str(epoch)] = flatten(evaluator.score(
                load_generator(run.snapshot(epoch, ema))))
            print(f"  {name}{suffix} epoch {epoch}: {scores[suffix][str(epoch)]}", flush=True)
    z = latents(8, trainer.config.latent_dim, seed=1)
    entry = {}
    for suffix, ema in (("", False), (" + EMA", True)):
        samples = folder / f"samples{slug(suffix)}.npy"
        np.save(samples, generate(load_generator(run.snapshot(epochs, ema)), z))
        entry[name + suffix] = {
            "settings": settings_of(name + suffix), "scores": scores[suffix],
            "budget_epochs": budget_epochs, "images_per_epoch": images_per_epoch,
            "images_per_sec": rate,
            "train_seconds_pinned": float(run.read_history()["wall_time"].iloc[-1]),
            "samples": str(samples)}
    return entry


def train_all(args, record, path):
    """Run the configurations not yet in the record, `jobs` at a time, one core each."""
    todo = [n for n in CONFIGS if n not in record["results"]]
    running, cores = {}, list(range(args.jobs))
    while todo or running:
        while todo and cores:
            name, core = todo.pop(0), cores.pop(0)
            log = open(Path(args.out) / f"{slug(name)}.log", "a")
            command = [sys.executable, __file__, "--worker", name] + sys.argv[1:]
            if args.jobs > 1:
                command = ["taskset", "-c", str(core)] + command
            env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                   "OMP_NUM_THREADS": "1"} if args.jobs > 1 else os.environ
            print(f"[{time.strftime('%H:%M:%S')}] {name} on core {core}", flush=True)
            running[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                              env=env), core)
        time.sleep(5)
        for name, (process, core) in list(running.items()):
            if process.poll() is None:
                continue
            del running[name]
            cores.append(core)
            out = Path(args.out) / slug(name) / "entry.json"
            if process.returncode or not out.exists():
                print(f"{name} failed (exit {process.returncode}): see "
                      f"{Path(args.out) / (slug(name) + '.log')}", flush=True)
                continue
            record["results"].update(json.loads(out.read_text()))
            path.write_text(json.dumps(record, indent=2))
            print(f"[{time.strftime('%H:%M:%S')}] {name} done", flush=True)


def at(row, epoch):
    return row["scores"][str(epoch)]


def plot(record, path):
    """Each metric against epoch (solid: EMA, dashed: raw), and samples at the last epoch."""
    import matplotlib.pyplot as plt

    results, p = record["results"], record["protocol"]
    configs = [n for n in CONFIGS if n in results]
    last = max(p["epochs_scored"])
    panels = [("face_rate", "face-detection rate (higher is better)"),
              ("diversity", "diversity (1 = as varied as the data)"),
              ("attribute_coverage", "attribute coverage (lower is better)"),
              ("attribute_fd", "attribute Fréchet distance (lower is better)")]
    fig = plt.figure(figsize=(17, 11.5))
    grid = fig.add_gridspec(2, 4, height_ratios=[1, 1.45])
    colors = dict(zip(configs, plt.cm.tab10.colors))
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        for name in configs:
            for suffix, style in (("", "--"), (" + EMA", "-")):
                row = results[name + suffix]
                epochs = p["epochs_scored"]
                ax.plot(epochs, [at(row, e)[key] for e in epochs], style, marker="o",
                        color=colors[name], label=name + suffix, lw=1.5, ms=4)
        if key == "face_rate":
            ax.axhline(at(results[configs[0]], last)["face_rate_real"], color="black", ls=":",
                       lw=1, label="real images")
        if key == "diversity":
            ax.axhline(1.0, color="black", ls=":", lw=1)
        ax.set(xlabel="epoch", title=label, xticks=p["epochs_scored"])
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3)
    strip = fig.add_subplot(grid[1, :])
    gap = np.full((p["resolution"], 16, 3), 255, np.uint8)
    rows = [np.concatenate(list(np.load(results[n]["samples"])) + [gap] +
                           list(np.load(results[n + " + EMA"]["samples"])), axis=1)
            for n in configs]
    strip.imshow(np.concatenate(rows, axis=0))
    strip.set_yticks([p["resolution"] * (k + 0.5) for k in range(len(configs))], configs)
    strip.set_xticks([p["resolution"] * 4, p["resolution"] * 12 + 16],
                     ["raw generator", "EMA generator"])
    strip.set_title(f"8 samples per configuration at epoch {last} (the same latents)",
                    fontsize=10)
    fig.suptitle(f"GAN variants on {p['data']} at {p['resolution']}x{p['resolution']}, base "
                 f"channels {p['base_channels']}, batch {p['batch_size']}, {p['precision']}, "
                 f"seed {p['seed']}, scored on {p['samples']} samples\n{p['backend']}, "
                 f"{p['hardware']}, {p['date']}", fontsize=12)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=7, fontsize=9,
               bbox_to_anchor=(0.5, 0.95), title="dashed: raw generator, solid: its EMA")
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def tables(record):
    """Markdown: the scores at equal images (each scored epoch), and at each budget."""
    results, p = record["results"], record["protocol"]
    epochs, last = p["epochs_scored"], max(p["epochs_scored"])
    order = rank({r: at(results[r], last) for r in results})
    ep = "/".join(map(str, epochs))
    lines = [f"| rank | configuration | face rate ({ep}) | diversity | attribute coverage "
             f"({ep}) | attribute FD ({ep}) | near copies | img/s |", "|---|" * 1 + "---|" * 7]
    for place, r in enumerate(order, 1):
        row, m = results[r], at(results[r], last)
        series = lambda key, fmt: " / ".join(fmt.format(at(row, e)[key]) for e in epochs)
        lines.append(f"| {place} | {r} | {series('face_rate', '{:.3f}')} | {m['diversity']:.2f} | "
                     f"{series('attribute_coverage', '{:.3f}')} | "
                     f"{series('attribute_fd', '{:.1f}')} | {m['memorisation']:.3f} | "
                     f"{row['images_per_sec']:.0f} |")
    for budget in p["budgets"]:
        at_budget = {r: at(results[r], results[r]["budget_epochs"][str(budget)]) for r in results}
        lines += ["", f"Equal wall time, {budget} minutes on this CPU (the snapshot nearest "
                      f"it, at each configuration's measured rate):", "",
                  "| rank | configuration | epoch reached | face rate | diversity | attribute "
                  "coverage | attribute FD |", "|---|---|---|---|---|---|---|"]
        for place, r in enumerate(rank(at_budget), 1):
            m = at_budget[r]
            lines.append(f"| {place} | {r} | {results[r]['budget_epochs'][str(budget)]} | "
                         f"{m['face_rate']:.3f} | {m['diversity']:.2f} | "
                         f"{m['attribute_coverage']:.3f} | {m['attribute_fd']:.1f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="runs/ablation", help="run folders")
    parser.add_argument("--json", default="results/ablation.json")
    parser.add_argument("--figure", default="figures/ablation.png")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--epochs-scored", type=lambda s: [int(e) for e in s.split(",")],
                        default=[10, 20, 30])
    parser.add_argument("--snapshot-every", type=int, default=2, help="epochs")
    parser.add_argument("--budget", type=lambda s: [float(b) for b in s.split(",")],
                        default=[12.0], help="minutes of training on this machine")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--holdout", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000, help="generated samples per score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count()),
                        help="configurations trained at once, one core each")
    parser.add_argument("--hardware", default=f"{os.cpu_count()} CPU cores, no GPU")
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        out = Path(args.out) / slug(args.worker) / "entry.json"
        out.write_text(json.dumps(work(args.worker, args), indent=2))
        return 0
    path = Path(args.json)
    record = json.loads(path.read_text()) if path.exists() else {"results": {}, "speed": {}}
    if not args.plot_only:
        import keras

        from facegan.data.images import load_images

        record["protocol"] = {
            "data": Path(args.data).name, "resolution": args.resolution,
            "train_images": len(load_images(args.data, args.resolution, args.seed)) - args.holdout,
            "epochs_scored": args.epochs_scored, "budgets": args.budget,
            "batch_size": args.batch_size, "base_channels": args.base_channels,
            "precision": args.precision, "holdout": args.holdout, "samples": args.samples,
            "seed": args.seed, "ema": EMA, "optimizer": "Adam lr 2e-4, beta_1 0.5",
            "backend": keras.backend.backend(), "keras": keras.__version__,
            "hardware": args.hardware, "cpu": platform.processor() or platform.machine(),
            "date": time.strftime("%Y-%m-%d"), "jobs": args.jobs,
            "selection": "best mean rank over face rate (higher), |1 - diversity|, attribute "
                         "coverage, attribute FD (lower); memorisation-flagged rows last",
        }
        Path(args.out).mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        for name in CONFIGS:  # alone on the machine, before the runs start
            if name not in record["speed"]:
                record["speed"][name] = measure_speed(name, args)
                print(f"{name}: {record['speed'][name]:.0f} img/s", flush=True)
                path.write_text(json.dumps(record, indent=2))
        train_all(args, record, path)
    plot(record, args.figure)
    print(tables(record))
    last = max(record["protocol"]["epochs_scored"])
    winner = rank({r: at(v, last) for r, v in record["results"].items()})[0]
    print(f"winner at {last} epochs (the recommended preset): {winner}: "
          f"{record['results'][winner]['settings']}")
    print(f"wrote {args.figure}" + ("" if args.plot_only else f" and {path}"))


if __name__ == "__main__":
    sys.exit(main())
