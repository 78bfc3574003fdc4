"""Fitting one model: the tf.data pipelines, the callbacks (validation metrics, health, backup,
TensorBoard), the frozen phase and fine-tuning, resumable from --work-dir."""

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.atomic import atomic_path, interrupts_deferred
from pyimagesearch.data.augmentation import build_augmentation
from pyimagesearch.data.backgrounds import BackgroundReplacement
from pyimagesearch.data.dataset import ImageFiles, IndexedRows, full_batches, make_dataset
from pyimagesearch.data.recolouring import build_recolouring
from pyimagesearch.models.backbones import (
    backbone_summary,
    set_backbone_trainable,
)
from pyimagesearch.models.build import as_float32, build_classifier, compile_classifier
from pyimagesearch.models.registry import network
from pyimagesearch.models.tasks import Task
from pyimagesearch.training.diagnosis import Diagnosis
from pyimagesearch.training.distribution import lost_workers_reported
from pyimagesearch.training.health import TrainingHealth
from pyimagesearch.training.monitoring import SamplePredictions, ValidationMetrics, read_csv_rows
from pyimagesearch.training.recipe import (
    BACKUP_FOLDER,
    PHASE_ONE_FOLDER,
    Recipe,
    RunContext,
    learning_rate_schedule,
)
from pyimagesearch.training.resolve import pipeline_threads, resolve_jit_compile, resolve_precision

logger = logging.getLogger(__name__)


# Training images the health callback predicts at each epoch's end.
HEALTH_PROBE_IMAGES = 32


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


def fit_model(
    images: "np.ndarray | ImageFiles",
    targets: np.ndarray,
    train_index: np.ndarray,
    val_index: np.ndarray,
    task: Task,
    classes: list[str],
    recipe: Recipe,
    csv_path: str | os.PathLike | None,
    verbose: int | str,
    run: RunContext | None = None,
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

    run = run or RunContext()
    keras.utils.set_random_seed(recipe.seed)
    strategy = run.strategy or tf.distribute.get_strategy()
    # The global batch: each replica trains on recipe.batch_size images of it.
    batch_size = recipe.batch_size * strategy.num_replicas_in_sync
    train_ds, val_ds = _datasets(images, targets, train_index, val_index, classes, recipe, batch_size, strategy, backgrounds)
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
    backup, reporting = run_callbacks(run, strategy, images, targets, val_index, task, classes)
    # The monitor first: it puts val_exact_match into the logs the others read, and the epoch's
    # row into the CSV before the backup says the epoch is done.
    phases = Phases(model, train_ds, strategy, [monitor, health, *backup, *reporting], monitor, health, recipe.patience, verbose)

    phase_one = _phase_one(phases, recipe, run)
    history, diagnosis = phase_one.history, health.diagnosis
    if recipe.fine_tunes:
        history = fine_tune(model, task, recipe, phase_one, phases.fit, monitor, steps_per_epoch, jit_compile)
        diagnosis = health.diagnosis or diagnosis
        if run.work_dir is not None and run.scratch is None:
            shutil.rmtree(Path(run.work_dir) / PhaseOne.FOLDER, ignore_errors=True)
    # The weights kept may be an earlier epoch's (early stopping, or phase 1's): score them afresh.
    model = as_float32(model)
    probabilities = task.label_probabilities(model.predict(val_ds, verbose=0)[: len(val_index)])
    return model, {**history, **monitor.per_label_history}, probabilities, diagnosis


def _datasets(
    images: "np.ndarray | ImageFiles",
    targets: np.ndarray,
    train_index: np.ndarray,
    val_index: np.ndarray,
    classes: list[str],
    recipe: Recipe,
    batch_size: int,
    strategy: Any,
    backgrounds: BackgroundReplacement | None,
) -> tuple[Any, Any]:
    """The training pipeline (augmented, recoloured, backgrounds replaced, sharded across workers) and the
    validation one, in full batches (`data.full_batches`)."""
    import tensorflow as tf

    threads = pipeline_threads()
    recolouring = build_recolouring(classes, recipe.recolour_labels, seed=recipe.seed) if recipe.recolour_labels else None
    train_ds = make_dataset(
        images,
        targets,
        batch_size,
        indices=train_index,
        # The MLP's features are computed once, from the images as they are.
        augmentation=build_augmentation(recipe.seed) if network(recipe.arch).over_images else None,
        shuffle_seed=recipe.seed,
        recolouring=recolouring,
        threads=threads,
        shard=isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
        backgrounds=backgrounds,
    )
    return train_ds, make_dataset(images, targets, batch_size, indices=full_batches(val_index, batch_size), threads=threads)


@dataclass
class Phases:
    """Fits ``model`` for a phase of epochs with the run's callbacks, early stopping and health check."""

    model: keras.Model
    train_ds: Any
    strategy: Any
    callbacks: list[keras.callbacks.Callback]
    monitor: ValidationMetrics
    health: TrainingHealth
    patience: int | None
    verbose: int | str

    def fit(self, first_epoch: int, epochs: int) -> tuple[dict[str, list[float]], keras.callbacks.EarlyStopping | None]:
        """Epochs ``first_epoch + 1`` to ``first_epoch + epochs``; returns the phase's history (from its first
        epoch, a resumed run's earlier ones included) and its early stopping callback, if any.

        Raises:
            TrainingStalled: When the health check stopped training.
        """
        stopper = None
        callbacks = list(self.callbacks)
        if self.patience:
            stopper = keras.callbacks.EarlyStopping(
                monitor="val_exact_match", mode="max", patience=self.patience, restore_best_weights=True
            )
            callbacks.append(stopper)
        # Shuffling happens in the tf.data pipeline, per epoch and seeded; validation in the monitor.
        with self.strategy.scope(), lost_workers_reported():
            history = self.model.fit(
                self.train_ds,
                initial_epoch=first_epoch,
                epochs=first_epoch + epochs,
                shuffle=False,
                callbacks=callbacks,
                verbose=self.verbose,
            ).history
        # A resumed run's history starts where it resumed: prepend the phase's epochs before, as the monitor kept them.
        rows = self.monitor.rows
        earlier = rows[first_epoch : len(rows) - len(history["loss"])]
        history = {key: [row.get(key, np.nan) for row in earlier] + values for key, values in history.items()}
        diagnosis = self.health.diagnosis
        if self.health.stopped:
            raise TrainingStalled(
                f"training stopped at epoch {diagnosis.epoch}: {diagnosis.symptoms[0]} "
                f"(diagnosis above; first thing to try: {diagnosis.causes[0].remedy}). The model was not written."
            )
        if stopper is not None and stopper.best_epoch + 1 != first_epoch + len(history["loss"]):
            logger.info(
                "%s; kept the weights of epoch %d (validation exact-match %.4f)",
                f"early stop after epoch {stopper.stopped_epoch + 1}" if stopper.stopped_epoch else "trained every epoch",
                stopper.best_epoch + 1,
                stopper.best,
            )
        return history, stopper


def run_callbacks(
    run: RunContext,
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

    FOLDER = PHASE_ONE_FOLDER

    def save(self, work_dir: Path) -> None:
        """Write the weights, then the state that names them, each atomically."""
        folder = work_dir / self.FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        with interrupts_deferred(), atomic_path(folder / "state.json") as state, atomic_path(folder / "weights.npz") as weights:
            np.savez(weights, *self.weights)
            state.write_text(json.dumps({"best": float(self.best), "history": self.history}, default=float))

    @classmethod
    def resumed(cls, run: RunContext) -> "PhaseOne | None":
        """Phase 1's end as the interrupted run in ``run.work_dir`` saved it, when resuming; else None."""
        folder = Path(run.work_dir) / cls.FOLDER if run.resume else None
        if folder is None or not (folder / "state.json").is_file():
            return None
        state = json.loads((folder / "state.json").read_text())
        with np.load(folder / "weights.npz") as saved:
            weights = [saved[f"arr_{index}"] for index in range(len(saved.files))]
        return cls(weights, state["best"], state["history"])


def _phase_one(phases: Phases, recipe: Recipe, run: RunContext) -> PhaseOne:
    """Phase 1 (all of training without a pretrained backbone to fine-tune): fitted, or as an
    interrupted run saved it when ``run`` resumes at fine-tuning."""
    phase_one = PhaseOne.resumed(run) if recipe.fine_tunes else None
    if phase_one is not None:
        phases.model.set_weights(phase_one.weights)
        logger.info(
            "resuming at fine-tuning: phase 1 ended after %d epochs (validation exact-match %.4f)",
            len(phase_one.history["phase"]),
            phase_one.best,
        )
        return phase_one
    if recipe.weights is not None:
        logger.info("phase 1: the head on the frozen %s", backbone_summary(recipe.arch, recipe.alpha, recipe.weights))
    history, stopper = phases.fit(0, recipe.epochs)
    history["phase"] = [1] * len(history["loss"])
    best = stopper.best if stopper is not None else history["val_exact_match"][-1]
    phase_one = PhaseOne(phases.model.get_weights() if recipe.fine_tunes else [], best, history)
    if recipe.fine_tunes and run.work_dir is not None:
        phase_one.save(Path(run.scratch or run.work_dir))
    return phase_one


def fine_tune(
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
    compile_classifier(model, task, keras.optimizers.Adam(schedule), jit_compile)
    logger.info(
        "phase 2: fine-tuning the top %d layers of the backbone (batch normalisation frozen) at `fine_tune_lr` %g",
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
