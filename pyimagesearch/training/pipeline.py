"""Training a classifier on a labelled image folder and writing the tutorial's three outputs."""

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.atomic import atomic_path, interrupts_deferred, write_csv
from pyimagesearch.data.augmentation import build_augmentation
from pyimagesearch.data.backgrounds import BackgroundReplacement, build_background_replacement, resolve_background
from pyimagesearch.data.dataset import ImageFiles, IndexedRows, find_labelled_images, make_dataset, unreadable_rows_reported
from pyimagesearch.data.feature_table import is_feature_table
from pyimagesearch.data.features import extract_features
from pyimagesearch.data.images import load_images
from pyimagesearch.data.inputs import load_training_data
from pyimagesearch.data.labels import fit_binarizer, infer_label_groups, resolve_task
from pyimagesearch.data.manifest import is_manifest
from pyimagesearch.data.recolouring import build_recolouring, colour_group, resolve_recolour
from pyimagesearch.data.splitting import DuplicateGroups, fold_indices, identical_row_groups, near_duplicate_groups, split_indices
from pyimagesearch.evaluation.metrics import SUMMARY_METRICS, evaluate_predictions, format_report
from pyimagesearch.evaluation.plotting import plot_history
from pyimagesearch.inference.decoding import GROUPS, TUNED, named_decodings
from pyimagesearch.inference.model_files import RUN_ID, new_run_id
from pyimagesearch.inference.model_io import save_labelbin, save_model
from pyimagesearch.inference.unknown import fit_unknown_detector
from pyimagesearch.models.backbones import (
    BACKBONES,
    FROM_SCRATCH,
    SMALLERVGGNET,
    backbone_summary,
    build_backbone,
    build_transfer_classifier,
    resolve_alpha,
    resolve_weights,
    set_backbone_trainable,
)
from pyimagesearch.models.colour_and_shape import build_colour_and_shape
from pyimagesearch.models.grouped_head import resolve_head
from pyimagesearch.models.mlp import MLP, build_mlp, feature_standardization
from pyimagesearch.models.normalization import NORMALIZATIONS, input_normalization, kernel_initializer
from pyimagesearch.models.smallervggnet import SmallerVGGNet
from pyimagesearch.models.tasks import Task, get_task, grouped_task
from pyimagesearch.training.distribution import is_chief, lost_workers_reported, scratch_folder
from pyimagesearch.training.hardware import cpu_kind
from pyimagesearch.training.health import Diagnosis, TrainingHealth
from pyimagesearch.training.monitoring import SamplePredictions, ValidationMetrics, metrics_csv_path, read_csv_rows
from pyimagesearch.training.overfit import OverfitResult, overfit_check
from pyimagesearch.training.thresholds import tune_thresholds

logger = logging.getLogger(__name__)

# Three poolings (3, 2, 2) must leave at least one pixel.
MIN_IMAGE_SIZE = 16
# keras.applications' backbones take 32 pixels and more.
BACKBONE_MIN_IMAGE_SIZE = 32
# Training images the health callback predicts at each epoch's end.
HEALTH_PROBE_IMAGES = 32
# Keras' BackupAndRestore folder inside --work-dir.
BACKUP_FOLDER = "backup"


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, whose backup is always whole: its weights and the epoch they are for
    are each written atomically, with Ctrl-C held back between them. Keras writes both in place, so
    a Ctrl-C or a kill during the write left a backup that ``--resume`` could not read."""

    def _save_model(self) -> None:
        weights, metadata = self._weights_path, self._training_metadata_path
        # The weights are in place before the epoch that names them (the inner block ends first).
        with interrupts_deferred(), atomic_path(metadata) as new_metadata, atomic_path(weights, suffix=".weights.h5") as new_weights:
            self._weights_path, self._training_metadata_path = str(new_weights), str(new_metadata)
            try:
                super()._save_model()
            finally:
                self._weights_path, self._training_metadata_path = weights, metadata


class TrainingStalled(ValueError):
    """Training was stopped by the health check, so no model was written. The message says why."""


@dataclass
class TrainingResult:
    """What a training run produced: the model, its labels and how well it did on validation.

    Attributes:
        report: Validation metrics of the saved model with its stored decoding (one label per
            group for the grouped head, tuned thresholds for other multi-label heads);
            ``reports`` has every decoding's.
        fold_reports: Validation metrics of each cross-validation fold, if ``folds`` was given.
        diagnosis: What the health check saw if it fired, else None.
    """

    model: keras.Model
    binarizer: Any
    task: Task
    history: dict[str, list[float]]
    report: dict[str, Any]
    reports: dict[str, dict[str, Any]]
    metadata: dict[str, Any]
    fold_reports: list[dict[str, Any]] | None = None
    diagnosis: Diagnosis | None = None


@dataclass(frozen=True)
class Recipe:
    """How one model is fitted: the hyperparameters shared by every fold and the final run."""

    epochs: int
    learning_rate: float
    batch_size: int | str  # "auto" until train() resolves it (resolve_batch_size)
    image_size: int
    schedule: str
    seed: int
    normalize: str = config.NORMALIZE
    init: str = config.INIT
    stop_on_stall: bool = False
    patience: int | None = config.PATIENCE
    precision: str = config.PRECISION
    jit_compile: str = config.JIT_COMPILE
    # Indices of the colour labels that recolouring swaps (see `recolouring`); empty for none.
    recolour_labels: tuple[int, ...] = ()
    # The network (see `backbones`): alpha and weights as resolved (None: no alpha, no pretrained weights).
    arch: str = SMALLERVGGNET
    alpha: float | None = None
    weights: str | None = None
    # Fine-tuning after the head's training, for pretrained weights only; 0 layers or epochs for none.
    fine_tune_layers: int = config.FINE_TUNE_LAYERS
    fine_tune_epochs: int = config.FINE_TUNE_EPOCHS
    fine_tune_lr: float = config.FINE_TUNE_LR

    @property
    def fine_tunes(self) -> bool:
        """Whether training has a second phase, fine-tuning a pretrained backbone's top."""
        return self.weights is not None and self.fine_tune_layers > 0 and self.fine_tune_epochs > 0


@dataclass(frozen=True)
class RunOptions:
    """Where one training runs and what it keeps besides its outputs (see `distribution`).

    Attributes:
        strategy: The `tf.distribute.Strategy` to train under (`distribution.create_strategy`);
            None for TensorFlow's default, one device.
        work_dir: Folder of the run's backup (`keras.callbacks.BackupAndRestore`, written by the
            chief, read by every worker on resuming: a folder they all see) and of the best model
            by validation exact-match (``best.keras``); None for neither.
        resume: Continue the interrupted run backed up in ``work_dir``.
        logdir: TensorBoard folder (every metric, the learning rate, sample predictions); None for none.
        scratch: A worker other than the chief writes its best model and logs here instead (see
            `distribution.scratch_folder`); None for the chief.
    """

    strategy: Any = None
    work_dir: str | os.PathLike | None = None
    resume: bool = False
    logdir: str | os.PathLike | None = None
    scratch: Path | None = None

    def check(self) -> None:
        """Raise `ValueError` for ``--resume`` without ``--work-dir``, a ``--work-dir`` that is a file, or
        one holding an interrupted run's state without ``--resume``."""
        if self.resume and self.work_dir is None:
            raise ValueError("--resume needs --work-dir: the folder the interrupted run backed up to (e.g. --work-dir run1).")
        if self.work_dir is not None and Path(self.work_dir).is_file():
            raise ValueError(f"--work-dir {self.work_dir} is a file: give a folder (created if missing).")
        # Keras' backup would silently resume an older run, and its phase 1 would follow a later --resume.
        left = [name for name in (BACKUP_FOLDER, PhaseOne.FOLDER) if self.work_dir is not None and (Path(self.work_dir) / name).exists()]
        if left and not self.resume:
            raise ValueError(
                f"--work-dir {self.work_dir} holds an interrupted run ({', '.join(left)}): "
                "add --resume to continue it, or give another folder."
            )


def resolve_precision(precision: str, arch: str = SMALLERVGGNET) -> str:
    """The concrete ``--precision``: ``auto`` is ``bfloat16`` where the hardware computes in it, else ``float32``.

    That is a GPU of compute capability 8.0 or more, or a CPU with AVX512-BF16 or AMX-BF16
    instructions that oneDNN may use (``ONEDNN_MAX_CPU_ISA``, when set, names a bfloat16 one;
    bench/README.md, "Training", has what it gains),
    unless ``arch`` is a backbone that runs slower in bfloat16 on the CPU (`backbones.Backbone.bfloat16`).

    Raises:
        ValueError: For a choice not in `config.PRECISIONS`.
    """
    if precision not in config.PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(config.PRECISIONS)}. Received: --precision {precision}")
    if precision != "auto":
        return precision
    import tensorflow as tf

    if arch in BACKBONES and not BACKBONES[arch].bfloat16 and not tf.config.list_physical_devices("GPU"):
        return "float32"

    for gpu in tf.config.list_physical_devices("GPU"):
        if tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)) >= (8, 0):
            return "bfloat16"
    return config.AUTO_TRAINING[cpu_kind()]["precision"]


def resolve_epochs(epochs: int | None, arch: str, weights: str | None) -> int:
    """``epochs``, or when None the default for ``arch`` with ``weights`` (as `train` takes them):
    `config.PRETRAINED_EPOCHS` on a pretrained backbone's frozen layers, else `config.EPOCHS`."""
    if epochs is not None:
        return epochs
    pretrained = arch not in FROM_SCRATCH and weights != "none"
    return config.PRETRAINED_EPOCHS if pretrained else config.EPOCHS


def resolve_jit_compile(jit_compile: str) -> bool | str:
    """Keras' ``jit_compile`` for a ``--jit-compile`` choice: ``auto`` leaves it to Keras (XLA on GPUs only).

    On CPUs XLA is off: its convolutions do not use oneDNN and train this network about four
    times slower (bench/README.md, "Training").

    Raises:
        ValueError: For a choice not in `config.JIT_COMPILES`.
    """
    if jit_compile not in config.JIT_COMPILES:
        raise ValueError(f"--jit-compile must be one of {', '.join(config.JIT_COMPILES)}. Received: --jit-compile {jit_compile}")
    return {"auto": "auto", "on": True, "off": False}[jit_compile]


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


def build_classifier(
    task: Task,
    num_labels: int,
    image_size: int,
    optimizer: keras.optimizers.Optimizer,
    train_images: np.ndarray | None = None,
    normalize: str = config.NORMALIZE,
    init: str = config.INIT,
    dropout: bool = True,
    precision: str = "float32",
    jit_compile: bool | str = False,
    arch: str = SMALLERVGGNET,
    alpha: float | None = None,
    weights: str | None = None,
) -> keras.Model:
    """SmallerVGGNet with the head, loss and metrics of ``task``, compiled; or, for another ``arch``, a
    `keras.applications` backbone with ``alpha`` and ``weights`` under the same head
    (`backbones.build_transfer_classifier`; frozen when pretrained); or, for ``mlp``, the MLP
    (`mlp.build_mlp`) over feature vectors. When ``task`` has a colour group, an image network is
    split into a colour and a shape branch (`colour_and_shape.build_colour_and_shape`), the shape
    branch being SmallerVGGNet's or the backbone.

    The model takes RGB images with values 0-255 and normalises them itself (``normalize``,
    with statistics from ``train_images``; see `normalization.input_normalization`), so
    classification cannot preprocess differently from training. The MLP takes feature vectors
    and standardises them itself, with statistics from ``train_images``, then its training
    rows (`mlp.feature_standardization`). ``precision="bfloat16"``
    builds it under Keras' ``mixed_bfloat16`` policy (bfloat16 computations, float32 weights
    and outputs); ``jit_compile`` is passed to ``compile``.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        # A backbone's own preprocessing replaces --normalize; the colour branch keeps it.
        preprocessing = input_normalization(normalize, train_images) if arch == SMALLERVGGNET or task.colour_group is not None else ()
        if arch == MLP:
            model = build_mlp(
                train_images.shape[1],
                task.output_units(num_labels),
                task.final_layer(),
                dropout=config.MLP_DROPOUT if dropout else 0.0,
                preprocessing=[feature_standardization(train_images)],
                kernel_initializer=kernel_initializer(init),
            )
        elif task.colour_group is not None:
            model = build_colour_and_shape(
                image_size,
                image_size,
                task.groups,
                task.colour_group,
                preprocessing=preprocessing,
                kernel_initializer=kernel_initializer(init),
                dropout=dropout,
                shape_backbone=None if arch == SMALLERVGGNET else partial(build_backbone, arch, image_size, alpha, weights),
            )
            if weights is not None:
                set_backbone_trainable(model, 0)
        elif arch != SMALLERVGGNET:
            model = build_transfer_classifier(
                arch,
                image_size,
                alpha,
                weights,
                task.output_units(num_labels),
                task.final_layer(),
                dropout=dropout,
                kernel_initializer=kernel_initializer(init),
            )
        else:
            model = SmallerVGGNet.build(
                width=image_size,
                height=image_size,
                depth=3,
                classes=task.output_units(num_labels),
                finalAct=task.final_layer(),
                preprocessing=preprocessing,
                kernel_initializer=kernel_initializer(init),
                dropout=dropout,
            )
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(optimizer=optimizer, loss=task.loss, metrics=task.metrics(), jit_compile=jit_compile)
    return model


def as_float32(model: keras.Model) -> keras.Model:
    """``model`` with every layer computing in float32 and the same weights: a mixed-precision model, ready to save.

    Mixed precision only speeds up training; a float32 model predicts, exports to ONNX and
    loads anywhere without bfloat16 support.
    """
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    float32 = keras.models.clone_model(
        model, clone_function=lambda layer: layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})
    )
    float32.set_weights(model.get_weights())
    return float32


def pipeline_threads() -> int | None:
    """Threads for the input pipeline: on a CPU, this kind of CPU's (`config.AUTO_TRAINING`); with a GPU,
    as many as tf.data likes (None).

    On a CPU the network's operations split their work over every core; a pipeline thread
    taking a core stalls the operation until its other half ends. In interleaved 10-epoch runs
    on the fashion photos at batch 64 on a CPU with AMX, one pipeline thread trained at 226-241
    images/s against 154-211 with tf.data's tuning, whose epochs now and then took 10 s instead
    of 6. With a GPU, the cores are the pipeline's.
    """
    import tensorflow as tf

    return None if tf.config.list_physical_devices("GPU") else config.AUTO_TRAINING[cpu_kind()]["pipeline_threads"]


def resolve_batch_size(batch_size: int | str, train_images: int, cpu: str | None = None) -> int:
    """The concrete ``--batch-size``: ``auto`` is the CPU kind's large batch (`config.AUTO_TRAINING`) for a
    training split of at least `config.LARGE_BATCH_MIN_STEPS` such batches, else `config.BATCH_SIZE`
    (the tutorial's 32). ``cpu`` is a `hardware.CPU_KINDS` entry; None: this machine's.

    Raises:
        ValueError: For anything but ``auto`` or a positive whole number.
    """
    if batch_size == "auto":
        large_batch = config.AUTO_TRAINING[cpu or cpu_kind()]["large_batch_size"]
        return large_batch if train_images >= large_batch * config.LARGE_BATCH_MIN_STEPS else config.BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"--batch-size must be a whole number of at least 1, or auto. Received: {batch_size}")
    return batch_size


def task_with_head(
    task: str,
    head: str,
    classes: list[str],
    label_groups: list[list[str]] | None,
    colour_branch: str = config.COLOUR_BRANCH,
    arch: str = SMALLERVGGNET,
) -> tuple[Task, str]:
    """The `Task` to train for a resolved task name, a ``--head`` and a ``--colour-branch`` choice, and the concrete head.

    ``--colour-branch`` ``on`` (or ``auto``) gives the grouped head's colour group a branch of its
    own when a label group holds colours `recolouring` knows (`recolouring.colour_group`); the
    other groups are read from a grey copy by SmallerVGGNet's layers or by the backbone of
    ``arch`` (with MobileNetV2, unseen combinations: 0.885 of photos right against 0.837; unknown
    types: AUROC 0.92-0.95; bench/README.md). ``auto`` is ``off`` for the MLP.

    Raises:
        ValueError: As `grouped_head.resolve_head`; for an unknown ``colour_branch``, or ``on``
            without the grouped head or a colour group, or with the MLP.
    """
    if colour_branch not in config.COLOUR_BRANCHES:
        raise ValueError(f"--colour-branch must be one of {', '.join(config.COLOUR_BRANCHES)}. Received: --colour-branch {colour_branch}")
    if arch == MLP:
        if colour_branch == "on":
            raise ValueError(
                f"--colour-branch on splits an image network; --arch {MLP} reads feature vectors: use --colour-branch off or auto."
            )
        colour_branch = "off"
    head = resolve_head(head, task, label_groups)
    colours = colour_group(label_groups) if head == "grouped" else None
    if colour_branch == "on" and colours is None:
        raise ValueError(
            "--colour-branch on needs the grouped head and a label group of colours (black, blue, red, ...); "
            f"this data set gives {'no colour group' if head == 'grouped' else f'the {head} head'}. Use --colour-branch off."
        )
    if head == "grouped":
        return grouped_task(
            [[classes.index(label) for label in group] for group in label_groups],
            colour_group=None if colour_branch == "off" else colours,
        ), head
    return get_task(task), head


def _check_arguments(recipe: Recipe, split: str, folds: int | None, duplicate_radius: int = config.DUPLICATE_RADIUS) -> None:
    if recipe.epochs < 1:
        raise ValueError(f"--epochs must be at least 1. Received: {recipe.epochs}")
    if not recipe.learning_rate > 0:
        raise ValueError(f"--lr must be positive, e.g. 1e-3. Received: {recipe.learning_rate}")
    resolve_batch_size(recipe.batch_size, 0)
    if recipe.image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"--image-size must be at least {MIN_IMAGE_SIZE} pixels. Received: {recipe.image_size}")
    learning_rate_schedule(recipe.schedule, recipe.learning_rate, recipe.epochs, steps_per_epoch=1)
    if recipe.normalize not in NORMALIZATIONS:
        raise ValueError(f"--normalize must be one of {', '.join(NORMALIZATIONS)}. Received: --normalize {recipe.normalize}")
    kernel_initializer(recipe.init)
    if split not in config.SPLITS:
        raise ValueError(f"Unknown split: expected one of {', '.join(config.SPLITS)}. Received: --split {split}")
    if folds is not None and folds < 2:
        raise ValueError(f"--folds must be at least 2 (e.g. 5). Received: {folds}")
    if duplicate_radius < 0:
        raise ValueError(f"--duplicate-radius must be 0 or more bits. Received: {duplicate_radius}")
    if recipe.patience is not None and recipe.patience < 1:
        raise ValueError(f"--patience must be at least 1 epoch, or 0 to train every epoch. Received: {recipe.patience}")
    resolve_precision(recipe.precision)
    resolve_jit_compile(recipe.jit_compile)
    if recipe.arch not in config.ARCHITECTURES:
        raise ValueError(f"--arch must be one of {', '.join(config.ARCHITECTURES)}. Received: --arch {recipe.arch}")
    if recipe.arch == MLP and recipe.normalize != config.NORMALIZE:
        raise ValueError(f"--normalize scales image pixels; --arch {MLP} standardises its features itself: drop --normalize.")
    if recipe.arch not in (SMALLERVGGNET, MLP) and recipe.image_size < BACKBONE_MIN_IMAGE_SIZE:
        raise ValueError(
            f"--image-size must be at least {BACKBONE_MIN_IMAGE_SIZE} pixels for --arch {recipe.arch}. Received: {recipe.image_size}"
        )
    if recipe.fine_tune_layers < 0 or recipe.fine_tune_epochs < 0:
        raise ValueError(
            "--fine-tune-layers and --fine-tune-epochs must be 0 (no fine-tuning) or more. "
            f"Received: {recipe.fine_tune_layers} and {recipe.fine_tune_epochs}"
        )
    if not recipe.fine_tune_lr > 0:
        raise ValueError(f"--fine-tune-lr must be positive, e.g. 1e-4. Received: {recipe.fine_tune_lr}")


def _dataset_task(dataset: str | os.PathLike, label_sets: list[tuple[str, ...]], task: str) -> str:
    """`labels.resolve_task`, its refusal of the labels naming the data set they came from."""
    try:
        return resolve_task(label_sets, task)
    except ValueError as error:
        if str(error).startswith("--task") or str(error).startswith("Unknown task"):
            raise
        raise ValueError(f"--dataset {dataset}: {error}") from None


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


def _fit(
    images: "np.ndarray | ImageFiles",
    targets: np.ndarray,
    train_index: np.ndarray,
    val_index: np.ndarray,
    task: Task,
    classes: list[str],
    recipe: Recipe,
    csv_path: str | os.PathLike | None,
    verbose: int | str,
    run: RunOptions = RunOptions(),
    backgrounds: BackgroundReplacement | None = None,
) -> tuple[keras.Model, dict[str, list[float]], np.ndarray, Diagnosis | None]:
    """Fit a new model on ``train_index``, scoring ``val_index`` every epoch, watching its health.

    ``backgrounds``, if given, replaces the plain backgrounds of training batches (`backgrounds`).
    With ``recipe.patience``, training stops once validation exact-match has not improved for
    that many epochs, and the weights of its best epoch are kept. Under ``run.strategy`` each step
    trains on ``recipe.batch_size`` images per replica; ``run`` also says what is backed up and logged.

    Returns:
        ``(model, history, probabilities, diagnosis)``: the float32 model; the history holds
        Keras' logs and the per-label validation metrics; ``probabilities`` are the returned
        model's on the validation images; ``diagnosis`` is the health check's, if it fired.

    Raises:
        TrainingStalled: When the health check stopped training (``--stop-on-stall``, or a
            loss that became NaN): the model is not worth saving.
    """
    import tensorflow as tf

    keras.utils.set_random_seed(recipe.seed)
    strategy = run.strategy or tf.distribute.get_strategy()
    # The global batch: each replica trains on recipe.batch_size images of it.
    batch_size = recipe.batch_size * strategy.num_replicas_in_sync
    threads = pipeline_threads()
    recolouring = build_recolouring(classes, recipe.recolour_labels, seed=recipe.seed) if recipe.recolour_labels else None
    train_ds = make_dataset(
        # The MLP's features are computed once, from the images as they are.
        images,
        targets,
        batch_size,
        indices=train_index,
        augmentation=None if recipe.arch == MLP else build_augmentation(recipe.seed),
        shuffle_seed=recipe.seed,
        recolouring=recolouring,
        threads=threads,
        shard=isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
        backgrounds=backgrounds,
    )
    val_ds = make_dataset(images, targets, batch_size, indices=val_index, threads=threads)
    steps_per_epoch = int(np.ceil(len(train_index) / batch_size))
    schedule = learning_rate_schedule(recipe.schedule, recipe.learning_rate, recipe.epochs, steps_per_epoch)
    precision, jit_compile = resolve_precision(recipe.precision, recipe.arch), resolve_jit_compile(recipe.jit_compile)
    with strategy.scope():
        model = build_classifier(
            task,
            len(classes),
            recipe.image_size,
            keras.optimizers.Adam(schedule),
            train_images=IndexedRows(images, train_index),
            normalize=recipe.normalize,
            init=recipe.init,
            precision=precision,
            jit_compile=jit_compile,
            arch=recipe.arch,
            alpha=recipe.alpha,
            weights=recipe.weights,
        )
    earlier_rows = read_csv_rows(csv_path) if run.resume and csv_path is not None else ()
    monitor = ValidationMetrics(val_ds, targets[val_index], task, classes, csv_path=csv_path, earlier_rows=earlier_rows)
    health = TrainingHealth(images[train_index[:HEALTH_PROBE_IMAGES]], stop_on_stall=recipe.stop_on_stall)
    backup, reporting = _run_callbacks(run, strategy, images, targets, val_index, task, classes)

    def fit_phase(first_epoch: int, epochs: int) -> tuple[dict[str, list[float]], keras.callbacks.EarlyStopping | None]:
        # The monitor first: it puts val_exact_match into the logs the others read, and the epoch's
        # row into the CSV before the backup says the epoch is done.
        callbacks = [monitor, health, *backup, *reporting]
        stopper = None
        if recipe.patience:
            stopper = keras.callbacks.EarlyStopping(
                monitor="val_exact_match", mode="max", patience=recipe.patience, restore_best_weights=True
            )
            callbacks.append(stopper)
        # Shuffling happens in the tf.data pipeline, per epoch and seeded; validation in `monitor`.
        with strategy.scope(), lost_workers_reported():
            history = model.fit(
                train_ds, initial_epoch=first_epoch, epochs=first_epoch + epochs, shuffle=False, callbacks=callbacks, verbose=verbose
            ).history
        # A resumed run's history starts where it resumed: prepend the phase's epochs before, as the monitor kept them.
        earlier = monitor.rows[first_epoch : len(monitor.rows) - len(history["loss"])]
        history = {key: [row.get(key, np.nan) for row in earlier] + values for key, values in history.items()}
        if health.stopped:
            raise TrainingStalled(
                f"training stopped at epoch {health.diagnosis.epoch}: {health.diagnosis.symptoms[0]} "
                f"(diagnosis above; first thing to try: {health.diagnosis.causes[0].remedy}). The model was not written."
            )
        if stopper is not None and stopper.best_epoch + 1 != first_epoch + len(history["loss"]):
            logger.info(
                "%s; kept the weights of epoch %d (validation exact-match %.4f)",
                f"early stop after epoch {stopper.stopped_epoch + 1}" if stopper.stopped_epoch else "trained every epoch",
                stopper.best_epoch + 1,
                stopper.best,
            )
        return history, stopper

    phase_one = PhaseOne.resumed(run) if recipe.fine_tunes else None
    if phase_one is None:
        if recipe.weights is not None:
            logger.info("phase 1: the head on the frozen %s", backbone_summary(recipe.arch, recipe.alpha, recipe.weights))
        history, stopper = fit_phase(0, recipe.epochs)
        history["phase"] = [1] * len(history["loss"])
        best = stopper.best if stopper is not None else history["val_exact_match"][-1]
        phase_one = PhaseOne(model.get_weights() if recipe.fine_tunes else [], best, history)
        if recipe.fine_tunes and run.work_dir is not None:
            phase_one.save(Path(run.scratch or run.work_dir))
    else:
        model.set_weights(phase_one.weights)
        logger.info(
            "resuming at fine-tuning: phase 1 ended after %d epochs (validation exact-match %.4f)",
            len(phase_one.history["phase"]),
            phase_one.best,
        )
    history = phase_one.history
    diagnosis = health.diagnosis
    if recipe.fine_tunes:
        history = _fine_tune(model, task, recipe, phase_one, fit_phase, monitor, steps_per_epoch, jit_compile)
        diagnosis = health.diagnosis or diagnosis
        if run.work_dir is not None and run.scratch is None:
            shutil.rmtree(Path(run.work_dir) / PhaseOne.FOLDER, ignore_errors=True)
    # The weights kept may be an earlier epoch's (early stopping, or phase 1's): score them afresh.
    model = as_float32(model)
    probabilities = task.label_probabilities(model.predict(val_ds, verbose=0))
    return model, {**history, **monitor.per_label_history}, probabilities, diagnosis


def _run_callbacks(
    run: RunOptions,
    strategy: Any,
    images: "np.ndarray | ImageFiles",
    targets: np.ndarray,
    val_index: np.ndarray,
    task: Task,
    classes: list[str],
) -> tuple[list[keras.callbacks.Callback], list[keras.callbacks.Callback]]:
    """The callbacks ``run`` asks for, to run after the validation metrics: ``(backup, reporting)``,
    the backup (after the metrics CSV has the epoch) and the best-model checkpoint and TensorBoard's."""
    backup, reporting = [], []
    # Every worker runs the same callbacks, saving included (saving may synchronise the workers);
    # all but the chief into their scratch folder.
    if run.work_dir is not None:
        backup_dir = Path(run.work_dir) / BACKUP_FOLDER
        if run.scratch is not None:
            # Every worker resumes from the chief's backup, so all start at the same epoch.
            if run.resume and backup_dir.is_dir():
                shutil.copytree(backup_dir, run.scratch / BACKUP_FOLDER)
            backup_dir = run.scratch / BACKUP_FOLDER
        backup.append(AtomicBackupAndRestore(str(backup_dir)))
        reporting.append(
            keras.callbacks.ModelCheckpoint(
                str(Path(run.scratch or run.work_dir) / "best.keras"),
                monitor="val_exact_match",
                mode="max",
                save_best_only=True,
            )
        )
    if run.logdir is not None:
        logdir = Path(run.scratch / "logs" if run.scratch else run.logdir)
        # Keras' TensorBoard writes every metric in the logs and the learning rate.
        reporting.append(keras.callbacks.TensorBoard(str(logdir), write_graph=False))
        samples = val_index[: config.SAMPLE_PREDICTIONS]
        reporting.append(SamplePredictions(logdir, images[samples], targets[samples], task, classes))
    return backup, reporting


@dataclass
class PhaseOne:
    """How phase 1 (the head on the frozen backbone) ended: the weights it kept, their validation
    exact-match and its history. With ``--work-dir`` it is kept there while fine-tuning runs, so
    that ``--resume`` can go on with fine-tuning; removed once training has finished."""

    weights: list[np.ndarray]
    best: float
    history: dict[str, list[float]]

    FOLDER = "phase1"

    def save(self, work_dir: Path) -> None:
        """Write the weights, then the state that names them, each atomically."""
        folder = work_dir / self.FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        with interrupts_deferred(), atomic_path(folder / "state.json") as state, atomic_path(folder / "weights.npz") as weights:
            np.savez(weights, *self.weights)
            state.write_text(json.dumps({"best": float(self.best), "history": self.history}, default=float))

    @classmethod
    def resumed(cls, run: RunOptions) -> "PhaseOne | None":
        """Phase 1's end as the interrupted run in ``run.work_dir`` saved it, when resuming; else None."""
        folder = Path(run.work_dir) / cls.FOLDER if run.resume else None
        if folder is None or not (folder / "state.json").is_file():
            return None
        state = json.loads((folder / "state.json").read_text())
        with np.load(folder / "weights.npz") as saved:
            weights = [saved[f"arr_{index}"] for index in range(len(saved.files))]
        return cls(weights, state["best"], state["history"])


def _fine_tune(
    model: keras.Model,
    task: Task,
    recipe: Recipe,
    phase_one: PhaseOne,
    fit_phase: Callable,
    monitor: ValidationMetrics,
    steps_per_epoch: int,
    jit_compile: bool | str,
) -> dict[str, list[float]]:
    """Phase 2: unfreeze the backbone's top layers and train on at ``recipe.fine_tune_lr``; keep
    phase 1's weights if fine-tuning never beats its best validation exact-match. Returns the
    history of both phases."""
    history, best, frozen_weights = phase_one.history, phase_one.best, phase_one.weights
    unfrozen = set_backbone_trainable(model, recipe.fine_tune_layers)
    schedule = learning_rate_schedule(recipe.schedule, recipe.fine_tune_lr, recipe.fine_tune_epochs, steps_per_epoch)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=task.loss, metrics=task.metrics(), jit_compile=jit_compile)
    logger.info(
        "phase 2: fine-tuning the top %d layers of the backbone (batch normalisation frozen) at --fine-tune-lr %g",
        unfrozen,
        recipe.fine_tune_lr,
    )
    monitor.phase = 2
    tuned, tuned_stopper = fit_phase(len(history["loss"]), recipe.fine_tune_epochs)
    tuned_best = tuned_stopper.best if tuned_stopper is not None else tuned["val_exact_match"][-1]
    if not tuned_best > best:
        model.set_weights(frozen_weights)
        logger.info(
            "fine-tuning did not beat the frozen backbone's validation exact-match (%.4f against %.4f); kept phase 1's weights",
            tuned_best,
            best,
        )
    return {key: history[key] + tuned[key] for key in tuned} | {"phase": history["phase"] + [2] * len(tuned["loss"])}


def cross_validate(
    images: np.ndarray,
    targets: np.ndarray,
    label_sets: list[tuple[str, ...]],
    task: Task,
    classes: list[str],
    recipe: Recipe,
    folds: int,
    groups: DuplicateGroups | None,
    verbose: int | str = "auto",
    backgrounds: BackgroundReplacement | None = None,
) -> list[dict[str, Any]]:
    """Fit one model per fold and score each on its held-out fold at the default threshold.

    The folds are stratified and never separate near-duplicates (see `splitting.fold_indices`).
    Thresholds are not tuned here: a fold's own validation images would then both choose
    and judge them.

    Returns:
        One `evaluate_predictions` report per fold.
    """
    reports = []
    for fold, (train_index, val_index) in enumerate(fold_indices(label_sets, folds, recipe.seed, groups), start=1):
        logger.info("fold %d of %d: %d training, %d validation images", fold, folds, len(train_index), len(val_index))
        _, _, probabilities, _ = _fit(
            images, targets, train_index, val_index, task, classes, recipe, None, verbose, backgrounds=backgrounds
        )
        true = task.label_probabilities(targets[val_index]).astype("int64")
        report = evaluate_predictions(true, task.decode(probabilities), classes, probabilities)
        logger.info("fold %d: %s", fold, format_report(report)[0])
        reports.append(report)
    return reports


def summarize_folds(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of per-fold summary metrics followed by their mean and standard deviation."""
    rows = [{"fold": i, "images": report["images"], **{m: report[m] for m in SUMMARY_METRICS}} for i, report in enumerate(reports, 1)]
    for name, reduce in (("mean", np.mean), ("std", np.std)):
        rows.append({"fold": name, "images": "", **{m: float(reduce([row[m] for row in rows[: len(reports)]])) for m in SUMMARY_METRICS}})
    return rows


def folds_csv_path(model_path: str | os.PathLike) -> Path:
    """The cross-validation file beside a model: ``fashion.model`` -> ``fashion.folds.csv``."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.folds.csv")


def train(
    dataset_dir: str | os.PathLike,
    *,
    model_path: str | os.PathLike = config.MODEL_PATH,
    labelbin_path: str | os.PathLike = config.LABELBIN_PATH,
    plot_path: str | os.PathLike = config.PLOT_PATH,
    epochs: int | None = None,
    learning_rate: float = config.LEARNING_RATE,
    batch_size: int | str = config.TRAIN_BATCH_SIZE,
    image_size: int = config.IMAGE_SIZE,
    val_split: float = config.VAL_SPLIT,
    seed: int = config.SEED,
    label_sep: str = config.LABEL_SEP,
    task: str = "auto",
    schedule: str = config.SCHEDULE,
    split: str = config.SPLIT,
    duplicate_radius: int = config.DUPLICATE_RADIUS,
    folds: int | None = None,
    normalize: str = config.NORMALIZE,
    init: str = config.INIT,
    stop_on_stall: bool = False,
    patience: int | None = config.PATIENCE,
    precision: str = config.PRECISION,
    jit_compile: str = config.JIT_COMPILE,
    cache: str = config.CACHE,
    cache_dir: str | os.PathLike | None = None,
    head: str = config.HEAD,
    recolour: str = config.RECOLOUR,
    background: str = config.BACKGROUND,
    colour_branch: str = config.COLOUR_BRANCH,
    arch: str = config.ARCH,
    alpha: float | None = None,
    weights: str | None = None,
    fine_tune_layers: int = config.FINE_TUNE_LAYERS,
    fine_tune_epochs: int = config.FINE_TUNE_EPOCHS,
    fine_tune_lr: float = config.FINE_TUNE_LR,
    strategy: Any = None,
    work_dir: str | os.PathLike | None = None,
    resume: bool = False,
    logdir: str | os.PathLike | None = None,
    label_column: str = config.LABEL_COLUMN,
    progress: Callable | None = None,
    verbose: int | str = "auto",
) -> TrainingResult:
    """Train MobileNetV2 (or ``arch``) on the images under ``dataset_dir`` and write model, labelbin and plot.

    Args:
        dataset_dir: Folder with one sub-folder per label set, e.g. ``dataset/red_dress/``; a
            manifest (``.jsonl``, or ``.csv`` with a ``path`` column, see `manifest.read_manifest`)
            of images anywhere tf.io.gfile reads, streamed and split without near-duplicate hashing;
            or, with ``arch="mlp"``, a feature table, ``.csv`` or ``.npy`` (see `feature_table`).
        model_path: Model file to write (any name). Defaults to ``fashion.model``. The
            per-epoch validation metrics go beside it (``fashion.metrics.csv``).
        labelbin_path: Pickled `MultiLabelBinarizer` to write. Defaults to ``mlb.pickle``.
        plot_path: Training curves to write. Defaults to ``plot.png``.
        epochs: Passes over the training set; with pretrained weights, on the frozen backbone
            (see ``weights``). Defaults to `resolve_epochs`'s: 75 from scratch, 10 pretrained.
        learning_rate: Adam's initial learning rate. Defaults to 1e-3.
        batch_size: Images per step, or ``auto`` (see `resolve_batch_size`: 64 for a training split of
            at least 1,024 images, else 32). Defaults to ``auto``.
        image_size: Side of the square network input. Defaults to 96.
        val_split: Share of images held out for validation. Defaults to 0.2.
        seed: Seed of the split, weights, shuffling and augmentation. Defaults to 42.
        label_sep: Separator of labels in folder names. Defaults to ``"_"``.
        task: ``auto``, ``multilabel``, ``multiclass`` or ``binary``. Defaults to ``auto``.
        schedule: Learning-rate schedule, ``cosine`` or ``tutorial``. Defaults to ``cosine``.
        split: ``grouped`` keeps near-duplicates on one side and stratifies; ``random`` is the
            tutorial's split. Defaults to ``grouped``.
        duplicate_radius: Hash bits within which two images are near-duplicates. Defaults to 6.
        folds: Cross-validate with this many folds first (``fashion.folds.csv``); the saved
            model is then trained on the usual split. Defaults to no cross-validation.
        normalize: Input normalisation, ``unit``, ``center`` or ``standardize`` (statistics
            from the training images, saved in the model). Defaults to ``unit``.
        init: Kernel initialisation, ``glorot`` or ``he``. Defaults to ``glorot``.
        stop_on_stall: Stop, writing nothing, when the health check sees a stall. Defaults to
            False (the diagnosis is logged and training goes on).
        patience: Stop after this many epochs without a better validation exact-match and
            keep the best epoch's weights; None or 0 trains every epoch. Defaults to 15.
        precision: ``float32``, ``bfloat16`` (mixed precision) or ``auto`` (bfloat16 where the
            hardware has it, see `resolve_precision`). The saved model is float32 either way.
            Defaults to ``auto``.
        jit_compile: XLA compilation, ``on``, ``off`` or ``auto`` (see `resolve_jit_compile`).
            Defaults to ``auto``.
        cache: Where the decoded images are kept: ``memory``, ``disk``, ``none`` or ``auto``
            (see `data.load_labelled_images`). Defaults to ``auto``.
        cache_dir: Folder of the on-disk cache. Defaults to `image_cache.default_cache_dir`.
        head: ``flat`` (a sigmoid per label), ``grouped`` (a softmax per label group, decoded
            to one label per group; needs label groups) or ``auto`` (grouped for multi-label
            data with label groups, see `grouped_head.resolve_head`). Defaults to ``auto``.
        recolour: Label-aware recolouring of training images, ``on``, ``off`` or ``auto`` (on
            with the grouped head when a label group holds two colours it can paint, see
            `recolouring.resolve_recolour`). Defaults to ``auto``.
        background: Replacing the plain backgrounds of training images by colour fields,
            gradients and cluttered scenes, the garment reframed, ``on``, ``off`` or ``auto`` (on
            for networks over images, see `backgrounds.resolve_background`). Defaults to ``auto``.
        colour_branch: ``on``, ``off`` or ``auto``: with the grouped head and a colour group, read
            colour and the other groups from separate branches (`task_with_head`). Defaults to ``auto``.
        arch: ``smallervggnet``, ``mlp`` (the MLP over colour-histogram and HOG features of the
            images, `features`, or over a feature table's columns) or a backbone of
            `backbones.BACKBONES`. Defaults to ``mobilenetv2``.
        alpha: The backbone's width multiplier; None for the weights file's, else the family's default.
        weights: ``imagenet``, ``none`` or a weights file; None for ``imagenet`` with a backbone, ``none``
            with SmallerVGGNet. Pretrained weights train in two phases: the head on the frozen
            backbone for ``epochs``, then the backbone's top ``fine_tune_layers`` layers with it for
            ``fine_tune_epochs`` at ``fine_tune_lr`` (0 layers or epochs: no second phase).
        fine_tune_layers, fine_tune_epochs, fine_tune_lr: See ``weights``. Default to 80, 10 and 3e-4.
        strategy: The `tf.distribute.Strategy` to train under (`distribution.create_strategy`);
            ``batch_size`` is then per replica. Only the chief writes the outputs. Defaults to None,
            TensorFlow's default strategy.
        work_dir: Folder where training backs itself up after every epoch and keeps the best model
            by validation exact-match (``best.keras``), so that an interrupted run can resume.
            Defaults to None: no backup.
        resume: Continue the run backed up in ``work_dir`` from its last finished epoch. Defaults to False.
        logdir: Folder of TensorBoard logs. Defaults to None: none.
        label_column: A feature table's column of labels. Defaults to ``labels``.
        progress: Optional iterable wrapper (e.g. ``tqdm``) showing image loading.
        verbose: Keras' ``fit`` verbosity. Defaults to ``"auto"``.

    Returns:
        A `TrainingResult`; the three files are written atomically once training has finished.

    Raises:
        ValueError: For bad arguments, unusable data, or a task the labels contradict.
        TrainingStalled: When the health check stopped training.
    """
    # Resolved once: "auto" asks the devices and /proc/cpuinfo.
    precision = resolve_precision(precision, arch)
    epochs = resolve_epochs(epochs, arch, weights)
    recipe = Recipe(
        epochs,
        learning_rate,
        batch_size,
        image_size,
        schedule,
        seed,
        normalize,
        init,
        stop_on_stall,
        patience,
        precision,
        jit_compile,
        arch=arch,
        fine_tune_layers=fine_tune_layers,
        fine_tune_epochs=fine_tune_epochs,
        fine_tune_lr=fine_tune_lr,
    )
    _check_arguments(recipe, split, folds, duplicate_radius)
    _check_outputs(model=model_path, labelbin=labelbin_path, plot=plot_path)
    weights = resolve_weights(arch, weights, alpha)
    recipe = replace(recipe, weights=weights, alpha=resolve_alpha(arch, alpha, weights))
    run = RunOptions(strategy, work_dir, resume, logdir)
    run.check()

    if arch == MLP and recolour == "on":
        raise ValueError(f"--recolour on paints training images; --arch {MLP} trains on features computed once from them: drop --recolour.")
    replaces_backgrounds = resolve_background(background, arch)
    # A file that cannot be decoded when a batch needs it stops training in one line, not in TensorFlow's traceback.
    with scratch_folder(is_chief(strategy)) as scratch, unreadable_rows_reported():
        if scratch is not None:
            # Not the chief: the same training and saving, into a folder that is then removed.
            model_path, labelbin_path, plot_path = (scratch / Path(path).name for path in (model_path, labelbin_path, plot_path))
            run = replace(run, scratch=scratch)
        data = load_training_data(
            dataset_dir,
            arch,
            image_size,
            label_sep=label_sep,
            label_column=label_column,
            progress=progress,
            cache=cache,
            cache_dir=cache_dir,
        )
        binarizer = fit_binarizer(data.label_sets)
        classes = [str(label) for label in binarizer.classes_]
        label_groups = infer_label_groups(data.label_names, label_sep)
        task_spec, head = task_with_head(
            _dataset_task(dataset_dir, data.label_sets, task), head, classes, label_groups, colour_branch, arch
        )
        recipe = replace(
            recipe,
            recolour_labels=resolve_recolour(
                "off" if arch == MLP else recolour,
                head,
                classes,
                label_groups,
                colour_branch=task_spec.colour_group is not None,
                pretrained=weights is not None,
            ),
        )
        # The training split's size, as split_indices will make it, decides --batch-size auto.
        recipe = replace(recipe, batch_size=resolve_batch_size(batch_size, round(len(data.label_sets) * (1 - val_split))))
        for line in data.lines:
            logger.info(line)
        logger.info(
            "%s held: %s (--cache %s); batch size %d; precision %s; XLA %s",
            "images" if data.images is not None else "rows",
            data.cache,
            cache,
            recipe.batch_size,
            precision,
            {"auto": "as Keras decides (on GPUs only)", True: "on", False: "off"}[resolve_jit_compile(jit_compile)],
        )
        if arch == MLP:
            logger.info(
                "network: MLP, %d features -> %s ReLU units -> %s, dropout %g",
                data.inputs.shape[1],
                " -> ".join(map(str, config.MLP_HIDDEN)),
                task_spec.output_units(len(classes)),
                config.MLP_DROPOUT,
            )
        elif arch != SMALLERVGGNET:
            logger.info(
                "network: %s%s",
                backbone_summary(arch, recipe.alpha, weights),
                f"; then fine-tuning its top {fine_tune_layers} layers for {fine_tune_epochs} epochs" if recipe.fine_tunes else "",
            )
        logger.info(
            "task: %s (%s head: %s, %s)%s%s",
            task_spec.name,
            head,
            task_spec.activation,
            getattr(task_spec.loss, "__name__", task_spec.loss),
            f"; colour branch for {', '.join(label_groups[task_spec.colour_group])}, grey shape branch for the rest"
            if task_spec.colour_group is not None
            else "",
            f"; recolouring {', '.join(classes[i] for i in recipe.recolour_labels)}" if recipe.recolour_labels else "",
        )
        backgrounds = build_background_replacement(data.inputs, seed=seed) if replaces_backgrounds else None
        if backgrounds is not None:
            logger.info(
                "backgrounds: %s; %d%% of those replaced in each epoch by colour fields, gradients or clutter, reframed",
                "segmented batch by batch (images streamed)"
                if backgrounds.masks is None
                else f"{backgrounds.plain_count} of {len(backgrounds.masks)} images have a plain one",
                round(100 * backgrounds.probability),
            )
        groups = None
        if split == "grouped" and data.images is None:
            groups = identical_row_groups(data.inputs)
            logger.info(
                "identical rows: %d groups holding %d rows; each group stays on one side",
                groups.duplicate_groups,
                groups.images_in_duplicate_groups,
            )
        elif split == "grouped" and is_manifest(dataset_dir):
            # Hashing needs every image decoded before training: a pass over a bucket of millions.
            logger.info("near-duplicates: not looked for in a manifest (that needs every image decoded first); split stratified by labels")
        elif split == "grouped":
            groups = near_duplicate_groups(data.images, duplicate_radius)
            logger.info(
                "near-duplicates: %d groups holding %d images (hashes within %d bits); each group stays on one side",
                groups.duplicate_groups,
                groups.images_in_duplicate_groups,
                duplicate_radius,
            )

        targets = task_spec.encode(binarizer, data.label_sets)

        fold_reports = None
        if folds is not None:
            fold_reports = cross_validate(
                data.inputs, targets, data.label_sets, task_spec, classes, recipe, folds, groups, verbose, backgrounds
            )
            rows = summarize_folds(fold_reports)
            write_csv(rows, folds_csv_path(model_path))
            mean, std = rows[-2], rows[-1]
            logger.info("cross-validation over %d folds (mean +- std):", folds)
            for name in SUMMARY_METRICS:
                logger.info("  %-12s %.4f +- %.4f", name, mean[name], std[name])
            logger.info("wrote %s; now training the model to save on the %s split", folds_csv_path(model_path), split)

        train_index, val_index = split_indices(data.label_sets, val_split, seed, groups)
        logger.info("split (%s): %d training, %d validation images", split, len(train_index), len(val_index))
        model, history, probabilities, diagnosis = _fit(
            data.inputs,
            targets,
            train_index,
            val_index,
            task_spec,
            classes,
            recipe,
            metrics_csv_path(model_path),
            verbose,
            run,
            backgrounds,
        )

        true = task_spec.label_probabilities(targets[val_index]).astype("int64")
        thresholds = tune_thresholds(true, probabilities) if task_spec.name == "multilabel" else None
        group_indices = None if label_groups is None else [[classes.index(label) for label in group] for group in label_groups]
        decodings = named_decodings(task_spec.name, thresholds, group_indices)
        reports = {
            name: evaluate_predictions(true, task_spec.decode(probabilities, **options), classes, probabilities)
            for name, options in decodings.items()
        }
        logger.info("validation (%d images):", len(val_index))
        for name, report in reports.items():
            logger.info("  %-22s %s", name, format_report(report)[0])
        # The grouped head decodes one label per group; thresholds, tuned all the same, only serve --decode threshold.
        stored = GROUPS if head == "grouped" else TUNED if thresholds is not None else next(iter(decodings))
        for line in format_report(reports[stored])[1:]:
            logger.info("  %s", line)
        if thresholds is not None:
            logger.info("  thresholds (max F1 per label): %s", ", ".join(f"{c} {t:.2f}" for c, t in zip(classes, thresholds)))

        metadata = {
            # The same id goes into the ONNX export, so that classify.py runs the export only for this model.
            RUN_ID: new_run_id(),
            "task": task_spec.name,
            "classes": classes,
            # A feature table has no images.
            "image_size": None if data.images is None else image_size,
            **data.metadata,
            "channel_order": config.CHANNEL_ORDER,
            "label_sep": label_sep,
            "normalize": normalize,
            "init": init,
            "precision": precision,
            "epochs_trained": len(history["loss"]),
            "threshold": config.THRESHOLD,
            "thresholds": None if thresholds is None else {c: float(t) for c, t in zip(classes, thresholds)},
            "label_groups": label_groups,
            # Calibrated on the validation images, like the thresholds (see pyimagesearch/inference/unknown.py).
            "unknown": fit_unknown_detector(
                model,
                data.inputs,
                targets,
                train_index,
                val_index,
                task_spec.name,
                classes,
                label_groups,
                colour_group=task_spec.colour_group,
                pretrained=recipe.weights is not None,
                seed=seed,
            ),
            "head": head,
            "recolour": [classes[index] for index in recipe.recolour_labels],
            "background": backgrounds is not None,
            "colour_branch": task_spec.colour_group is not None,
            "arch": arch,
            "alpha": recipe.alpha,
            "weights": weights,
            "fine_tune": {
                "layers": fine_tune_layers,
                "lr": fine_tune_lr,
                "epochs_trained": history["phase"].count(2),
            }
            if recipe.fine_tunes
            else None,
            "split": {"kind": split, "duplicate_groups": None if groups is None else groups.duplicate_groups},
            "validation": {"images": len(val_index), **{name: reports[stored][name] for name in SUMMARY_METRICS}},
        }
        save_model(model, model_path, metadata)
        save_labelbin(binarizer, labelbin_path)
        plot_history(history, plot_path, list(dict.fromkeys([*(m.name for m in task_spec.metrics()), "exact_match", "macro_f1"])))
        logger.info("wrote %s, %s, %s, %s", model_path, labelbin_path, plot_path, metrics_csv_path(model_path))
        return TrainingResult(model, binarizer, task_spec, history, reports[stored], reports, metadata, fold_reports, diagnosis)


def _one_of_each_first(label_sets: list[tuple[str, ...]], count: int, seed: int) -> list[int]:
    """``count`` indices taking each label combination in turn, so a few images cover them all."""
    rng = np.random.default_rng(seed)
    by_combination: dict[tuple[str, ...], list[int]] = {}
    for index in rng.permutation(len(label_sets)):
        by_combination.setdefault(tuple(sorted(label_sets[index])), []).append(int(index))
    queues = [by_combination[key] for key in sorted(by_combination)]
    chosen: list[int] = []
    while len(chosen) < count and any(queues):
        chosen.extend(queue.pop() for queue in queues if queue and len(chosen) < count)
    return chosen


def check_overfit(
    dataset_dir: str | os.PathLike,
    *,
    images: int = config.OVERFIT_CHECK_IMAGES,
    learning_rate: float = config.LEARNING_RATE,
    image_size: int = config.IMAGE_SIZE,
    seed: int = config.SEED,
    label_sep: str = config.LABEL_SEP,
    task: str = "auto",
    normalize: str = config.NORMALIZE,
    init: str = config.INIT,
    head: str = config.HEAD,
    colour_branch: str = config.COLOUR_BRANCH,
    arch: str = config.ARCH,
    alpha: float | None = None,
    weights: str | None = None,
) -> OverfitResult:
    """The overfit check on ``images`` images of the data set: can this set-up memorise them?

    Builds the network that training would (head, loss, normalisation, initialisation) without
    dropout, and trains it on a few images, one of each label combination in turn, without
    augmentation, at a constant learning rate (see `overfit.overfit_check`). Writes nothing.

    Raises:
        ValueError: For bad arguments or unusable data.
    """
    if images < 1:
        raise ValueError(f"--overfit-check needs at least 1 image (e.g. 10). Received: {images}")
    _check_arguments(Recipe(1, learning_rate, 1, image_size, config.SCHEDULE, seed, normalize, init, arch=arch), config.SPLIT, None)
    if is_feature_table(dataset_dir):
        raise ValueError(
            f"--overfit-check samples images from a folder; --dataset {dataset_dir} is a feature table: "
            "train on it without --overfit-check."
        )
    weights = resolve_weights(arch, weights, alpha)
    alpha = resolve_alpha(arch, alpha, weights)
    paths, label_sets, _ = find_labelled_images(dataset_dir, label_sep)
    binarizer = fit_binarizer(label_sets)
    label_groups = infer_label_groups([path.parent.name for path in paths], label_sep)
    task_spec, head = task_with_head(
        _dataset_task(dataset_dir, label_sets, task), head, list(binarizer.classes_), label_groups, colour_branch, arch
    )
    chosen = _one_of_each_first(label_sets, images, seed)
    pixels, kept, _ = load_images([paths[i] for i in chosen], image_size)
    inputs = extract_features(pixels) if arch == MLP else pixels
    if len(kept) < 1:
        raise ValueError(f"--dataset {dataset_dir}: none of the {len(chosen)} images chosen could be decoded.")
    labels_of = {paths[i]: label_sets[i] for i in chosen}
    targets = task_spec.encode(binarizer, [labels_of[path] for path in kept])
    logger.info(
        "overfit check: %d images, %s task, %s head, --normalize %s, --init %s, --lr %g, no dropout, no augmentation",
        len(kept),
        task_spec.name,
        head,
        normalize,
        init,
        learning_rate,
    )
    keras.utils.set_random_seed(seed)

    def build() -> keras.Model:
        return build_classifier(
            task_spec,
            len(binarizer.classes_),
            image_size,
            keras.optimizers.Adam(learning_rate),
            train_images=inputs,
            normalize=normalize,
            init=init,
            dropout=False,
            arch=arch,
            alpha=alpha,
            weights=weights,
        )

    return overfit_check(build, inputs, targets)
