"""What one training run is: its recipe (the hyperparameters), its labelling, where it runs, and
the checks of both before any work. Nothing here loads TensorFlow at import: train.py checks its
options (`check_options`) in a fraction of a second, before it loads."""

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyimagesearch import config
from pyimagesearch.data.backgrounds import resolve_background
from pyimagesearch.data.inputs import check_dataset
from pyimagesearch.data.labels import resolve_task
from pyimagesearch.models.normalization import NORMALIZATIONS, kernel_initializer
from pyimagesearch.models.registry import MIN_IMAGE_SIZE, SMALLERVGGNET, network
from pyimagesearch.training.options import TrainOptions
from pyimagesearch.training.resolve import check_precision, resolve_batch_size, resolve_epochs, resolve_jit_compile, resolve_precision

if TYPE_CHECKING:
    from pyimagesearch.models.tasks import Task

# Inside --work-dir: Keras' BackupAndRestore folder, and phase 1's end while fine-tuning runs (`fit.PhaseOne`).
BACKUP_FOLDER = "backup"
PHASE_ONE_FOLDER = "phase1"


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
class RunContext:
    """Where one training runs (its strategy, the chief's folder or a worker's scratch) and what it keeps
    besides its outputs (see `distribution`).

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
            raise ValueError("`resume` needs `work_dir`: the folder the interrupted run backed up to (e.g. `work_dir` run1).")
        if self.work_dir is not None and Path(self.work_dir).is_file():
            raise ValueError(f"`work_dir` {self.work_dir} is a file: give a folder (created if missing).")
        # Keras' backup would silently resume an older run, and its phase 1 would follow a later --resume.
        left = [name for name in (BACKUP_FOLDER, PHASE_ONE_FOLDER) if self.work_dir is not None and (Path(self.work_dir) / name).exists()]
        if left and not self.resume:
            raise ValueError(
                f"`work_dir` {self.work_dir} holds an interrupted run ({', '.join(left)}): "
                "add `resume` to continue it, or give another folder."
            )

    def check_resumable(self, recipe: "Recipe") -> None:
        """Raise `ValueError` when ``resume`` would train no epoch: the interrupted run has already
        finished the total that ``recipe.epochs`` (or, once it is fine-tuning, ``recipe.fine_tune_epochs``)
        now asks for, or it was fine-tuning and ``recipe`` no longer fine-tunes. Resuming may change
        those totals; the learning rate schedule then spans the new total."""
        if not self.resume:
            return
        work_dir = Path(self.work_dir)
        done = backed_up_epochs(work_dir)
        phase_one = work_dir / PHASE_ONE_FOLDER / "state.json"
        if phase_one.is_file():
            if not recipe.fine_tunes:
                raise ValueError(
                    f"`work_dir` {self.work_dir} holds a run stopped while fine-tuning: keep `fine_tune_epochs` "
                    "and `fine_tune_layers` above 0 to resume it, or give another folder."
                )
            head_epochs = len(json.loads(phase_one.read_text())["history"]["loss"])
            if done >= head_epochs + recipe.fine_tune_epochs:
                raise ValueError(
                    f"`fine_tune_epochs` {recipe.fine_tune_epochs}: the run in `work_dir` {self.work_dir} has already "
                    f"fine-tuned {done - head_epochs} epochs; give more to resume it."
                )
        elif done >= recipe.epochs:
            raise ValueError(
                f"`epochs` {recipe.epochs}: the run in `work_dir` {self.work_dir} has already trained {done} epochs; "
                "give more to resume it."
            )


def backed_up_epochs(work_dir: str | os.PathLike) -> int:
    """The epochs the backup in ``work_dir`` has finished, both phases counted (0 without a backup, or
    while a running training removes it between its phases). The backup is written atomically."""
    try:
        return json.loads((Path(work_dir) / BACKUP_FOLDER / "training_metadata.json").read_text())["epoch"]
    except FileNotFoundError:
        return 0


def check_options(options: TrainOptions) -> None:
    """Every check of ``options`` that needs neither TensorFlow nor the data set's contents: the recipe's
    values, that ``dataset`` is there, the output files, ``work_dir`` and ``resume``, and the options
    ``arch`` contradicts. train.py runs it before loading TensorFlow, so that a mistyped flag is
    refused at once; `pipeline.train` runs it first. The weights file, and ``resume`` against the
    backup, are checked by `recipe_of` and `RunContext.check_resumable`.

    Raises:
        ValueError: Naming the option that cannot train, and the fix.
    """
    recipe = _unresolved_recipe(options)
    check_recipe(recipe, options.data.split, options.data.folds, options.data.duplicate_radius)
    check_dataset(options.data.dataset)
    outputs = options.outputs
    check_outputs(model=outputs.model, labelbin=outputs.labelbin, plot=outputs.plot)
    resolve_export(outputs.export, recipe.arch)
    RunContext(work_dir=options.run.work_dir, resume=options.run.resume).check()
    if not network(recipe.arch).over_images and options.fitting.recolour == "on":
        raise ValueError(
            f"`recolour` on paints training images; `arch` {recipe.arch} trains on features computed once from them: drop `recolour`."
        )
    resolve_background(options.fitting.background, recipe.arch)


def resolve_export(export: bool | None, arch: str) -> bool:
    """Whether training writes the ONNX export: ``export``, or when None, for every network over images.

    Raises:
        ValueError: For a network over features (the MLP) with ``export`` on.
    """
    over_images = network(arch).over_images
    if export and not over_images:
        raise ValueError(
            f"`export` writes networks over images as ONNX; `arch` {arch} computes its features outside the network: drop `export`."
        )
    return over_images if export is None else export


def recipe_of(options: TrainOptions) -> Recipe:
    """The recipe of ``options``: its automatic choices resolved (precision, epochs, weights, alpha; the
    batch size once the data set's size is known) and every value checked. Resolving ``precision``
    auto, or a weights file, loads TensorFlow.

    Raises:
        ValueError: For a value out of range or a combination that cannot train.
    """
    from pyimagesearch.models.backbones import resolve_alpha, resolve_weights

    recipe = _unresolved_recipe(options)
    check_recipe(recipe, options.data.split, options.data.folds, options.data.duplicate_radius)
    # Resolved once: "auto" asks the devices and /proc/cpuinfo.
    recipe = replace(recipe, precision=resolve_precision(recipe.precision, recipe.arch))
    weights = resolve_weights(recipe.arch, options.network.weights, options.network.alpha)
    return replace(recipe, weights=weights, alpha=resolve_alpha(recipe.arch, options.network.alpha, weights))


def _unresolved_recipe(options: TrainOptions) -> Recipe:
    """The recipe of ``options`` as given: precision, weights and alpha not resolved, nothing checked."""
    data, network, fitting = options.data, options.network, options.fitting
    return Recipe(
        resolve_epochs(fitting.epochs, network.arch, network.weights),
        fitting.lr,
        fitting.batch_size,
        data.image_size,
        fitting.schedule,
        fitting.seed,
        network.normalize,
        network.init,
        fitting.stop_on_stall,
        fitting.patience or None,
        fitting.precision,
        fitting.jit_compile,
        arch=network.arch,
        fine_tune_layers=fitting.fine_tune_layers,
        fine_tune_epochs=fitting.fine_tune_epochs,
        fine_tune_lr=fitting.fine_tune_lr,
    )


def check_recipe(recipe: Recipe, split: str, folds: int | None, duplicate_radius: int = config.DUPLICATE_RADIUS) -> None:
    """Raise `ValueError` naming the option of ``recipe`` (or the data options) that cannot train."""
    if recipe.epochs < 1:
        raise ValueError(f"`epochs` must be at least 1. Received: {recipe.epochs}")
    if not recipe.learning_rate > 0:
        raise ValueError(f"`lr` must be positive, e.g. 1e-3. Received: {recipe.learning_rate}")
    resolve_batch_size(recipe.batch_size, 0)
    if recipe.image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"`image_size` must be at least {MIN_IMAGE_SIZE} pixels. Received: {recipe.image_size}")
    check_schedule(recipe.schedule)
    if recipe.normalize not in NORMALIZATIONS:
        raise ValueError(f"`normalize` must be one of {', '.join(NORMALIZATIONS)}. Received: `normalize` {recipe.normalize}")
    kernel_initializer(recipe.init)
    if split not in config.SPLITS:
        raise ValueError(f"Unknown split: expected one of {', '.join(config.SPLITS)}. Received: `split` {split}")
    if folds is not None and folds < 2:
        raise ValueError(f"`folds` must be at least 2 (e.g. 5). Received: {folds}")
    if duplicate_radius < 0:
        raise ValueError(f"`duplicate_radius` must be 0 or more bits. Received: {duplicate_radius}")
    if recipe.patience is not None and recipe.patience < 1:
        raise ValueError(f"`patience` must be at least 1 epoch, or 0 to train every epoch. Received: {recipe.patience}")
    check_precision(recipe.precision)
    resolve_jit_compile(recipe.jit_compile)
    entry = network(recipe.arch)
    if not entry.over_images and recipe.normalize != config.NORMALIZE:
        raise ValueError(f"`normalize` scales image pixels; `arch` {recipe.arch} standardises its features itself: drop `normalize`.")
    if entry.min_image_size is not None and recipe.image_size < entry.min_image_size:
        raise ValueError(
            f"`image_size` must be at least {entry.min_image_size} pixels for `arch` {recipe.arch}. Received: {recipe.image_size}"
        )
    if recipe.fine_tune_layers < 0 or recipe.fine_tune_epochs < 0:
        raise ValueError(
            "`fine_tune_layers` and `fine_tune_epochs` must be 0 (no fine-tuning) or more. "
            f"Received: {recipe.fine_tune_layers} and {recipe.fine_tune_epochs}"
        )
    if not recipe.fine_tune_lr > 0:
        raise ValueError(f"`fine_tune_lr` must be positive, e.g. 1e-4. Received: {recipe.fine_tune_lr}")


def dataset_task(dataset: str | os.PathLike, label_sets: list[tuple[str, ...]], task: str) -> str:
    """`labels.resolve_task`, its refusal of the labels naming the data set they came from."""
    try:
        return resolve_task(label_sets, task)
    except ValueError as error:
        if str(error).startswith("`task`") or str(error).startswith("Unknown task"):
            raise
        raise ValueError(f"`dataset` {dataset}: {error}") from None


def check_outputs(**paths: str | os.PathLike) -> None:
    # Fail before training, not after an hour of it.
    for name, path in paths.items():
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"`{name}` {path} is an existing folder: give a file name.")
        if not path.parent.exists():
            raise ValueError(f"`{name}` {path}: the folder {path.parent} does not exist; create it first.")
    if len({Path(path).resolve() for path in paths.values()}) < len(paths):
        raise ValueError(f"Output files must differ. Received: {', '.join(f'`{k}` {v}' for k, v in paths.items())}")


def learning_rate_schedule(name: str, learning_rate: float, epochs: int, steps_per_epoch: int):
    """The learning rate over training steps.

    ``"tutorial"`` reproduces Keras 2's ``Adam(decay=lr / epochs)``: lr / (1 + decay * step).
    ``"cosine"`` decays from ``learning_rate`` to zero over all steps.

    Raises:
        ValueError: For an unknown name.
    """
    check_schedule(name)
    import keras

    if name == "tutorial":
        return keras.optimizers.schedules.InverseTimeDecay(learning_rate, decay_steps=1, decay_rate=learning_rate / epochs)
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, epochs * steps_per_epoch))


def check_schedule(name: str) -> None:
    """Raise `ValueError` for a ``schedule`` not in `config.SCHEDULES`."""
    if name not in config.SCHEDULES:
        raise ValueError(f"Unknown schedule: expected one of {', '.join(config.SCHEDULES)}. Received: `schedule` {name}")


@dataclass
class Labelling:
    """The labels of a data set and how the network reads them: the binarizer, the classes, their
    groups (one colour, one type), the task and the head."""

    binarizer: Any
    classes: list[str]
    groups: list[list[str]] | None
    task: "Task"
    head: str
