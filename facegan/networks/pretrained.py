"""Generators shipped with the project, loaded by name ("celeba64", "celeba128").

Each is `pretrained/NAME.keras` (float16 weights where that keeps it small) with a card
`pretrained/NAME.json`: data, resolution, epochs, images seen, backend, settings, metrics.
A checkout keeps them in `pretrained/` beside the package; a wheel (`pip install .` or
`pip install git+URL`) carries them inside it, as `facegan/shipped/`.
"""

import json
import os
from pathlib import Path

from facegan import REPOSITORY
from facegan.errors import FaceganError


def _shipped_dir():
    """$FACEGAN_PRETRAINED, else the copy inside an installed wheel, else the checkout's."""
    if "FACEGAN_PRETRAINED" in os.environ:
        return Path(os.environ["FACEGAN_PRETRAINED"])
    installed = Path(__file__).resolve().parents[1] / "shipped"
    checkout = Path(__file__).resolve().parents[2] / "pretrained"
    return installed if installed.is_dir() else checkout


PRETRAINED_DIR = _shipped_dir()


def available():
    """Names of the shipped generators present on disk (not the attribute classifier, whose
    card says `"kind": "attribute_classifier"`)."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.keras")
                  if card(p.stem).get("kind") != "attribute_classifier")


def card(name):
    """The JSON card that describes how generator `name` was trained and how it scores."""
    path = PRETRAINED_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def path(name):
    file = PRETRAINED_DIR / f"{name}.keras"
    if not file.is_file():
        raise FaceganError(
            f"no shipped generator named {name!r} in {PRETRAINED_DIR} (have: "
            f"{', '.join(available()) or 'none'}); install facegan with them (pip install "
            f"git+{REPOSITORY}), set $FACEGAN_PRETRAINED to a folder of NAME.keras files, "
            f"or train one with `python -m facegan train`")
    return file


def export(run_dir, name, metrics=None, epoch=None):
    """Ship a finished run's sampling generator (its weight average when it keeps one), or
    any run's snapshot of `epoch`, in the shipped folder, computing in float32, with its card."""
    import time

    from facegan.atomic import atomic_write_text
    from facegan.networks.sampling import load_generator
    from facegan.training.runs import RunDir, save_model

    run = RunDir(run_dir)
    shipped = run.sampling_snapshot(epoch) if epoch else run.sampling_generator
    if not shipped.is_file():
        raise FaceganError(f"{run.path} has no final {shipped.name} to export")
    record = json.loads(run.config.read_text())
    history = run.read_history()
    run_epochs = int(history["epoch"].max())
    history = history[history["epoch"] <= (epoch or run_epochs)]
    # The data by its file name: the run's absolute path is this machine's, not the reader's.
    config = {**record["config"], "data": Path(record["config"]["data"]).name}
    card = {
        "name": name,
        "data": config["data"],
        "resolution": config["resolution"],
        "weights": shipped.name,
        "run_epochs": run_epochs,
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
    save_model(load_generator(shipped), PRETRAINED_DIR / f"{name}.keras")
    atomic_write_text(PRETRAINED_DIR / f"{name}.json", json.dumps(card, indent=2) + "\n")
    return PRETRAINED_DIR / f"{name}.keras"


def load(name):
    """The shipped generator `name` as a Keras model."""
    from facegan.networks.sampling import load_generator

    return load_generator(path(name))


def load_named_or_file(spec):
    """A generator from `pretrained:NAME` (shipped) or from a .keras file's path."""
    from facegan.networks.sampling import load_generator

    spec = str(spec)
    return load(spec.split(":", 1)[1]) if spec.startswith("pretrained:") else load_generator(spec)
