"""When does a GAN start to copy? The same settings and number of steps on 1,000, 7,000 and
44,253 training images, scored along the way (issue 25's data-size figure).

Protocol (`facegan.training.data_size`): the training sets are the first N images of
`--data` in name order; the last `--holdout` images are held out of all of them (the same
faces, the reference for near copies). Every run trains the recommended preset at base
channels 32, batch 64, seed 0, for about `--images` images (whole epochs), scored about
every `--score-every` images on `--samples` samples: face rate, diversity, near copies, the
attribute measures and FID, near copies against its own training images. On 1,000 images D
sees each face 44 times as often as on 44,253: the figure shows what that does. A finished
run is read back, not trained again.

    python benchmarks/data_size.py --data data/celeba-46k --sizes 44253,7000,1000 \\
        --images 480000 --out ~/runs/data_size --precision mixed_bfloat16
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from facegan.data.images import DataError, home_relative  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the images, in name order")
    parser.add_argument("--sizes", default="44253,7000,1000",
                        type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--holdout", type=int, default=2000)
    parser.add_argument("--images", type=int, default=480_000, help="images seen per run")
    parser.add_argument("--score-every", type=int, default=40_000, help="images")
    parser.add_argument("--samples", type=int, default=500, help="generated samples per score")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--out", required=True, help="folder of the run folders")
    parser.add_argument("--json", default="results/data_size.json")
    parser.add_argument("--figure", default="figures/data_size.png")
    args = parser.parse_args()

    from facegan.figures.plots import plot_data_size
    from facegan.training.data_size import train

    protocol = {k: v for k, v in vars(args).items() if k not in ("json", "figure")}
    record = {"protocol": {**protocol, "out": home_relative(args.out)}, "results": {}}
    for size in args.sizes:
        print(f"[{time.strftime('%H:%M:%S')}] training on {size:,} images", flush=True)
        try:
            table = train(args.data, size, args.out, images=args.images,
                          score_every=args.score_every, samples=args.samples,
                          holdout=args.holdout, batch_size=args.batch_size,
                          precision=args.precision)
        except DataError as error:
            raise SystemExit(f"error: {error}")
        record["results"][str(size)] = json.loads(table.to_json(orient="records"))
        common.write_json(args.json, record)
    plot_data_size(record["results"], args.figure, samples=args.samples)
    print(f"wrote {args.json} and {args.figure}")


if __name__ == "__main__":
    main()
