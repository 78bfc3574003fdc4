"""What a training run leaves behind: the model's metadata, and the model, labelbin, plot and ONNX
export written, each atomically."""

import logging
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.data.backgrounds import BackgroundReplacement
from pyimagesearch.data.inputs import TrainingData
from pyimagesearch.data.splitting import DuplicateGroups
from pyimagesearch.evaluation.metrics import SUMMARY_METRICS
from pyimagesearch.evaluation.plotting import plot_history
from pyimagesearch.inference.model_files import RUN_ID, default_onnx_path, new_run_id
from pyimagesearch.inference.model_io import save_labelbin, save_model
from pyimagesearch.training.monitoring import metrics_csv_path
from pyimagesearch.training.options import OutputOptions, TrainOptions
from pyimagesearch.training.recipe import Labelling, Recipe

logger = logging.getLogger(__name__)


def model_metadata(
    options: TrainOptions,
    recipe: Recipe,
    data: TrainingData,
    labelling: Labelling,
    history: dict[str, list[float]],
    thresholds: np.ndarray | None,
    groups: DuplicateGroups | None,
    report: dict[str, Any],
    validation_images: int,
    backgrounds: BackgroundReplacement | None,
) -> dict[str, Any]:
    """What the model file keeps about its training, for classification and for the record."""
    classes = labelling.classes
    return {
        # The same id goes into the ONNX export, so that classify.py runs the export only for this model.
        RUN_ID: new_run_id(),
        "task": labelling.task.name,
        "classes": classes,
        # A feature table has no images.
        "image_size": None if data.images is None else recipe.image_size,
        **data.metadata,
        "channel_order": config.CHANNEL_ORDER,
        "label_sep": options.data.label_sep,
        "normalize": recipe.normalize,
        "init": recipe.init,
        "precision": recipe.precision,
        "epochs_trained": len(history["loss"]),
        "threshold": config.THRESHOLD,
        "thresholds": None if thresholds is None else {c: float(t) for c, t in zip(classes, thresholds)},
        "label_groups": labelling.groups,
        "head": labelling.head,
        "recolour": [classes[index] for index in recipe.recolour_labels],
        "background": backgrounds is not None,
        "colour_branch": labelling.task.colour_group is not None,
        "arch": recipe.arch,
        "alpha": recipe.alpha,
        "weights": recipe.weights,
        "fine_tune": (
            {"layers": recipe.fine_tune_layers, "lr": recipe.fine_tune_lr, "epochs_trained": history["phase"].count(2)}
            if recipe.fine_tunes
            else None
        ),
        "split": {"kind": options.data.split, "duplicate_groups": None if groups is None else groups.duplicate_groups},
        "validation": {"images": validation_images, **{name: report[name] for name in SUMMARY_METRICS}},
        # Every option as given (paths as text), so that a model says how it was trained.
        "options": {name: os.fspath(value) if isinstance(value, os.PathLike) else value for name, value in options.flat().items()},
    }


def write_outputs(
    outputs: OutputOptions,
    export: bool,
    model: keras.Model,
    labelling: Labelling,
    history: dict[str, list[float]],
    metadata: dict[str, Any],
) -> Path | None:
    """Write the model, labelbin and plot, each atomically, then the ONNX export if asked; returns the export's path."""
    save_model(model, outputs.model, metadata)
    save_labelbin(labelling.binarizer, outputs.labelbin)
    plot_history(history, outputs.plot, list(dict.fromkeys([*(m.name for m in labelling.task.metrics()), "exact_match", "macro_f1"])))
    logger.info("wrote %s, %s, %s, %s", outputs.model, outputs.labelbin, outputs.plot, metrics_csv_path(outputs.model))
    if not export:
        return None
    from pyimagesearch.inference.onnx_export import export_model_onnx

    return export_model_onnx(model, metadata, default_onnx_path(outputs.model))
