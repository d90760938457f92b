"""Peak memory (RSS) of 64x64, batch-128 CPU training, on a small dataset and on a
200,000-image one: the uint8 cache is read batch by batch with pread (facegan.data.images.
CachedImages), so the large set must not raise it. Both caches are built in a temporary
folder by tiling synthetic faces, and deleted afterwards.

    python benchmarks/memory.py --json results/memory.json
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def build_cache(path, count, resolution):
    """A uint8 (count, R, R, 3) .npy of synthetic faces, 1,000 distinct ones tiled."""
    import numpy as np

    from facegan.data.synthetic import synthetic_faces

    faces = synthetic_faces(min(count, 1000), resolution, seed=0)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                    shape=(count, resolution, resolution, 3))
    for start in range(0, count, len(faces)):
        out[start:start + len(faces)] = faces[:count - start]
    out.flush()
    del out


def worker(args):
    """Train `steps` steps the way Trainer does, from the cache at args.cache; print peak RSS.

    Linux only (/proc).
    """
    import keras
    import numpy as np

    from facegan.data.images import CachedImages, to_model_input
    from facegan.training.build import make_gan
    from facegan.training.config import TrainConfig

    images = CachedImages(args.cache)
    gan, _ = make_gan(TrainConfig(resolution=64, batch_size=args.batch_size,
                                  base_channels=args.base_channels))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))  # batches drawn from all over the file
    for step in range(args.steps):
        batch = np.sort(order[step * args.batch_size:(step + 1) * args.batch_size])
        real = to_model_input(images[batch], rng)
        z = rng.standard_normal((2, args.batch_size, 100), np.float32)
        gan.train_step(real, z[0], z[1])
    # VmHWM, not getrusage's ru_maxrss: that one keeps the parent's peak across fork and
    # exec, and the parent has just written the cache through a memory map.
    status = Path("/proc/self/status").read_text().split("VmHWM:")[1]
    peak_mb = int(status.split()[0]) / 1024  # kB
    print(json.dumps({"backend": keras.backend.backend(), "images": len(images),
                      "peak_rss_mb": peak_mb}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "torch", "jax"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[2_000, 200_000])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--base-channels", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    results = []
    with tempfile.TemporaryDirectory(prefix="facegan-memory-") as folder:
        for size in args.sizes:
            cache = Path(folder) / f"faces-{size}.npy"
            build_cache(cache, size, 64)
            results.append(common.run_backend(args.backend, __file__, [
                "--cache", cache, "--batch-size", args.batch_size, "--steps", args.steps,
                "--base-channels", args.base_channels]))
            results[-1]["cache_mb"] = cache.stat().st_size / 2**20
            cache.unlink()
    growth = results[-1]["peak_rss_mb"] - results[0]["peak_rss_mb"]
    print(f"{args.backend} 64px batch {args.batch_size}, {args.steps} steps: peak RSS "
          + ", ".join(f"{r['peak_rss_mb']:.0f} MB with {r['images']:,} images "
                      f"({r['cache_mb']:.0f} MB cache)" for r in results)
          + f"; growth {growth:+.0f} MB")
    common.write_json(args.json, {"benchmark": "memory", "results": results,
                                  "growth_mb": growth,
                                  "settings": {k: v for k, v in vars(args).items()
                                               if k not in ("json", "worker", "cache")}})


if __name__ == "__main__":
    main()
