"""Images per second of the facegan training step beside plain loops of the same DCGAN, per
backend, resolution and batch size, as GFLOP/s and as a share of this machine's matmul rate
measured in the same run (the bar: common.matmul_bar; on a GPU the rate at the step's precision).

Paths, on the same random batches (the data pipeline is not timed):
  combined      facegan.training.gan.GAN: two combined models, two train_on_batch calls (the default)
  fused         facegan.training.fused.FusedGAN: both updates in one call (TensorFlow, PyTorch, JAX),
                with its default XLA setting
  fused-xla     FusedGAN XLA-compiled (TensorFlow), fused-noxla without XLA
  plain-tf      the same DCGAN in plain TensorFlow, one tf.function step (benchmarks/plain_tf.py);
                plain-tf-xla the same with XLA
  plain-torch   the same DCGAN in plain PyTorch (benchmarks/plain_torch.py)
  plain-jax     the same DCGAN in plain JAX, one jax.jit step (benchmarks/plain_jax.py)
Within one configuration the paths take turns step by step, so a busy machine slows them
alike and their ratios stay fair; across backends (one process each) the workers take turns
for `--rounds` rounds and each figure is the median of all its rounds' steps, so a machine
whose speed drifts over minutes (a shared cloud CPU) slows every backend alike. Every
path's train_step returns Python floats, so a timed step includes waiting for the GPU to
finish it. The summary gives each facegan path as a share of its own framework's plain loop
and of the fastest plain loop in the run.

    python benchmarks/train_throughput.py --resolutions 64 --batch-sizes 64 --rounds 3 \
        --json results/train.json
    python benchmarks/train_throughput.py --backends jax --resolutions 32 64 --steps 3
    python benchmarks/train_throughput.py --backends torch jax --batch-sizes 64 256 1024  # GPU
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PATHS = {"tensorflow": ("combined", "fused", "fused-xla", "fused-noxla", "plain-tf", "plain-tf-xla"),
         "torch": ("combined", "fused", "plain-torch"), "jax": ("combined", "fused", "plain-jax")}
PLAIN = {"tensorflow": "plain-tf", "torch": "plain-torch", "jax": "plain-jax"}  # own bars


def build(path, resolution, batch_size, base_channels, precision):
    """The trainer for `path` on the running backend."""
    from facegan.training.build import make_gan
    from facegan.training.config import TrainConfig

    if path == "plain-torch":
        from plain_torch import PlainGAN

        return PlainGAN(resolution, base_channels=base_channels)
    if path == "plain-jax":
        from plain_jax import PlainGAN

        return PlainGAN(resolution, base_channels=base_channels)
    if path.startswith("plain-tf"):
        from plain_tf import PlainGAN

        return PlainGAN(resolution, base_channels=base_channels, jit_compile=path.endswith("xla"))
    config = TrainConfig(resolution=resolution, batch_size=batch_size, base_channels=base_channels,
                         step="combined" if path == "combined" else "fused", precision=precision)
    xla = {"fused-xla": {"jit_compile": True}, "fused-noxla": {"jit_compile": False}}
    return make_gan(config, **xla.get(path, {}))[0]


def worker(args):
    import json

    import keras
    import numpy as np

    from facegan.networks.dcgan import build_discriminator, build_generator

    backend = keras.backend.backend()
    keras.config.set_dtype_policy(args.precision)
    paths = [p for p in PATHS[backend] if p in args.paths]
    if args.precision != "float32":  # the plain loops are float32 only
        paths = [p for p in paths if not p.startswith("plain")]
    rng = np.random.default_rng(0)
    results = []
    for resolution in args.resolutions:
        flops = common.train_step_flops(build_generator(resolution, 100, args.base_channels),
                                        build_discriminator(resolution, args.base_channels))
        for batch_size in args.batch_sizes:
            keras.utils.set_random_seed(0)
            trainers = {p: build(p, resolution, batch_size, args.base_channels, args.precision)
                        for p in paths}
            batches = [(rng.uniform(-1, 1, (batch_size, resolution, resolution, 3)).astype("float32"),
                        *rng.standard_normal((2, batch_size, 100)).astype("float32"))
                       for _ in range(2)]
            for trainer in trainers.values():
                for i in range(args.warmup):
                    trainer.train_step(*batches[i % 2])
            times = {p: [] for p in paths}
            for i in range(args.steps):
                for p, trainer in trainers.items():
                    start = time.perf_counter()
                    trainer.train_step(*batches[i % 2])
                    times[p].append(time.perf_counter() - start)
            results += [{"backend": backend, "path": p, "precision": args.precision,
                         "resolution": resolution, "batch_size": batch_size,
                         "flops_per_image": flops, "step_seconds": times[p]} for p in paths]
    print(json.dumps(results))


def merge_rounds(rounds):
    """One row per measurement from the workers' rounds: the median over all their steps."""
    import numpy as np

    merged = {}
    for row in (r for rows in rounds for r in rows):
        key = tuple(row[k] for k in ("backend", "path", "resolution", "batch_size"))
        merged.setdefault(key, {**row, "step_seconds": []})["step_seconds"] += row["step_seconds"]
    for row in merged.values():
        seconds = float(np.median(row["step_seconds"]))
        row.update(seconds_per_step=seconds, images_per_sec=row["batch_size"] / seconds,
                   gflops=row["flops_per_image"] * row["batch_size"] / seconds / 1e9)
    return list(merged.values())


def summarize(results):
    """Each facegan path against its framework's plain loop and the fastest plain loop of
    the same configuration (ratios of rates measured in this run); adds them to the rows."""
    plains = {}
    for r in results:
        if r["path"].startswith("plain"):
            plains.setdefault((r["resolution"], r["batch_size"]), {})[(r["backend"], r["path"])] = r["images_per_sec"]
    print("\nagainst the plain loops (same configuration, this run):")
    for r in results:
        found = plains.get((r["resolution"], r["batch_size"]))
        if r["path"].startswith("plain") or not found:
            continue
        (_, best_path), best = max(found.items(), key=lambda item: item[1])
        r["vs_fastest_plain"] = r["images_per_sec"] / best
        own = found.get((r["backend"], PLAIN.get(r["backend"])))
        if own:
            r["vs_own_plain"] = r["images_per_sec"] / own
        print(f"  {r['backend']:<10} {r['path']:<12} {r['resolution']:>3}px batch {r['batch_size']:>4}: "
              f"{r['vs_fastest_plain']:.2f}x the fastest plain loop ({best_path}, {best:.1f} img/s)"
              + (f", {r['vs_own_plain']:.2f}x {PLAIN[r['backend']]}" if own else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=common.installed_backends(),
                        choices=list(PATHS))
    parser.add_argument("--paths", nargs="+", default=sorted({p for ps in PATHS.values() for p in ps}))
    parser.add_argument("--resolutions", nargs="+", type=int, default=[32, 64, 128])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--base-channels", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per path and round")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times each backend's worker runs, backends taking turns")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing)")
    parser.add_argument("--precision", default="float32",
                        choices=["float32", "mixed_bfloat16", "mixed_float16"])
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    matmul = common.matmul_gflops()
    bar, peak = common.matmul_bar(matmul, args.precision)
    print(f"matmul: {', '.join(f'{k} {v:.1f}' for k, v in matmul.items())} GFLOP/s "
          f"(bar: {bar} {peak:.1f}); {common.machine()}")
    flags = ["--paths", *args.paths, "--resolutions", *args.resolutions, "--batch-sizes",
             *args.batch_sizes, "--base-channels", args.base_channels, "--steps", args.steps,
             "--warmup", args.warmup, "--precision", args.precision]
    rounds = [common.run_backend(backend, __file__, flags)
              for _ in range(args.rounds) for backend in args.backends]
    results = merge_rounds(rounds)
    for r in results:
        r["share_of_matmul"] = r["gflops"] / peak
        print(f"{r['backend']:<10} {r['path']:<12} {r['precision']:<8} {r['resolution']:>3}px "
              f"batch {r['batch_size']:>4}: {r['images_per_sec']:8.1f} img/s "
              f"{r['gflops']:8.1f} GFLOP/s {100 * r['share_of_matmul']:4.0f}% of matmul")
    summarize(results)
    common.write_json(args.json, {"benchmark": "train_throughput", "matmul_gflops": matmul,
                                  "matmul_bar": bar,
                                  "settings": {k: v for k, v in vars(args).items()
                                               if k not in ("json", "worker")},
                                  "results": results})


if __name__ == "__main__":
    main()
