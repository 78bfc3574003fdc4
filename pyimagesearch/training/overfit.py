"""The overfit check: can the network and its set-up memorise a handful of images?

Any healthy set-up drives the training loss on ten images to about zero within a few dozen
steps. When it cannot, no amount of data or epochs will help: the head, the loss, the inputs,
the initialisation or the learning rate is wrong. This is the first thing to try when training
does not learn (``train.py --overfit-check 10``).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from pyimagesearch.training.health import Diagnosis, inputs_alike, likely_causes

# A healthy SmallerVGGNet (no dropout) drives the full-batch loss on 10 images below 0.01 in a
# small fraction of these steps, and all of them take seconds on 2 CPU cores (measured:
# bench/README.md, "Training").
OVERFIT_MAX_STEPS = 150
OVERFIT_TARGET_LOSS = 0.01
# A far too high learning rate hits a loss of 0 now and then between explosions; success needs
# the loss to stay at the target for this many consecutive steps.
OVERFIT_HOLD_STEPS = 10


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
            f"--overfit-check needs as many targets as images, at least one. Received: {len(images)} images, {len(targets)} targets"
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
    causes = [cause for cause in causes if "--overfit-check" not in cause.remedy]
    return Diagnosis(symptoms, causes, title=f"the network cannot fit {len(images)} images")
