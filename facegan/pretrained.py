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


def load(name):
    """The shipped generator `name` as a Keras model."""
    from facegan.sampling import load_generator

    return load_generator(path(name))
