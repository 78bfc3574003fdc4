"""Training a classifier on a labelled image folder and writing the tutorial's three outputs."""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.data import build_augmentation, describe, load_labelled_images, make_dataset, split_indices
from pyimagesearch.evaluation import evaluate_predictions, format_report
from pyimagesearch.labels import fit_binarizer, resolve_task
from pyimagesearch.model_io import save_labelbin, save_model
from pyimagesearch.plotting import plot_history
from pyimagesearch.smallervggnet import SmallerVGGNet
from pyimagesearch.tasks import Task, get_task

logger = logging.getLogger(__name__)

# Three poolings (3, 2, 2) must leave at least one pixel.
MIN_IMAGE_SIZE = 16


@dataclass
class TrainingResult:
    """What a training run produced: the model, its labels and how well it did on validation."""

    model: keras.Model
    binarizer: Any
    task: Task
    history: dict[str, list[float]]
    report: dict[str, Any]
    metadata: dict[str, Any]


def learning_rate_schedule(name: str, learning_rate: float, epochs: int, steps_per_epoch: int):
    """The learning rate over training steps.

    ``"tutorial"`` reproduces Keras 2's ``Adam(decay=lr / epochs)``: lr / (1 + decay * step).
    ``"cosine"`` decays from ``learning_rate`` to zero over all steps.

    Raises:
        ValueError: For an unknown name.
    """
    if name == "tutorial":
        return keras.optimizers.schedules.InverseTimeDecay(learning_rate, decay_steps=1, decay_rate=learning_rate / epochs)
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, epochs * steps_per_epoch))
    raise ValueError(f"Unknown schedule: expected one of {', '.join(config.SCHEDULES)}. Received: --schedule {name}")


def build_classifier(task: Task, num_labels: int, image_size: int, optimizer: keras.optimizers.Optimizer) -> keras.Model:
    """SmallerVGGNet with the head, loss and metrics of ``task``, compiled.

    The model takes RGB images with values 0-255 and rescales them itself, so classification
    cannot preprocess differently from training.
    """
    model = SmallerVGGNet.build(
        width=image_size,
        height=image_size,
        depth=3,
        classes=task.output_units(num_labels),
        finalAct=task.activation,
        preprocessing=[keras.layers.Rescaling(1.0 / 255, name="rescale_to_unit")],
    )
    model.compile(optimizer=optimizer, loss=task.loss, metrics=task.metrics())
    return model


def _check_arguments(epochs: int, learning_rate: float, batch_size: int, image_size: int) -> None:
    if epochs < 1:
        raise ValueError(f"--epochs must be at least 1. Received: {epochs}")
    if not learning_rate > 0:
        raise ValueError(f"--lr must be positive, e.g. 1e-3. Received: {learning_rate}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1. Received: {batch_size}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"--image-size must be at least {MIN_IMAGE_SIZE} pixels. Received: {image_size}")


def _check_outputs(**paths: str | os.PathLike) -> None:
    # Fail before training, not after an hour of it.
    for flag, path in paths.items():
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"--{flag} {path} is an existing folder: give a file name.")
        if not path.parent.exists():
            raise ValueError(f"--{flag} {path}: the folder {path.parent} does not exist; create it first.")
    if len({Path(path).resolve() for path in paths.values()}) < len(paths):
        raise ValueError(f"Output files must differ. Received: {', '.join(f'--{k} {v}' for k, v in paths.items())}")


def train(
    dataset_dir: str | os.PathLike,
    *,
    model_path: str | os.PathLike = config.MODEL_PATH,
    labelbin_path: str | os.PathLike = config.LABELBIN_PATH,
    plot_path: str | os.PathLike = config.PLOT_PATH,
    epochs: int = config.EPOCHS,
    learning_rate: float = config.LEARNING_RATE,
    batch_size: int = config.BATCH_SIZE,
    image_size: int = config.IMAGE_SIZE,
    val_split: float = config.VAL_SPLIT,
    seed: int = config.SEED,
    label_sep: str = config.LABEL_SEP,
    task: str = "auto",
    schedule: str = config.SCHEDULE,
    progress: Callable | None = None,
    verbose: int | str = "auto",
) -> TrainingResult:
    """Train SmallerVGGNet on the images under ``dataset_dir`` and write model, labelbin and plot.

    Args:
        dataset_dir: Folder with one sub-folder per label set, e.g. ``dataset/red_dress/``.
        model_path: Model file to write (any name). Defaults to ``fashion.model``.
        labelbin_path: Pickled `MultiLabelBinarizer` to write. Defaults to ``mlb.pickle``.
        plot_path: Training curves to write. Defaults to ``plot.png``.
        epochs: Passes over the training set. Defaults to 75.
        learning_rate: Adam's initial learning rate. Defaults to 1e-3.
        batch_size: Images per step. Defaults to 32.
        image_size: Side of the square network input. Defaults to 96.
        val_split: Share of images held out for validation. Defaults to 0.2.
        seed: Seed of the split, weights, shuffling and augmentation. Defaults to 42.
        label_sep: Separator of labels in folder names. Defaults to ``"_"``.
        task: ``auto``, ``multilabel``, ``multiclass`` or ``binary``. Defaults to ``auto``.
        schedule: Learning-rate schedule, ``cosine`` or ``tutorial``. Defaults to ``cosine``.
        progress: Optional iterable wrapper (e.g. ``tqdm``) showing image loading.
        verbose: Keras' ``fit`` verbosity. Defaults to ``"auto"``.

    Returns:
        A `TrainingResult`; the three files are written atomically once training has finished.

    Raises:
        ValueError: For bad arguments, unusable data, or a task the labels contradict.
    """
    _check_arguments(epochs, learning_rate, batch_size, image_size)
    _check_outputs(model=model_path, labelbin=labelbin_path, plot=plot_path)
    learning_rate_schedule(schedule, learning_rate, epochs, steps_per_epoch=1)  # refuse a bad name before loading
    keras.utils.set_random_seed(seed)

    data = load_labelled_images(dataset_dir, image_size, label_sep=label_sep, progress=progress)
    task_spec = get_task(resolve_task(data.label_sets, task))
    train_index, val_index = split_indices(data.label_sets, val_split, seed)
    for line in describe(data):
        logger.info(line)
    logger.info("task: %s (%s head, %s)", task_spec.name, task_spec.activation, task_spec.loss)
    logger.info("split: %d training, %d validation images", len(train_index), len(val_index))

    binarizer = fit_binarizer(data.label_sets)
    classes = [str(label) for label in binarizer.classes_]
    targets = task_spec.encode(binarizer, data.label_sets)
    train_ds = make_dataset(
        data.images[train_index], targets[train_index], batch_size, augmentation=build_augmentation(seed), shuffle_seed=seed
    )
    val_ds = make_dataset(data.images[val_index], targets[val_index], batch_size)

    steps_per_epoch = int(np.ceil(len(train_index) / batch_size))
    optimizer = keras.optimizers.Adam(learning_rate_schedule(schedule, learning_rate, epochs, steps_per_epoch))
    model = build_classifier(task_spec, len(classes), image_size, optimizer)
    # Shuffling happens in the tf.data pipeline, per epoch and seeded.
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, shuffle=False, verbose=verbose).history

    probabilities = task_spec.label_probabilities(model.predict(val_ds, verbose=0))
    predicted = task_spec.decode(probabilities, threshold=config.THRESHOLD)
    report = evaluate_predictions(binarizer.transform([data.label_sets[i] for i in val_index]), predicted, classes)
    logger.info("validation (%d images):", len(val_index))
    for line in format_report(report):
        logger.info("  %s", line)

    metadata = {
        "task": task_spec.name,
        "classes": classes,
        "image_size": image_size,
        "channel_order": config.CHANNEL_ORDER,
        "label_sep": label_sep,
        "threshold": config.THRESHOLD,
        "validation": {"images": len(val_index), "exact_match": report["exact_match"]},
    }
    save_model(model, model_path, metadata)
    save_labelbin(binarizer, labelbin_path)
    plot_history(history, plot_path, [metric.name for metric in task_spec.metrics()])
    logger.info("wrote %s, %s, %s", model_path, labelbin_path, plot_path)
    return TrainingResult(model, binarizer, task_spec, history, report, metadata)
