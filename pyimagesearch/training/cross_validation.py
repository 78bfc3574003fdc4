"""Cross-validation: one model per fold, each scored on its held-out fold, and the folds' summary."""

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from pyimagesearch.data.backgrounds import BackgroundReplacement
from pyimagesearch.data.splitting import DuplicateGroups, fold_indices
from pyimagesearch.evaluation.metrics import SUMMARY_METRICS, evaluate_predictions, format_report
from pyimagesearch.models.tasks import Task
from pyimagesearch.training.fit import (
    fit_model,
)
from pyimagesearch.training.recipe import Recipe

logger = logging.getLogger(__name__)


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
        _, _, probabilities, _ = fit_model(
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
