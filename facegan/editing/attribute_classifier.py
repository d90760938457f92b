"""A small CNN that reads CelebA's 40 attributes off a 64x64 face: the instrument behind the
attribute measures (`facegan.metrics.attributes`) and the latent directions
(`facegan.editing.directions`).

Multi-label: one logit per attribute, each trained with its own binary cross-entropy, on the
training split only (the last `holdout` images are kept for the accuracy table). It takes
uint8 faces as stored in the cache and scales them inside the model, so nothing outside it
can scale them differently; faces of any other size are resized to 64 first, as the data
pipeline resizes crops. The penultimate 256-d layer is the feature space of the attribute
Frechet distance.
"""

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from keras import layers
from PIL import Image

from facegan.data.images import load_images, preprocess
from facegan.data.labels import labels_file, load_labels
from facegan.errors import FaceganError, first_line
from facegan.networks import pretrained
from facegan.training.runs import RunDir

RESOLUTION = 64
SHIPPED = "attributes64"
KIND = "attribute_classifier"  # the card's "kind": pretrained.available() lists generators only
log = logging.getLogger("facegan")


@keras.saving.register_keras_serializable(package="facegan")
class AttributeLogits(layers.Dense):
    """The output layer, one logit per attribute, which carries the attributes' names in the
    saved model so that a classifier file says what its outputs mean."""

    def __init__(self, attribute_names, **kwargs):
        super().__init__(len(attribute_names), **kwargs)
        self.attribute_names = list(attribute_names)

    def get_config(self):
        config = super().get_config()
        config.pop("units")
        return {**config, "attribute_names": self.attribute_names}


def build_classifier(names, resolution=RESOLUTION, width=24, feature_dim=256):
    """uint8 face (resolution, resolution, 3) -> one logit per attribute in `names`.

    Four blocks of a 3x3 convolution and a stride-2 3x3 convolution (BatchNorm, ReLU) halve
    the map from 64 to 4 while the channels double from `width`; global average pooling and
    a dense layer give the `feature_dim` features.
    """
    image = keras.Input((resolution, resolution, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(image)  # uint8 -> [-1, 1]
    size, channels = resolution, width
    for block in range(4):
        for stride in (1, 2):
            size //= stride
            x = layers.Conv2D(channels, 3, strides=stride, padding="same", use_bias=False,
                              name=f"conv{block}_{stride}")(x)  # (size, size, channels)
            x = layers.BatchNormalization(name=f"conv{block}_{stride}_bn")(x)
            x = layers.ReLU()(x)
        channels *= 2
    x = layers.GlobalAveragePooling2D()(x)  # (8 * width,)
    features = layers.Dense(feature_dim, activation="relu", name="features")(x)  # (feature_dim,)
    x = layers.Dropout(0.3)(features)
    logits = AttributeLogits(names, dtype="float32", name="logits")(x)  # (len(names),)
    return keras.Model(image, logits, name="attribute_classifier")


def to_classifier_input(images, resolution=RESOLUTION):
    """uint8 (N, R, R, 3) -> uint8 (N, resolution, resolution, 3), resized (antialiased,
    as the data pipeline resizes) when R differs."""
    images = np.asarray(images)
    if images.shape[1:3] == (resolution, resolution):
        return images
    return np.stack([preprocess(Image.fromarray(face), resolution)[0] for face in images])


class AttributeClassifier:
    """A trained classifier: attribute probabilities and penultimate features of faces."""

    def __init__(self, model, name=None):
        self.model, self.name = model, name or model.name
        self.names = tuple(model.get_layer("logits").attribute_names)
        self.resolution = model.input_shape[1]
        self.feature_dim = model.get_layer("features").units
        self._both = keras.Model(model.input,
                                 [model.get_layer("features").output, model.output])

    def __call__(self, images, batch_size=256):
        """uint8 faces (N, R, R, 3) -> (features (N, F) float64, probabilities (N, A))."""
        features, logits = [], []
        for start in range(0, len(images), batch_size):
            batch = to_classifier_input(images[start:start + batch_size], self.resolution)
            f, z = self._both.predict_on_batch(batch)
            features.append(np.asarray(f, np.float64))
            logits.append(np.asarray(z, np.float64))
        if not features:
            return np.zeros((0, self.feature_dim)), np.zeros((0, len(self.names)))
        return np.concatenate(features), 1 / (1 + np.exp(-np.concatenate(logits)))

    def probabilities(self, images):
        return self(images)[1]

    def index(self, name):
        """The column of attribute `name`, or a clear error listing the known ones."""
        if name not in self.names:
            raise FaceganError(f"unknown attribute {name!r}; this classifier knows "
                               f"{', '.join(self.names)}")
        return self.names.index(name)


def load_classifier(spec=f"pretrained:{SHIPPED}"):
    """A classifier from `pretrained:NAME` (shipped) or a `.keras` file's path."""
    spec = str(spec)
    path = (pretrained.PRETRAINED_DIR / f"{spec.split(':', 1)[1]}.keras"
            if spec.startswith("pretrained:") else Path(spec))
    if not path.is_file():
        raise FaceganError(f"attribute classifier not found: {path}; train one with "
                           f"`python -m facegan attributes train`")
    try:  # safe mode: a file that would run its own code on loading is refused
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        return AttributeClassifier(model, path.stem)
    except Exception as error:
        raise FaceganError(f"cannot load an attribute classifier from {path}: "
                           f"{first_line(error)}") from None


# --- training ---------------------------------------------------------------------------------


@dataclass
class ClassifierConfig:
    data: str
    labels: str = None              # attribute file; None: found beside the data
    holdout: int = 1000             # the last N images: never trained on, scored at the end
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 2e-3     # Adam, cosine-decayed to 0 over the run
    width: int = 24
    feature_dim: int = 256
    flip: bool = True
    seed: int = 0
    cache_dir: str = None


class _Batches(keras.utils.PyDataset):
    """Batches of (uint8 faces, float labels) read from the cache; reshuffled every epoch
    when given an `rng`, and a random half mirrored when `flip` (a mirrored face has the
    same attributes)."""

    def __init__(self, images, labels, indices, batch_size, rng=None, flip=False):
        super().__init__()
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.rng, self.flip = rng, flip
        self.indices = np.array(indices)
        self.on_epoch_end()

    def __len__(self):
        return -(-len(self.indices) // self.batch_size)

    def on_epoch_end(self):
        if self.rng is not None:
            self.rng.shuffle(self.indices)

    def __getitem__(self, i):
        rows = np.sort(self.indices[i * self.batch_size:(i + 1) * self.batch_size])
        faces = self.images[rows]
        if self.flip:
            mirror = self.rng.random(len(faces)) < 0.5
            faces[mirror] = faces[mirror, :, ::-1]
        return faces, self.labels[rows].astype(np.float32)


class _EpochLog(keras.callbacks.Callback):
    """history.csv and log.txt rows per epoch, with images/s and wall time."""

    def __init__(self, path, images_per_epoch):
        super().__init__()
        self.path, self.images_per_epoch, self.rows = path, images_per_epoch, []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.epoch_start
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
               "images_per_sec": self.images_per_epoch / seconds,
               "wall_time": time.perf_counter() - self.start}
        self.rows.append(row)
        pd.DataFrame(self.rows).to_csv(self.path, index=False)
        log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                                                      if k != "epoch"))


def accuracy_table(truth, probabilities, names, training_rate):
    """Per attribute on held-out faces: accuracy and balanced accuracy (the mean of the
    true-positive and true-negative rates, 0.5 for any constant guess) beside the majority
    baseline, which always answers the training set's more common class."""
    predicted = probabilities > 0.5
    positives, negatives = truth.sum(0), (~truth).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):  # an attribute nobody has: no TPR
        tpr = (predicted & truth).sum(0) / positives
        tnr = (~predicted & ~truth).sum(0) / negatives
    majority = np.asarray(training_rate) >= 0.5
    return pd.DataFrame({
        "training_rate": training_rate, "held_out_rate": truth.mean(0),
        "accuracy": (predicted == truth).mean(0), "balanced_accuracy": (tpr + tnr) / 2,
        "majority_accuracy": (truth == majority).mean(0), "true_positive_rate": tpr,
        "true_negative_rate": tnr}, index=pd.Index(names, name="attribute"))


def train_classifier(config, out, verbose=1):
    """Train on the training split of `config.data`; write the run folder and return it:
    config.json, log.txt, history.csv, classifier.keras, accuracy.csv (held-out images)."""
    run = RunDir(out)
    if run.config.exists():
        raise FaceganError(f"{run.path} is already a run folder: choose a new --out")
    labels_file(config.data, config.labels)  # before any image is decoded
    images = load_images(config.data, RESOLUTION, cache_dir=config.cache_dir)
    labels = load_labels(config.data, images, config.labels, config.holdout)
    training = np.flatnonzero(~labels.held_out)
    held_out = np.flatnonzero(labels.held_out)
    if len(held_out) == 0:
        raise FaceganError("the accuracy table needs held-out images: pass --holdout N")
    run.path.mkdir(parents=True, exist_ok=True)
    run.attach_log()
    run.write_config(asdict(config))
    keras.utils.set_random_seed(config.seed)
    log.info("training the attribute classifier on %d images, scoring on the last %d "
             "(%d attributes)", len(training), len(held_out), len(labels.names))

    model = build_classifier(labels.names, RESOLUTION, config.width, config.feature_dim)
    rng = np.random.default_rng(config.seed)
    train_batches = _Batches(images, labels.values, training, config.batch_size, rng,
                             config.flip)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=config.epochs * len(train_batches))
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
    model.fit(train_batches, epochs=config.epochs, verbose=verbose,
              validation_data=_Batches(images, labels.values, held_out, 256),
              callbacks=[_EpochLog(run.path / "history.csv", len(training))])
    model.save(run.path / "classifier.keras")

    classifier = AttributeClassifier(model)
    table = accuracy_table(labels.values[held_out], classifier.probabilities(images[held_out]),
                           labels.names, labels.values[training].mean(0))
    table.to_csv(run.path / "accuracy.csv", float_format="%.4f")
    log.info("held-out accuracy %.3f (majority baseline %.3f), balanced accuracy %.3f",
             table.accuracy.mean(), table.majority_accuracy.mean(),
             table.balanced_accuracy.mean())
    return run.path


def summary(table):
    """Means over attributes of the accuracy table (balanced accuracy over the attributes
    that the held-out images have both with and without)."""
    return {"accuracy": float(table.accuracy.mean()),
            "balanced_accuracy": float(table.balanced_accuracy.mean()),
            "majority_accuracy": float(table.majority_accuracy.mean()),
            "majority_balanced_accuracy": 0.5}


def export_classifier(run_dir, name=SHIPPED, extra=None):
    """Ship a trained classifier in pretrained/ with its card: data, split, training, the
    held-out accuracy table, and `extra` (reference values of the measures)."""
    run = RunDir(run_dir)
    model_file = run.path / "classifier.keras"
    if not model_file.is_file():
        raise FaceganError(f"{run.path} has no classifier.keras to export")
    record = json.loads(run.config.read_text())
    history = pd.read_csv(run.path / "history.csv")
    table = pd.read_csv(run.path / "accuracy.csv", index_col=0)
    config = record["config"]
    card = {
        "name": name, "kind": KIND, "resolution": RESOLUTION, "data": config["data"],
        "labels": config["labels"],
        "split": f"trained on all but the last {config['holdout']} images; those are the "
                 "held-out images of the accuracy table",
        "epochs": config["epochs"], "training_time_s": round(float(history.wall_time.max())),
        "images_per_sec": round(float(history.images_per_sec.median()), 1),
        "backend": record["backend"], "versions": record["versions"], "settings": config,
        "held_out": summary(table),
        "per_attribute": table.round(4).to_dict(orient="index"),
        **(extra or {}), "date": time.strftime("%Y-%m-%d"),
    }
    pretrained.PRETRAINED_DIR.mkdir(parents=True, exist_ok=True)
    # loaded uncompiled, it is saved without the optimizer's state: a third of the size
    shipped = pretrained.PRETRAINED_DIR / f"{name}.keras"
    keras.saving.load_model(model_file, compile=False).save(shipped)
    (pretrained.PRETRAINED_DIR / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    return shipped
