"""Faces per second of the generator at inference (training=False), per backend and batch
size, after warm-up, through `facegan.networks.sampling.generate` (latents to uint8 faces): the cost
of serving faces in the app and `facegan generate`. generate returns NumPy faces, so a timed
batch includes waiting for the GPU and the copy back; batches above 256 go through in 256s,
as they do there.

    python benchmarks/generate_throughput.py --backends tensorflow torch --json results/generate.json
    python benchmarks/generate_throughput.py --backends torch jax --batch-sizes 1 64 1024  # GPU
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def worker(args):
    import keras
    import numpy as np

    from facegan.networks.dcgan import build_generator
    from facegan.networks.sampling import generate

    results = []
    for resolution in args.resolutions:
        generator = build_generator(resolution, 100, args.base_channels)
        for batch_size in args.batch_sizes:
            z = np.random.default_rng(0).standard_normal((batch_size, 100)).astype("float32")
            seconds = common.median_seconds(lambda: generate(generator, z), args.warmup, args.steps)
            results.append({"backend": keras.backend.backend(), "resolution": resolution,
                            "batch_size": batch_size, "seconds_per_batch": seconds,
                            "faces_per_sec": batch_size / seconds})
    print(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=common.installed_backends(),
                        choices=["tensorflow", "torch", "jax"])
    parser.add_argument("--resolutions", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--base-channels", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    flags = ["--resolutions", *args.resolutions, "--batch-sizes", *args.batch_sizes,
             "--base-channels", args.base_channels, "--steps", args.steps, "--warmup", args.warmup]
    results = []
    for backend in args.backends:
        rows = common.run_backend(backend, __file__, flags)
        print(" | ".join(f"{r['backend']} {r['resolution']}px batch {r['batch_size']}: "
                         f"{r['faces_per_sec']:.1f} faces/s" for r in rows), flush=True)
        results += rows
    common.write_json(args.json, {"benchmark": "generate_throughput", "results": results,
                                  "settings": {"base_channels": args.base_channels, "steps": args.steps}})


if __name__ == "__main__":
    main()
