"""The overfit check: can the network and its set-up memorise a handful of images?

Any healthy set-up drives the training loss on ten images to about zero within a few dozen
steps. When it cannot, no amount of data or epochs will help: the head, the loss, the inputs,
the initialisation or the learning rate is wrong. This is the first thing to try when training
does not learn (``train.py --overfit-check 10``).
"""

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.data.dataset import find_labelled_images
from pyimagesearch.data.feature_table import is_feature_table
from pyimagesearch.data.features import extract_features
from pyimagesearch.data.images import load_images
from pyimagesearch.data.labels import fit_binarizer, infer_label_groups
from pyimagesearch.models.build import build_classifier, task_with_head
from pyimagesearch.models.registry import network
from pyimagesearch.training.diagnosis import Diagnosis, inputs_alike, likely_causes
from pyimagesearch.training.options import TrainOptions
from pyimagesearch.training.recipe import dataset_task, recipe_of

# A healthy SmallerVGGNet (no dropout) drives the full-batch loss on 10 images below 0.01 in a
# small fraction of these steps, and all of them take seconds on 2 CPU cores (measured:
# bench/README.md, "Training").
OVERFIT_MAX_STEPS = 150
OVERFIT_TARGET_LOSS = 0.01
# A far too high learning rate hits a loss of 0 now and then between explosions; success needs
# the loss to stay at the target for this many consecutive steps.
OVERFIT_HOLD_STEPS = 10

logger = logging.getLogger(__name__)


@dataclass
class OverfitResult:
    """What `overfit_check` found.

    Attributes:
        success: The loss stayed at or below the target for `OVERFIT_HOLD_STEPS` steps.
        steps: Training steps taken.
        final_loss: The loss of the last step.
        losses: The loss of every step.
        diagnosis: Why it failed; None on success.
    """

    success: bool
    steps: int
    final_loss: float
    losses: list[float] = field(repr=False)
    diagnosis: Diagnosis | None = None

    def lines(self) -> list[str]:
        """A one-line verdict, followed on failure by the diagnosis."""
        if self.success:
            return [
                f"overfit check passed: loss {self.final_loss:.4g} after {self.steps} steps; the network and its training set-up can learn."
            ]
        verdict = f"overfit check failed: loss {self.final_loss:.4g} after {self.steps} steps."
        return [verdict, *(self.diagnosis.lines() if self.diagnosis else [])]


def overfit_check(
    build_model: Callable[[], keras.Model],
    images: np.ndarray,
    targets: np.ndarray,
    *,
    max_steps: int = OVERFIT_MAX_STEPS,
    target_loss: float = OVERFIT_TARGET_LOSS,
    hold_steps: int = OVERFIT_HOLD_STEPS,
) -> OverfitResult:
    """Train on a few images until the loss is near zero: any healthy set-up can memorise them.

    Each step is one full-batch update, without augmentation; build the model without dropout
    (``SmallerVGGNet.build(..., dropout=False)``) so nothing but the set-up can stop it. On
    failure the loss curve picks the likely causes: NaN or a loss that jumps well above its
    start point to a learning rate too high; a loss that falls, too slowly, to one too low; a
    loss that does not move to the head, the data, normalisation and initialisation.

    Args:
        build_model: Returns a fresh model, compiled with the optimizer and loss of training.
        images: A few training images (e.g. 10), RGB 0-255, of the model's input shape.
        targets: Their encoded targets, of the model's output shape.
        max_steps: Most steps. Defaults to 150.
        target_loss: The loss counted as near zero. Defaults to 0.01.
        hold_steps: Consecutive steps at or below ``target_loss`` for success. Defaults to 10.

    Returns:
        An `OverfitResult`.

    Raises:
        ValueError: For no images, images and targets of different lengths, an uncompiled
            model, or a non-positive ``max_steps`` or ``hold_steps``.

    Example:
        >>> def build():
        ...     model = SmallerVGGNet.build(64, 64, 3, classes=6, finalAct="sigmoid", dropout=False)
        ...     model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        ...     return model
        >>> result = overfit_check(build, images[:10], targets[:10])
        >>> print("\\n".join(result.lines()))
    """
    images, targets = np.asarray(images), np.asarray(targets)
    if len(images) == 0 or len(images) != len(targets):
        raise ValueError(
            f"`overfit_check` needs as many targets as images, at least one. Received: {len(images)} images, {len(targets)} targets"
        )
    if max_steps < 1 or hold_steps < 1:
        raise ValueError(f"max_steps and hold_steps must be positive. Received: {max_steps}, {hold_steps}")
    model = build_model()
    if not model.compiled:
        raise ValueError("overfit_check needs build_model to return a compiled model: call model.compile(...) in it.")
    x, y = images.astype("float32"), targets.astype("float32")
    losses, held = [], 0
    for _ in range(max_steps):
        # train_on_batch resets the metrics, so its loss is this step's (before the update).
        loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
        losses.append(loss)
        if not math.isfinite(loss):
            break
        held = held + 1 if loss <= target_loss else 0
        if held >= hold_steps:
            return OverfitResult(True, len(losses), loss, losses)
    diagnosis = _overfit_diagnosis(model, images, targets, losses, target_loss)
    return OverfitResult(False, len(losses), losses[-1], losses, diagnosis)


def _overfit_diagnosis(model: keras.Model, images: np.ndarray, targets: np.ndarray, losses: list[float], target_loss: float) -> Diagnosis:
    first, final = losses[0], losses[-1]
    alike = inputs_alike(images)
    if not math.isfinite(final):
        symptom, kind = f"the loss became {final} at step {len(losses)}", "high"
    elif max(losses) > 2 * first:
        symptom, kind = f"the loss jumped from {first:.4g} up to {max(losses):.4g}", "high"
    elif min(losses) < 0.5 * first:
        symptom, kind = f"the loss fell from {first:.4g} to {final:.4g}, short of {target_loss:g}", "low"
    else:
        symptom, kind = f"the loss hardly moved: {first:.4g} to {final:.4g}", "flat"
    symptoms = [f"in {len(losses)} steps, {symptom}"]
    causes = likely_causes(
        model,
        learning_rate_first=kind == "high",
        learning_too_slowly=kind == "low" and not alike,
        inputs_alike=alike,
        targets=targets,
    )
    # This is the overfit check: don't suggest running it.
    causes = [cause for cause in causes if "`overfit_check`" not in cause.remedy]
    return Diagnosis(symptoms, causes, title=f"the network cannot fit {len(images)} images")


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


def check_overfit(options: TrainOptions, images: int = config.OVERFIT_CHECK_IMAGES) -> OverfitResult:
    """The overfit check on ``images`` images of ``options``' data set: can this set-up memorise them?

    Builds the network that training would (head, loss, normalisation, initialisation) without
    dropout, and trains it on a few images, one of each label combination in turn, without
    augmentation, at a constant learning rate (see `overfit_check`). Writes nothing.

    Raises:
        ValueError: For bad options or unusable data.
    """
    if images < 1:
        raise ValueError(f"`overfit_check` needs at least 1 image (e.g. 10). Received: {images}")
    recipe = recipe_of(options)
    dataset, label_sep = options.data.dataset, options.data.label_sep
    if is_feature_table(dataset):
        raise ValueError(
            f"`overfit_check` samples images from a folder; `dataset` {dataset} is a feature table: train on it without `overfit_check`."
        )
    paths, label_sets, _ = find_labelled_images(dataset, label_sep)
    binarizer = fit_binarizer(label_sets)
    label_groups = infer_label_groups([path.parent.name for path in paths], label_sep)
    task_spec, head = task_with_head(
        dataset_task(dataset, label_sets, options.data.task),
        options.network.head,
        list(binarizer.classes_),
        label_groups,
        options.network.colour_branch,
        recipe.arch,
    )
    chosen = _one_of_each_first(label_sets, images, recipe.seed)
    pixels, kept, _ = load_images([paths[i] for i in chosen], recipe.image_size)
    inputs = pixels if network(recipe.arch).over_images else extract_features(pixels)
    if len(kept) < 1:
        raise ValueError(f"`dataset` {dataset}: none of the {len(chosen)} images chosen could be decoded.")
    labels_of = {paths[i]: label_sets[i] for i in chosen}
    targets = task_spec.encode(binarizer, [labels_of[path] for path in kept])
    logger.info(
        "overfit check: %d images, %s task, %s head, `normalize` %s, `init` %s, `lr` %g, no dropout, no augmentation",
        len(kept),
        task_spec.name,
        head,
        recipe.normalize,
        recipe.init,
        recipe.learning_rate,
    )
    keras.utils.set_random_seed(recipe.seed)

    def build() -> keras.Model:
        return build_classifier(
            task_spec,
            len(binarizer.classes_),
            recipe.image_size,
            keras.optimizers.Adam(recipe.learning_rate),
            train_images=inputs,
            normalize=recipe.normalize,
            init=recipe.init,
            dropout=False,
            arch=recipe.arch,
            alpha=recipe.alpha,
            weights=recipe.weights,
        )

    return overfit_check(build, inputs, targets)
