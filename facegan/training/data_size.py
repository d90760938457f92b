"""When does a GAN start to copy? The same training on the first N images of one data set,
for several N, scored along the way (`benchmarks/data_size.py`, notebook 06).

Each training set is a folder of links to the first N images of the data in name order plus
its last `holdout` images, which every set holds out: the same faces are the reference for
near copies in every run. Runs take the same settings and about the same number of images
(whole epochs, scored every whole number of epochs), so on 1,000 images D sees each face 44
times as often as on 44,000.
"""

from pathlib import Path

from facegan.data.images import DataError, list_images


def training_set(data, size, holdout, out):
    """A folder of links under `out/sets`: the first `size` images of `data` and its last
    `holdout`. Made once (through a partial folder), then reused."""
    names = list_images(data)
    if size + holdout > len(names):
        raise DataError(f"{data} has {len(names)} images: too few for {size} + {holdout} held out")
    folder = Path(out) / "sets" / f"{size}"
    if not folder.exists():
        partial = folder.with_suffix(".partial")
        partial.mkdir(parents=True, exist_ok=True)
        for name in names[:size] + names[-holdout:]:
            link = partial / name.replace("/", "_")
            if not link.exists():
                link.symlink_to(Path(data).resolve() / name)
        partial.rename(folder)
    return folder


def schedule(size, batch_size, images, score_every):
    """(epochs, eval_every): whole epochs of `size` images that come closest to `images`, in
    a whole number of scoring intervals of about `score_every` images."""
    epoch = (size // batch_size) * batch_size
    every = max(1, round(score_every / epoch))
    return every * max(1, round(images / epoch / every)), every


def train(data, size, out, images=480_000, score_every=40_000, samples=500, holdout=2000,
          batch_size=64, base_channels=32, precision="float32", seed=0, verbose=0):
    """Train (or resume) `out/n{size}`, the recommended preset on the first `size` images;
    return its metrics table with an `images_seen` column."""
    from facegan.training.config import TrainConfig
    from facegan.training.loop import Trainer
    from facegan.training.presets import PRESETS

    folder = Path(out) / f"n{size}"
    epochs, every = schedule(size, batch_size, images, score_every)
    config = None if (folder / "config.json").exists() else TrainConfig(
        data=str(training_set(data, size, holdout, out)), resolution=64, epochs=epochs,
        batch_size=batch_size, base_channels=base_channels, **PRESETS["recommended"],
        precision=precision, holdout=holdout, seed=seed, eval_every=every,
        eval_samples=samples, snapshot_every=every, checkpoint_every=1000)
    trainer = Trainer(folder, config)
    trainer.fit(verbose=verbose)
    table = trainer.run.read_metrics()
    table["images_seen"] = table["step"] * trainer.config.batch_size
    return table
