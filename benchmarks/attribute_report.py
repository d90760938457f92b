"""Issue 12's numbers and figures: what the shipped generators learned and dropped, read by
the shipped attribute classifier, and how well their latent directions edit faces.

- the attribute Frechet distance and coverage of held-out real faces against training faces
  (the floor), of the same faces blurred and noised (what "worse" looks like), and of each
  shipped generator's samples;
- the coverage chart, both generators beside real faces;
- per generator, the direction measurement: the target's mean probability change against
  the others' mean absolute change, for a step of `--strength` along each direction, and
  along Eyeglasses and Blond_Hair with Male kept (`directions.conditional`);
- per generator, editing grids (Smiling, Eyeglasses, Eyeglasses keeping Male), the vector
  arithmetic figure, and the arithmetic's outcome for 3 and 10 faces per group over seeds
  0 and 1.

Needs the classifier and the generators' directions shipped first (docs/attributes.md):

    python benchmarks/attribute_report.py --data ../shared/data/celeba-8k.zip \
        --labels ../shared/data/list_attr_celeba.txt --json results/attributes.json

Every image in the figures is generated; no dataset pixel is written.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

ATTRIBUTES = ("Smiling", "Male", "Young", "Eyeglasses", "Blond_Hair")
KEPT = (("Eyeglasses", "Blond_Hair"), ("Male",))  # measured again with Male kept
EDITS = (("Smiling", ()), ("Eyeglasses", ()), ("Eyeglasses", ("Male",)))  # editing figures
BLUR_SIGMAS = (1.0, 2.0)  # pixels at 64x64
NOISE_STDS = (8.0, 16.0)  # grey levels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--labels")
    parser.add_argument("--holdout", type=int, default=1000)
    parser.add_argument("--generators", nargs="+", default=["celeba64", "celeba128"])
    parser.add_argument("--n", type=int, default=2000, help="samples per generator")
    parser.add_argument("--measure-n", type=int, default=500, help="faces per direction")
    parser.add_argument("--strength", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("results/attributes.json"))
    parser.add_argument("--figures", type=Path, default=Path("figures"))
    parser.add_argument("--card", type=Path, help="also add the reference values to this card")
    args = parser.parse_args()

    import keras

    from facegan.data.images import load_images
    from facegan.data.labels import load_labels
    from facegan.editing import directions as D
    from facegan.editing.attribute_classifier import RESOLUTION, load_classifier
    from facegan.figures.directions import (direction_table, measure, plot_edit,
                                            plot_vector_arithmetic)
    from facegan.metrics import attributes as AM
    from facegan.networks import pretrained
    from facegan.networks.sampling import generate, latents

    start = time.perf_counter()
    classifier = load_classifier()
    images = load_images(args.data, RESOLUTION)
    labels = load_labels(args.data, images, args.labels, args.holdout)
    train_count = len(images) - args.holdout
    # the Evaluator's real side: min(n, training images) of them, chosen with the seed
    reference = np.random.default_rng(args.seed).choice(train_count, min(args.n, train_count),
                                                        replace=False)
    real = AM.measure((images[reference[i:i + 500]] for i in range(0, len(reference), 500)),
                      classifier)
    held_out = images[np.arange(train_count, len(images))]

    def scores(stats):
        coverage = AM.coverage_result(stats, real)
        return {"attribute_fd": AM.fd_result(stats, real)["value"],
                "attribute_coverage": coverage["value"], "n": stats.n, "n_real": real.n,
                "dropped": coverage["dropped"], "largest": coverage["largest"],
                "frequencies": coverage["generated"]}

    rows = {"held-out real faces (floor)": scores(AM.measure([held_out], classifier))}
    charted = {}  # the coverage chart's sets beside the real faces
    for sigma in BLUR_SIGMAS:
        blurred = AM.measure([AM.blurred(held_out, sigma)], classifier)
        rows[f"held-out, blurred sigma {sigma:g} px"] = scores(blurred)
        if sigma == BLUR_SIGMAS[0]:
            charted[f"real held-out, blurred (sigma {sigma:g} px)"] = blurred.frequencies()
    for std in NOISE_STDS:
        rows[f"held-out, noise std {std:g}"] = scores(
            AM.measure([AM.noised(held_out, std, args.seed)], classifier))
    print_rows(rows)

    measured = {}
    for name in args.generators:
        generator = pretrained.load(name)
        z = latents(args.n, generator.input_shape[-1], args.seed)
        samples = AM.measure((generate(generator, z[i:i + 250]) for i in range(0, args.n, 250)),
                             classifier)
        rows[f"{name} ({args.n} samples)"] = scores(samples)
        small = AM.measure([generate(generator, z[:len(held_out)])], classifier)
        rows[f"{name} ({len(held_out)} samples, as many as held out)"] = scores(small)
        charted[name] = samples.frequencies()
        directions = D.Directions.load(D.shipped_path(name))
        table = measure(generator, classifier, directions, ATTRIBUTES, args.measure_n,
                        args.strength, args.seed + 1)
        held = measure(generator, classifier, directions, KEPT[0], args.measure_n,
                       args.strength, args.seed + 1, keep=KEPT[1])
        table = pd.concat([table.iloc[:-1], held.iloc[:-1], table.iloc[-1:]])
        fit = direction_table(directions).linear_balanced_accuracy
        table.insert(0, "linear_balanced_accuracy", [fit.get(a.split(",")[0], np.nan)
                                                     for a in table.index])
        measured[name] = table
        print(f"\n{name}: directions ({directions.samples} samples), strength {args.strength}")
        print(table.round(3).to_string())
    print_rows(rows)

    args.figures.mkdir(parents=True, exist_ok=True)
    AM.plot_coverage(charted, real.frequencies(), classifier.names,
                     args.figures / "attribute_coverage.png",
                     title=f"Attribute coverage: {args.n} generated faces per generator beside "
                           f"{real.n} real")
    arithmetic = {}
    for name in args.generators:
        generator = pretrained.load(name)
        directions = D.Directions.load(D.shipped_path(name))
        for attribute, keep in EDITS:
            faces, strengths = D.edit(generator, latents(4, generator.input_shape[-1], args.seed),
                                      D.conditional(directions, attribute, keep), 3.0, 7)
            p = classifier.probabilities(faces.reshape(-1, *faces.shape[2:]))
            kept = "".join(f"_keep_{k.lower()}" for k in keep)
            plot_edit(faces, strengths, attribute,
                      p[:, classifier.index(attribute)].reshape(4, 7),
                      args.figures / f"{name}_edit_{attribute.lower()}{kept}.png",
                      title=f"{name}: moving 4 faces along {attribute}"
                            + (f", keeping {', '.join(keep)}" if keep else ""))
        arithmetic[name] = []
        for per_group in (3, 10):
            for seed in (args.seed, args.seed + 1):
                outcome = D.vector_arithmetic(generator, classifier, per_group=per_group, seed=seed)
                if (per_group, seed) == (3, args.seed):
                    plot_vector_arithmetic(
                        outcome, path=args.figures / f"{name}_vector_arithmetic.png")
                arithmetic[name].append({"per_group": per_group, "seed": seed, **{
                    k: outcome[k] for k in ("group_probabilities", "result_probabilities")}})
                print(f"{name} arithmetic, {per_group} per group, seed {seed}: result "
                      f"{outcome['result_probabilities']}")

    record = {
        "classifier": "pretrained/attributes64.keras", "data": args.data,
        "holdout": args.holdout, "n": args.n, "seed": args.seed,
        "backend": keras.backend.backend(), "measures": rows,
        "real_frequencies": dict(zip(classifier.names, real.frequencies().round(4).tolist())),
        "label_frequencies_held_out": dict(zip(
            labels.names, labels.values[labels.held_out].mean(0).round(4).tolist())),
        "directions": {name: {"strength": args.strength, "faces": args.measure_n,
                              "table": json.loads(t.to_json(orient="index"))}
                       for name, t in measured.items()},
        "vector_arithmetic": arithmetic,
        "seconds": round(time.perf_counter() - start),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.json}")
    if args.card:
        card = json.loads(args.card.read_text())
        card["reference"] = {
            "setup": f"{args.n} generated or up to {args.n} random training faces (seed "
                     f"{args.seed}); held-out = the last {args.holdout} images",
            **{label: {k: row[k] for k in ("attribute_fd", "attribute_coverage", "n", "n_real")}
               for label, row in rows.items()}}
        card["real_frequencies"] = record["real_frequencies"]
        args.card.write_text(json.dumps(card, indent=2) + "\n")
        print(f"added the reference values to {args.card}")


def print_rows(rows):
    print(f"\n{'images':58s} {'attribute FD':>12s} {'coverage':>9s}  dropped")
    for label, row in rows.items():
        print(f"{label:58s} {row['attribute_fd']:12.3f} {row['attribute_coverage']:9.4f}  "
              f"{', '.join(row['dropped']) or '-'}")


if __name__ == "__main__":
    main()
