"""Generators shipped with the project, loaded by name ("celeba64", "celeba128").

Each is `pretrained/NAME.keras` (float16 weights where that keeps it small) with a card
`pretrained/NAME.json`: data, resolution, epochs, images seen, backend, settings, metrics.
"""

import json
import os
from pathlib import Path

from facegan.errors import FaceganError

PRETRAINED_DIR = Path(os.environ.get("FACEGAN_PRETRAINED",
                                     Path(__file__).resolve().parent.parent / "pretrained"))


def available():
    """Names of the shipped generators present on disk."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.keras"))


def card(name):
    """The JSON card that describes how generator `name` was trained and how it scores."""
    path = PRETRAINED_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def path(name):
    file = PRETRAINED_DIR / f"{name}.keras"
    if not file.is_file():
        raise FaceganError(
            f"no shipped generator named {name!r} in {PRETRAINED_DIR} (have: "
            f"{', '.join(available()) or 'none'}); train one with `python -m facegan train`")
    return file


def export(run_dir, name, metrics=None):
    """Copy a finished run's generator into the shipped folder with its card."""
    import shutil
    import time

    from facegan.runs import RunDir

    run = RunDir(run_dir)
    if not run.generator.is_file():
        raise FaceganError(f"{run.path} has no final generator.keras to export")
    record = json.loads(run.config.read_text())
    history = run.read_history()
    config = record["config"]
    card = {
        "name": name,
        "data": config["data"],
        "resolution": config["resolution"],
        "epochs": int(history["epoch"].max()),
        "steps": int(history["step"].max()),
        "images_seen": int(history["step"].max()) * config["batch_size"],
        "training_time_s": round(float(history["wall_time"].max())),
        "images_per_sec": round(float(history["images_per_sec"].median()), 1),
        "backend": record["backend"],
        "versions": record["versions"],
        "settings": config,
        "metrics": metrics or {},
        "date": time.strftime("%Y-%m-%d"),
    }
    PRETRAINED_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run.generator, PRETRAINED_DIR / f"{name}.keras")
    (PRETRAINED_DIR / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    return PRETRAINED_DIR / f"{name}.keras"


def load(name):
    """The shipped generator `name` as a Keras model."""
    from facegan.sampling import load_generator

    return load_generator(path(name))


def load_named_or_file(spec):
    """A generator from `pretrained:NAME` (shipped) or from a .keras file's path."""
    from facegan.sampling import load_generator

    spec = str(spec)
    return load(spec.split(":", 1)[1]) if spec.startswith("pretrained:") else load_generator(spec)
