"""Training a classifier on a labelled image folder and writing the tutorial's three outputs (and the ONNX export)."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.atomic import write_csv
from pyimagesearch.data.backgrounds import BackgroundReplacement, build_background_replacement, resolve_background
from pyimagesearch.data.dataset import unreadable_rows_reported
from pyimagesearch.data.inputs import TrainingData, load_training_data
from pyimagesearch.data.labels import fit_binarizer, infer_label_groups
from pyimagesearch.data.manifest import is_manifest
from pyimagesearch.data.recolouring import resolve_recolour
from pyimagesearch.data.splitting import DuplicateGroups, identical_row_groups, near_duplicate_groups, split_indices
from pyimagesearch.evaluation.metrics import SUMMARY_METRICS, evaluate_predictions, format_report
from pyimagesearch.inference.decoding import named_decodings, resolve_decoding
from pyimagesearch.inference.unknown import fit_unknown_detector
from pyimagesearch.models.backbones import backbone_summary
from pyimagesearch.models.build import task_with_head
from pyimagesearch.models.registry import network
from pyimagesearch.models.tasks import Task
from pyimagesearch.training.cross_validation import cross_validate, folds_csv_path, summarize_folds
from pyimagesearch.training.diagnosis import Diagnosis
from pyimagesearch.training.distribution import is_chief, scratch_folder
from pyimagesearch.training.fit import fit_model
from pyimagesearch.training.monitoring import metrics_csv_path
from pyimagesearch.training.options import TrainOptions
from pyimagesearch.training.outputs import model_metadata, write_outputs
from pyimagesearch.training.recipe import Labelling, Recipe, RunContext, check_options, dataset_task, recipe_of, resolve_export
from pyimagesearch.training.resolve import resolve_batch_size, resolve_jit_compile
from pyimagesearch.training.thresholds import tune_thresholds

logger = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """What a training run produced: the model, its labels and how well it did on validation.

    Attributes:
        report: Validation metrics of the saved model with its stored decoding (one label per
            group for the grouped head, tuned thresholds for other multi-label heads);
            ``reports`` has every decoding's.
        fold_reports: Validation metrics of each cross-validation fold, if ``folds`` was given.
        diagnosis: What the health check saw if it fired, else None.
        onnx_path: The ONNX export written beside the model, if any.
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
    onnx_path: Path | None = None


def train(
    options: TrainOptions,
    *,
    strategy: Any = None,
    progress: Callable | None = None,
    verbose: int | str = "auto",
) -> TrainingResult:
    """Train the network ``options`` names on its data set; write the model, labelbin, plot and ONNX export.

    The stages: check every option before any work; load the data set; read its labels; log the
    set-up; find near-duplicates; cross-validate (``folds``); fit on the split; score every
    decoding on validation; write the outputs atomically.

    Args:
        options: Every option of the run (`TrainOptions`; train.py's flags, one for one).
        strategy: The `tf.distribute.Strategy` to train under (`distribution.create_strategy`);
            ``batch_size`` is then per replica. Only the chief writes the outputs. Defaults to None,
            TensorFlow's default strategy.
        progress: Optional iterable wrapper (e.g. ``tqdm``) showing image loading.
        verbose: Keras' ``fit`` verbosity. Defaults to ``"auto"``.

    Returns:
        A `TrainingResult`; the files are written atomically once training has finished.

    Raises:
        ValueError: For bad options, unusable data, or a task the labels contradict.
        TrainingStalled: When the health check stopped training.
    """
    check_options(options)
    recipe = recipe_of(options)
    outputs = options.outputs
    export = resolve_export(outputs.export, recipe.arch)
    run = RunContext(strategy, options.run.work_dir, options.run.resume, options.run.logdir)
    run.check_resumable(recipe)
    replaces_backgrounds = resolve_background(options.fitting.background, recipe.arch)

    # A file that cannot be decoded when a batch needs it stops training in one line, not in TensorFlow's traceback.
    with scratch_folder(is_chief(strategy)) as scratch, unreadable_rows_reported():
        if scratch is not None:
            # Not the chief: the same training and saving, into a folder that is then removed.
            outputs = replace(outputs, **{name: scratch / Path(getattr(outputs, name)).name for name in ("model", "labelbin", "plot")})
            run = replace(run, scratch=scratch)
            export = False
        data = load_training_data(
            options.data.dataset,
            recipe.arch,
            recipe.image_size,
            label_sep=options.data.label_sep,
            label_column=options.data.label_column,
            progress=progress,
            cache=options.data.cache,
            cache_dir=options.data.cache_dir,
        )
        labelling = _labelling(options, data)
        recipe = _finish_recipe(recipe, options, data, labelling)
        _log_set_up(options, recipe, data, labelling)
        backgrounds = build_background_replacement(data.inputs, seed=recipe.seed) if replaces_backgrounds else None
        _log_backgrounds(backgrounds)
        groups = _duplicate_groups(options, data)
        targets = labelling.task.encode(labelling.binarizer, data.label_sets)
        fold_reports = None
        if options.data.folds is not None:
            fold_reports = _cross_validate(options, recipe, data, labelling, targets, groups, backgrounds, verbose)

        train_index, val_index = split_indices(data.label_sets, options.data.val_split, recipe.seed, groups)
        logger.info("split (%s): %d training, %d validation images", options.data.split, len(train_index), len(val_index))
        model, history, probabilities, diagnosis = fit_model(
            data.inputs,
            targets,
            train_index,
            val_index,
            labelling.task,
            labelling.classes,
            recipe,
            metrics_csv_path(outputs.model),
            verbose,
            run,
            backgrounds,
        )
        true = labelling.task.label_probabilities(targets[val_index]).astype("int64")
        thresholds, reports, stored = _validation_reports(labelling, true, probabilities)
        metadata = {
            **model_metadata(options, recipe, data, labelling, history, thresholds, groups, reports[stored], len(val_index), backgrounds),
            # Calibrated on the validation images, like the thresholds (see pyimagesearch/inference/unknown.py).
            "unknown": fit_unknown_detector(
                model,
                data.inputs,
                targets,
                train_index,
                val_index,
                labelling.task.name,
                labelling.classes,
                labelling.groups,
                colour_group=labelling.task.colour_group,
                pretrained=recipe.weights is not None,
                seed=recipe.seed,
            ),
        }
        onnx_path = write_outputs(outputs, export, model, labelling, history, metadata)
        return TrainingResult(
            model, labelling.binarizer, labelling.task, history, reports[stored], reports, metadata, fold_reports, diagnosis, onnx_path
        )


def _labelling(options: TrainOptions, data: TrainingData) -> Labelling:
    """The labels of ``data`` and the task and head that read them, as ``options`` ask."""
    binarizer = fit_binarizer(data.label_sets)
    classes = [str(label) for label in binarizer.classes_]
    groups = infer_label_groups(data.label_names, options.data.label_sep)
    task, head = task_with_head(
        dataset_task(options.data.dataset, data.label_sets, options.data.task),
        options.network.head,
        classes,
        groups,
        options.network.colour_branch,
        options.network.arch,
    )
    return Labelling(binarizer, classes, groups, task, head)


def _finish_recipe(recipe: Recipe, options: TrainOptions, data: TrainingData, labelling: Labelling) -> Recipe:
    """``recipe`` with the choices that need the data set: the colours recolouring swaps and the batch size."""
    recolour_labels = resolve_recolour(
        options.fitting.recolour if network(recipe.arch).over_images else "off",
        labelling.head,
        labelling.classes,
        labelling.groups,
        colour_branch=labelling.task.colour_group is not None,
        pretrained=recipe.weights is not None,
    )
    # The training split's size, as split_indices will make it, decides --batch-size auto.
    batch_size = resolve_batch_size(recipe.batch_size, round(len(data.label_sets) * (1 - options.data.val_split)))
    return replace(recipe, recolour_labels=recolour_labels, batch_size=batch_size)


def _log_set_up(options: TrainOptions, recipe: Recipe, data: TrainingData, labelling: Labelling) -> None:
    """What training found and chose: the data set, the arithmetic, the network, the task and head."""
    for line in data.lines:
        logger.info(line)
    logger.info(
        "%s held: %s (`cache` %s); batch size %d; precision %s; XLA %s",
        "images" if data.images is not None else "rows",
        data.cache,
        options.data.cache,
        recipe.batch_size,
        recipe.precision,
        {"auto": "as Keras decides (on GPUs only)", True: "on", False: "off"}[resolve_jit_compile(recipe.jit_compile)],
    )
    task, classes = labelling.task, labelling.classes
    entry = network(recipe.arch)
    if not entry.over_images:
        logger.info(
            "network: MLP, %d features -> %s ReLU units -> %s, dropout %g",
            data.inputs.shape[1],
            " -> ".join(map(str, config.MLP_HIDDEN)),
            task.output_units(len(classes)),
            config.MLP_DROPOUT,
        )
    elif entry.pretrained:
        logger.info(
            "network: %s%s",
            backbone_summary(recipe.arch, recipe.alpha, recipe.weights),
            f"; then fine-tuning its top {recipe.fine_tune_layers} layers for {recipe.fine_tune_epochs} epochs"
            if recipe.fine_tunes
            else "",
        )
    logger.info(
        "task: %s (%s head: %s, %s)%s%s",
        task.name,
        labelling.head,
        task.activation,
        getattr(task.loss, "__name__", task.loss),
        f"; colour branch for {', '.join(labelling.groups[task.colour_group])}, grey shape branch for the rest"
        if task.colour_group is not None
        else "",
        f"; recolouring {', '.join(classes[i] for i in recipe.recolour_labels)}" if recipe.recolour_labels else "",
    )


def _log_backgrounds(backgrounds: BackgroundReplacement | None) -> None:
    if backgrounds is not None:
        logger.info(
            "backgrounds: %s; %d%% of those replaced in each epoch by colour fields, gradients or clutter, reframed",
            "segmented batch by batch (images streamed)"
            if backgrounds.masks is None
            else f"{backgrounds.plain_count} of {len(backgrounds.masks)} images have a plain one",
            round(100 * backgrounds.probability),
        )


def _duplicate_groups(options: TrainOptions, data: TrainingData) -> DuplicateGroups | None:
    """The groups of identical rows or near-duplicate images the grouped split keeps on one side; None for none."""
    if options.data.split != "grouped":
        return None
    if data.images is None:
        groups = identical_row_groups(data.inputs)
        logger.info(
            "identical rows: %d groups holding %d rows; each group stays on one side",
            groups.duplicate_groups,
            groups.images_in_duplicate_groups,
        )
        return groups
    if is_manifest(options.data.dataset):
        # Hashing needs every image decoded before training: a pass over a bucket of millions.
        logger.info("near-duplicates: not looked for in a manifest (that needs every image decoded first); split stratified by labels")
        return None
    groups = near_duplicate_groups(data.images, options.data.duplicate_radius)
    logger.info(
        "near-duplicates: %d groups holding %d images (hashes within %d bits); each group stays on one side",
        groups.duplicate_groups,
        groups.images_in_duplicate_groups,
        options.data.duplicate_radius,
    )
    return groups


def _cross_validate(
    options: TrainOptions,
    recipe: Recipe,
    data: TrainingData,
    labelling: Labelling,
    targets: np.ndarray,
    groups: DuplicateGroups | None,
    backgrounds: BackgroundReplacement | None,
    verbose: int | str,
) -> list[dict[str, Any]]:
    """Cross-validate on ``options.data.folds`` folds; write and log their summary; return each fold's report."""
    folds = options.data.folds
    fold_reports = cross_validate(
        data.inputs, targets, data.label_sets, labelling.task, labelling.classes, recipe, folds, groups, verbose, backgrounds
    )
    rows = summarize_folds(fold_reports)
    path = folds_csv_path(options.outputs.model)
    write_csv(rows, path)
    mean, std = rows[-2], rows[-1]
    logger.info("cross-validation over %d folds (mean +- std):", folds)
    for name in SUMMARY_METRICS:
        logger.info("  %-12s %.4f +- %.4f", name, mean[name], std[name])
    logger.info("wrote %s; now training the model to save on the %s split", path, options.data.split)
    return fold_reports


def _validation_reports(
    labelling: Labelling, true: np.ndarray, probabilities: np.ndarray
) -> tuple[np.ndarray | None, dict[str, dict[str, Any]], str]:
    """Tune the thresholds (multi-label), score every decoding on validation and log them.

    Returns:
        ``(thresholds, reports, stored)``: the tuned thresholds (None but for multi-label), every
        decoding's report by name, and the name of the decoding the model stores.
    """
    task, classes = labelling.task, labelling.classes
    thresholds = tune_thresholds(true, probabilities) if task.name == "multilabel" else None
    group_indices = None if labelling.groups is None else [[classes.index(label) for label in group] for group in labelling.groups]
    decodings = named_decodings(task.name, thresholds, group_indices)
    reports = {
        name: evaluate_predictions(true, task.decode(probabilities, **decoding), classes, probabilities)
        for name, decoding in decodings.items()
    }
    logger.info("validation (%d images):", len(true))
    for name, report in reports.items():
        logger.info("  %-22s %s", name, format_report(report)[0])
    # The grouped head decodes one label per group; thresholds, tuned all the same, only serve --decode threshold.
    stored = resolve_decoding(task.name, len(classes), thresholds, group_indices, labelling.head).name
    for line in format_report(reports[stored])[1:]:
        logger.info("  %s", line)
    if thresholds is not None:
        logger.info("  thresholds (max F1 per label): %s", ", ".join(f"{c} {t:.2f}" for c, t in zip(classes, thresholds)))
    return thresholds, reports, stored
