"""Training a classifier on a labelled image folder and writing the tutorial's three outputs."""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras

from pyimagesearch import config
from pyimagesearch.atomic import write_csv
from pyimagesearch.data.backgrounds import build_background_replacement, resolve_background
from pyimagesearch.data.dataset import unreadable_rows_reported
from pyimagesearch.data.inputs import load_training_data
from pyimagesearch.data.labels import fit_binarizer, infer_label_groups
from pyimagesearch.data.manifest import is_manifest
from pyimagesearch.data.recolouring import resolve_recolour
from pyimagesearch.data.splitting import identical_row_groups, near_duplicate_groups, split_indices
from pyimagesearch.evaluation.metrics import SUMMARY_METRICS, evaluate_predictions, format_report
from pyimagesearch.evaluation.plotting import plot_history
from pyimagesearch.inference.decoding import GROUPS, TUNED, named_decodings
from pyimagesearch.inference.model_files import RUN_ID, new_run_id
from pyimagesearch.inference.model_io import save_labelbin, save_model
from pyimagesearch.inference.unknown import fit_unknown_detector
from pyimagesearch.models.backbones import (
    SMALLERVGGNET,
    backbone_summary,
    resolve_alpha,
    resolve_weights,
)
from pyimagesearch.models.build import task_with_head
from pyimagesearch.models.mlp import MLP
from pyimagesearch.models.tasks import Task
from pyimagesearch.training.cross_validation import cross_validate, folds_csv_path, summarize_folds
from pyimagesearch.training.distribution import is_chief, scratch_folder
from pyimagesearch.training.fit import fit_model
from pyimagesearch.training.health import Diagnosis
from pyimagesearch.training.monitoring import metrics_csv_path
from pyimagesearch.training.recipe import Recipe, RunOptions, check_outputs, check_recipe, dataset_task
from pyimagesearch.training.resolve import resolve_batch_size, resolve_epochs, resolve_jit_compile, resolve_precision
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
    check_recipe(recipe, split, folds, duplicate_radius)
    check_outputs(model=model_path, labelbin=labelbin_path, plot=plot_path)
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
        task_spec, head = task_with_head(dataset_task(dataset_dir, data.label_sets, task), head, classes, label_groups, colour_branch, arch)
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
        model, history, probabilities, diagnosis = fit_model(
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
