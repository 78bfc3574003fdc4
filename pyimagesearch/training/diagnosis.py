"""The causes behind a stalled training run, and what to try for each.

A CNN whose accuracy never moves after the first epoch usually has one of a few causes: a head
and loss that don't match the label encoding, inputs that are not centred, a poor
initialisation, a learning rate far too high or too low, or a network that cannot fit even a
handful of images. A `Diagnosis` says what was seen, then the likely causes, most likely first,
each with the option to try.
"""

from dataclasses import dataclass

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.models.normalization import centres_inputs

# Learning rates outside this range are named first as a likely cause (Adam's usual range).
_HIGH_LEARNING_RATE = 1e-2
_LOW_LEARNING_RATE = 1e-5
# Probe images differing by less than one grey level everywhere are "all the same image".
_IDENTICAL_INPUT_RANGE = 1.0

_BINARY_LOSSES = {"binary_crossentropy", "binary_focal_crossentropy"}
_CATEGORICAL_LOSSES = {"categorical_crossentropy", "categorical_focal_crossentropy"}
_SPARSE_LOSSES = {"sparse_categorical_crossentropy"}


@dataclass(frozen=True)
class Cause:
    """One likely cause of a symptom and what to try.

    Attributes:
        explanation: The cause, in a few words.
        remedy: The option to try (``"`lr` 1e-4"``, which a script prints as its flag) or the change to make.
    """

    explanation: str
    remedy: str


@dataclass
class Diagnosis:
    """What was seen, and the likely causes, most likely first.

    Attributes:
        symptoms: Each symptom seen, one sentence each.
        causes: Likely causes, most likely first.
        epoch: The 1-based epoch where the symptoms were seen; None outside training.
        title: What went wrong, in a few words. Defaults to "training is not learning".
    """

    symptoms: list[str]
    causes: list[Cause]
    epoch: int | None = None
    title: str = "training is not learning"

    def lines(self) -> list[str]:
        """The diagnosis as short lines for a log or a terminal."""
        where = f" at epoch {self.epoch}" if self.epoch is not None else ""
        lines = [f"{self.title}{where}:"]
        lines += [f"  seen: {symptom}" for symptom in self.symptoms]
        lines.append("  likely causes, most likely first:")
        lines += [f"    {number}. {cause.explanation}: {cause.remedy}" for number, cause in enumerate(self.causes, 1)]
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _loss_name_and_logits(loss) -> tuple[str | None, bool]:
    """The canonical name of a compiled loss and whether it takes logits; (None, False) if unknown."""
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:
            return None, False
    if isinstance(loss, keras.losses.Loss):
        settings = loss.get_config()
        return settings.get("name"), bool(settings.get("from_logits", False))
    return getattr(loss, "__name__", None), False


def _last_activation(model: keras.Model) -> str | None:
    """The name of the model's final activation (``"linear"`` for none), or None if unknown."""
    layer = model.layers[-1] if model.layers else None
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None)


def head_loss_mismatch(model: keras.Model, targets: np.ndarray | None = None) -> str | None:
    """Why a compiled model's head does not match its loss (or its targets), if it does not.

    The classic causes of accuracy frozen after the first epoch: a Dense layer with no
    activation under a loss that expects probabilities, softmax under binary cross-entropy,
    a single unit under categorical cross-entropy (whose loss is then always zero), one-hot
    targets for a single sigmoid unit. Models built through a `tasks.Task` always match; a
    user's own model may not.

    Args:
        model: A compiled, single-output model.
        targets: The training targets, if at hand, to check against the number of outputs.
            Defaults to None.

    Returns:
        A one-sentence explanation, or None when head, loss and targets match, or the loss
        is not a cross-entropy this function knows.
    """
    loss, from_logits = _loss_name_and_logits(getattr(model, "loss", None))
    activation = _last_activation(model)
    if loss is None or activation is None or len(model.outputs) != 1:
        return None
    units = model.output_shape[-1]
    if loss not in _BINARY_LOSSES | _CATEGORICAL_LOSSES | _SPARSE_LOSSES:
        return None
    if from_logits and activation in ("sigmoid", "softmax"):
        return f"the loss {loss} expects logits (from_logits=True) but the last layer already applies {activation}"
    if not from_logits and activation == "linear":
        return (
            f"the last layer has no activation but {loss} expects probabilities: "
            f"add {'sigmoid' if loss in _BINARY_LOSSES else 'softmax'}, or use from_logits=True"
        )
    if activation == "softmax" and units == 1:
        return "a softmax over a single unit always outputs 1: use one sigmoid unit for two classes"
    if loss in _BINARY_LOSSES and activation == "softmax":
        return (
            f"softmax over {units} units under {loss} makes the labels compete: use sigmoid for several "
            "labels per image, or categorical_crossentropy for one"
        )
    if loss in _CATEGORICAL_LOSSES | _SPARSE_LOSSES and units == 1:
        return f"{loss} over a single unit is always zero: use binary_crossentropy with one sigmoid unit"
    if loss in _CATEGORICAL_LOSSES | _SPARSE_LOSSES and activation == "sigmoid":
        return f"sigmoid under {loss}: use softmax for one label per image, or binary_crossentropy for several"
    if targets is not None:
        targets = np.asarray(targets)
        columns = targets.shape[-1] if targets.ndim == 2 else 1
        if loss in _SPARSE_LOSSES:
            if columns != 1:
                return f"{loss} expects class indices, but the targets have {columns} columns (one-hot?)"
        elif columns != units:
            return f"the targets have {columns} columns but the model has {units} outputs"
    return None


def _learning_rate(model: keras.Model) -> float | None:
    """The optimizer's current learning rate (a schedule's current value), or None."""
    optimizer = getattr(model, "optimizer", None)
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None


def inputs_alike(images: np.ndarray) -> bool:
    return len(images) > 1 and float(np.ptp(images, axis=0).max()) < _IDENTICAL_INPUT_RANGE


def likely_causes(
    model: keras.Model,
    *,
    learning_rate_first: bool = False,
    inputs_alike: bool = False,
    targets: np.ndarray | None = None,
    learning_too_slowly: bool = False,
) -> list[Cause]:
    """The usual causes of a model that does not learn, most likely first.

    The order: a head/loss mismatch (when `head_loss_mismatch` finds one); identical inputs;
    the learning rate when it is outside Adam's usual range (1e-5 to 1e-2), or whenever
    ``learning_rate_first`` or ``learning_too_slowly``; inputs not standardised (unless the
    model centres its inputs, see `normalization.centres_inputs`); the initialisation (unless already He); the learning
    rate otherwise; and last, the overfit check.

    Args:
        model: The compiled model.
        learning_rate_first: Name a too high learning rate first (after a mismatch), as for a
            NaN loss or dead ReLUs. Defaults to False.
        inputs_alike: The images seen were all (nearly) the same. Defaults to False.
        targets: Training targets, to check against the model's outputs. Defaults to None.
        learning_too_slowly: The loss falls, but too slowly: name a too low learning rate
            first. Defaults to False.

    Returns:
        A list of `Cause`.
    """
    causes = []
    mismatch = head_loss_mismatch(model, targets)
    if mismatch:
        causes.append(Cause(f"head and loss do not match ({mismatch})", "fix the model's last layer or its loss"))
    if inputs_alike:
        causes.append(Cause("the training images are all (nearly) the same image", "check the data set and that its images decode"))
    rate = _learning_rate(model)
    shown = f" ({rate:g})" if rate is not None else ""
    too_high = Cause(f"learning rate too high{shown}", f"`lr` {min(rate / 10, 1e-3):g}" if rate else "`lr` 1e-4")
    too_low = Cause(f"learning rate too low{shown}", f"`lr` {max(rate * 10, 1e-3):g}" if rate else "`lr` 1e-3")
    rate_cause = None
    if learning_too_slowly:
        causes.append(too_low)
    elif learning_rate_first or (rate is not None and rate >= _HIGH_LEARNING_RATE):
        causes.append(too_high)
    elif rate is not None and rate <= _LOW_LEARNING_RATE:
        causes.append(too_low)
    else:
        rate_cause = too_high
    layers = model.layers
    if not centres_inputs(model):
        causes.append(Cause("inputs not centred", "`normalize` standardize"))
    kernels = [layer.kernel_initializer for layer in layers if hasattr(layer, "kernel_initializer")]
    if not kernels or not all(isinstance(kernel, keras.initializers.HeNormal) for kernel in kernels):
        causes.append(Cause("initialisation not suited to ReLU", "`init` he"))
    if rate_cause is not None:
        causes.append(rate_cause)
    causes.append(Cause("the network cannot fit the data at all", f"run `overfit_check` {config.OVERFIT_CHECK_IMAGES}"))
    return causes
