"""The tutorial's pipeline, as it was written, in the Keras 2 API (tf_keras): the benchmarks' reference.

Kept faithful on purpose, slow parts included, so that ratios against it mean something:

- loading: ``cv2.imread`` and ``cv2.resize`` (bilinear, on the full-size image) one image after
  another, ``img_to_array`` into a Python list, then ``np.array(data, dtype="float") / 255.0``:
  a float64 array, eight bytes a channel;
- labels: folder names split on ``_``, `MultiLabelBinarizer`;
- split: ``train_test_split(test_size=0.2, random_state=42)`` after the tutorial's seeded shuffle;
- training: the same SmallerVGGNet in Keras 2 layers (BatchNormalization momentum 0.99, as the
  tutorial had it), ``ImageDataGenerator`` augmentation (rotation 25, shifts 0.1, shear 0.2,
  zoom 0.2, horizontal flip, nearest fill), legacy Adam(1e-3, decay=1e-3/epochs), batch 32,
  binary cross-entropy, ``steps_per_epoch = len(trainX) // 32``;
- classification (`classify`): the tutorial's classify.py for one image, a model saved as HDF5
  (`save_untrained`) loaded with ``load_model``, the binarizer with plain ``pickle``.

Benchmark-only: it imports tf_keras, which `make bench` installs into bench/.deps, and nothing in
``pyimagesearch`` imports it. Differences from the tutorial: the paths come from the caller
(benchmarks pass the toolkit's own listing, so both sides load the same files; the tutorial's
imutils listing misses .gif), and seeds are set for repeatable runs.

Usage:
    python bench/reference_tutorial.py --dataset ../shared/data/fashion --epochs 3
"""

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FASHION_DIR, setup_paths  # noqa: E402

setup_paths()

# As in the tutorial, at the top: importing tf_keras imports TensorFlow (seconds), which is
# therefore never inside a timed loading call.
from tf_keras.preprocessing.image import img_to_array  # noqa: E402

# The tutorial's constants.
EPOCHS = 75
INIT_LR = 1e-3
BS = 32
IMAGE_DIMS = (96, 96, 3)
SEED = 42


def list_image_paths(dataset: str | os.PathLike, seed: int = SEED) -> list[str]:
    """The tutorial's listing: imutils' image paths, sorted, then shuffled with ``random.seed(42)``."""
    from imutils import paths

    image_paths = sorted(list(paths.list_images(str(dataset))))
    random.seed(seed)
    random.shuffle(image_paths)
    return image_paths


def load(image_paths: Sequence[str | os.PathLike], image_size: int = IMAGE_DIMS[0]) -> tuple[np.ndarray, list[list[str]]]:
    """The tutorial's loading loop: serial decode and resize, a list, then one float64 array in [0, 1].

    Returns:
        ``(data, labels)``: float64 array of shape (N, image_size, image_size, 3), BGR as OpenCV
        decodes, and each image's labels from its folder name.
    """
    data, labels = [], []
    for image_path in image_paths:
        image_path = str(image_path)
        image = cv2.imread(image_path)
        image = cv2.resize(image, (image_size, image_size))
        image = img_to_array(image)
        data.append(image)
        labels.append(image_path.split(os.path.sep)[-2].split("_"))
    data = np.array(data, dtype="float") / 255.0
    return data, labels


def build_smaller_vggnet(width: int, height: int, depth: int, classes: int, final_activation: str = "softmax"):
    """The tutorial's SmallerVGGNet, layer for layer, in Keras 2 (tf_keras)."""
    from tf_keras.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from tf_keras.models import Sequential

    model = Sequential()
    input_shape = (height, width, depth)
    channel_axis = -1
    model.add(Conv2D(32, (3, 3), padding="same", input_shape=input_shape))
    model.add(Activation("relu"))
    model.add(BatchNormalization(axis=channel_axis))
    model.add(MaxPooling2D(pool_size=(3, 3)))
    model.add(Dropout(0.25))
    for filters in (64, 128):
        model.add(Conv2D(filters, (3, 3), padding="same"))
        model.add(Activation("relu"))
        model.add(BatchNormalization(axis=channel_axis))
        model.add(Conv2D(filters, (3, 3), padding="same"))
        model.add(Activation("relu"))
        model.add(BatchNormalization(axis=channel_axis))
        model.add(MaxPooling2D(pool_size=(2, 2)))
        model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(1024))
    model.add(Activation("relu"))
    model.add(BatchNormalization())
    model.add(Dropout(0.5))
    model.add(Dense(classes))
    model.add(Activation(final_activation))
    return model


def exact_match(probabilities: np.ndarray, targets: np.ndarray, threshold: float = 0.5) -> float:
    """Share of images whose every label is right at ``threshold``."""
    return float(np.mean(np.all((probabilities >= threshold) == (targets >= 0.5), axis=1)))


def train(
    data: np.ndarray,
    labels: Sequence[Sequence[str]],
    epochs: int = EPOCHS,
    batch_size: int = BS,
    learning_rate: float = INIT_LR,
    seed: int = SEED,
    track_exact_match: bool = True,
) -> dict:
    """The tutorial's training, timed per epoch.

    Args:
        data: float64 images in [0, 1], as `load` returns them.
        labels: Each image's labels.
        epochs: Passes over the training set. Defaults to the tutorial's 75.
        batch_size: Defaults to the tutorial's 32.
        learning_rate: Adam's initial rate; the decay is ``learning_rate / epochs`` as in the tutorial.
        seed: Seeds Python, numpy and TensorFlow, and the augmentation's shuffling.
        track_exact_match: Also compute the validation exact-match after each epoch, outside
            the epoch's timing (a prediction pass over the validation set).

    Returns:
        A dict: ``epochs`` (per epoch: ``seconds`` wall time including Keras' validation pass,
        ``train_seconds`` up to that pass, ``loss``, ``val_loss``, ``val_binary_accuracy``, and
        ``val_exact_match`` when tracked, ``elapsed`` since training started), ``train_images``
        per epoch, ``images_per_second`` and ``images_per_second_with_validation`` over the
        steady-state epochs (all but the first; the first when there is only one),
        ``val_exact_match`` at the end, ``classes``, ``train_count``, ``val_count``.
    """
    import tensorflow as tf
    import tf_keras
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MultiLabelBinarizer
    from tf_keras.optimizers.legacy import Adam
    from tf_keras.preprocessing.image import ImageDataGenerator

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1. Received: {epochs}")
    tf_keras.utils.set_random_seed(seed)
    mlb = MultiLabelBinarizer()
    targets = mlb.fit_transform(labels)
    train_x, test_x, train_y, test_y = train_test_split(data, targets, test_size=0.2, random_state=42)
    augmentation = ImageDataGenerator(
        rotation_range=25,
        width_shift_range=0.1,
        height_shift_range=0.1,
        shear_range=0.2,
        zoom_range=0.2,
        horizontal_flip=True,
        fill_mode="nearest",
    )
    height, width, depth = data.shape[1:]
    model = build_smaller_vggnet(width, height, depth, classes=len(mlb.classes_), final_activation="sigmoid")
    # tf_keras 2.21 spells the tutorial's Adam(lr=..., decay=...) as the legacy optimizer.
    optimizer = Adam(learning_rate=learning_rate, decay=learning_rate / epochs)
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])

    records: list[dict] = []

    class EpochTimer(tf_keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()
            self.validation_start = None

        def on_test_begin(self, logs=None):
            if self.validation_start is None:
                self.validation_start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            end = time.perf_counter()
            logs = logs or {}
            records.append(
                {
                    "epoch": epoch + 1,
                    "seconds": end - self.epoch_start,
                    "train_seconds": (self.validation_start or end) - self.epoch_start,
                    "elapsed": end - self.start,
                    "loss": float(logs.get("loss", float("nan"))),
                    "val_loss": float(logs.get("val_loss", float("nan"))),
                    "val_binary_accuracy": float(logs.get("val_accuracy", float("nan"))),
                }
            )

    class ExactMatch(tf_keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            probabilities = self.model.predict(test_x, batch_size=batch_size, verbose=0)
            records[-1]["val_exact_match"] = exact_match(probabilities, test_y)

    callbacks = [EpochTimer()] + ([ExactMatch()] if track_exact_match else [])
    steps_per_epoch = len(train_x) // batch_size
    model.fit(
        augmentation.flow(train_x, train_y, batch_size=batch_size, seed=seed),
        validation_data=(test_x, test_y),
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        callbacks=callbacks,
        verbose=0,
    )
    probabilities = model.predict(test_x, batch_size=batch_size, verbose=0)
    steady = records[1:] or records
    train_images = steps_per_epoch * batch_size
    return {
        "epochs": records,
        "train_images": train_images,
        "images_per_second": train_images * len(steady) / sum(record["train_seconds"] for record in steady),
        "images_per_second_with_validation": train_images * len(steady) / sum(record["seconds"] for record in steady),
        "val_exact_match": exact_match(probabilities, test_y),
        "classes": [str(label) for label in mlb.classes_],
        "train_count": len(train_x),
        "val_count": len(test_x),
        "tensorflow": tf.__version__,
        "tf_keras": tf_keras.__version__,
    }


def save_untrained(model_path: str | os.PathLike, classes: int, image_size: int = IMAGE_DIMS[0]) -> None:
    """Save an untrained multi-label SmallerVGGNet as the tutorial saves its model (HDF5), for timing `classify`."""
    model = build_smaller_vggnet(image_size, image_size, 3, classes=classes, final_activation="sigmoid")
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.save(str(model_path), save_format="h5")


def classify(
    model_path: str | os.PathLike,
    labelbin_path: str | os.PathLike,
    image_path: str | os.PathLike,
    output_path: str | os.PathLike,
    image_size: int = IMAGE_DIMS[0],
) -> dict[str, float]:
    """The tutorial's classify.py for one image: resize from full size, scale to [0, 1], load the model
    and the pickled binarizer, predict, write the two most probable labels on a 400-pixel-wide copy.

    Returns:
        Each label's probability.
    """
    import pickle

    import imutils
    from tf_keras.models import load_model

    image = cv2.imread(str(image_path))
    output = imutils.resize(image, width=400)
    image = cv2.resize(image, (image_size, image_size))
    image = image.astype("float") / 255.0
    image = img_to_array(image)
    image = np.expand_dims(image, axis=0)
    model = load_model(str(model_path))
    mlb = pickle.loads(Path(labelbin_path).read_bytes())  # The tutorial's unrestricted unpickling.
    proba = model.predict(image, verbose=0)[0]
    for row, index in enumerate(np.argsort(proba)[::-1][:2]):
        label = f"{mlb.classes_[index]}: {proba[index] * 100:.2f}%"
        cv2.putText(output, label, (10, (row * 30) + 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 0), 2)
    cv2.imwrite(str(output_path), output)
    return {str(label): float(probability) for label, probability in zip(mlb.classes_, proba)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="The tutorial's pipeline (tf_keras): load, train, print JSON.")
    parser.add_argument("--dataset", default=str(FASHION_DIR), help="folder of label folders (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs to train, 0 to only load (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=IMAGE_DIMS[0], help="side in pixels (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    image_paths = list_image_paths(args.dataset)
    start = time.perf_counter()
    data, labels = load(image_paths, args.image_size)
    result = {"images": len(data), "load_seconds": time.perf_counter() - start}
    if args.epochs > 0:
        result.update(train(data, labels, epochs=args.epochs))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
