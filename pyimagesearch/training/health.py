"""Training that explains itself: `TrainingHealth` watches a run for the symptoms of a stall and
answers with a `diagnosis.Diagnosis` (`overfit.check_overfit` tests the last of its causes: a
network that cannot fit even a handful of images)."""

import logging
import math

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.training.diagnosis import Diagnosis, inputs_alike, likely_causes

logger = logging.getLogger(__name__)

# Loss and metrics count as flat when every epoch is within this of the first epoch: relative
# for values above 1, absolute below (accuracies, cross-entropies near chance).
FLAT_TOLERANCE = 0.01
# Probe predictions whose spread over the images is below this share of their size, output by
# output, are "the same prediction". Relative, because BatchNormalization's moving statistics lag
# early in training and can squeeze healthy predictions into, say, 2e-7 to 5e-7.
SAME_PREDICTION_TOLERANCE = 1e-5
# A ReLU layer counts as dead when this share of its units output zero for every probe image.
DEAD_RELU_SHARE = 0.9
# An epoch whose loss exceeds the first batch's by this factor has diverged. A healthy epoch's
# loss is below the first batch's, near chance; the colour-and-shape network at --lr 10 ends its
# first epoch at several times it, with no other symptom (its colour branch keeps predictions
# apart; measured: bench/README.md, "Training").
DIVERGENCE_FACTOR = 4.0


def _is_relu(layer: keras.layers.Layer) -> bool:
    activation = getattr(layer, "activation", None)
    return isinstance(layer, keras.layers.ReLU) or getattr(activation, "__name__", None) == "relu"


def _dead_share(output: np.ndarray) -> float:
    """The share of a ReLU layer's units (channels, for a convolution) that are zero everywhere."""
    return 1.0 - float((output.reshape(-1, output.shape[-1]).max(axis=0) > 0).mean())


def _flat(history: list[dict[str, float]], tolerance: float) -> bool:
    """Every logged quantity stayed within ``tolerance`` of its first-epoch value."""
    first = history[0]
    return all(
        abs(epoch[name] - first[name]) <= tolerance * max(1.0, abs(first[name])) for epoch in history[1:] for name in first if name in epoch
    )


class TrainingHealth(keras.callbacks.Callback):
    """Watches training for a stall and explains it: likely causes in order, and the flag to try.

    The symptoms, checked in this order:

    - **non-finite**: the loss of a batch is NaN or infinite, or the network outputs NaN for
      the probe images. Training stops at once, whatever ``stop_on_stall`` says.
    - **diverging**: an epoch's loss is over `DIVERGENCE_FACTOR` times the first batch's (of the
      first fit it watched: a later fit, such as fine-tuning a pretrained backbone after its head,
      starts from trained weights, whose low loss would make any early bump look like divergence).
    - **same prediction**: at the end of an epoch, every probe image gets the same prediction:
      each output's spread over the images is within ``same_prediction_tolerance`` times its
      largest value. The network ignores its input.
    - **dead ReLUs**: in some ReLU layer, ``dead_relu_share`` of the units output zero for
      every probe image.
    - **flat**: at the end of epoch ``patience``, the training loss and every training metric
      have stayed within ``flat_tolerance`` of their first-epoch values (first fit only).

    When a symptom shows, the callback logs one warning with the `Diagnosis` (on the
    ``pyimagesearch.training.health`` logger), keeps it as ``diagnosis``, and, if ``stop_on_stall``,
    stops training (``stopped`` then says so). It fires once per run.

    Args:
        probe_images: A few training images (N >= 2; 32 is plenty), in the model's input
            format (RGB 0-255, uint8 or float), predicted in inference mode at each epoch's end.
        patience: Epochs from the start that loss and metrics must stay flat. Defaults to 3.
        stop_on_stall: Stop training when a symptom shows. Defaults to False.
        flat_tolerance: See "flat". Defaults to 0.01.
        same_prediction_tolerance: See "same prediction". Defaults to 1e-5.
        dead_relu_share: See "dead ReLUs". Defaults to 0.9.

    Raises:
        ValueError: For fewer than two probe images or a patience under 2.

    Example:
        >>> health = TrainingHealth(images[train_index[:32]], stop_on_stall=True)
        >>> model.fit(train_ds, epochs=75, callbacks=[health])
        >>> health.diagnosis  # None when training looked healthy
    """

    def __init__(
        self,
        probe_images: np.ndarray,
        *,
        patience: int = config.STALL_PATIENCE,
        stop_on_stall: bool = False,
        flat_tolerance: float = FLAT_TOLERANCE,
        same_prediction_tolerance: float = SAME_PREDICTION_TOLERANCE,
        dead_relu_share: float = DEAD_RELU_SHARE,
    ):
        super().__init__()
        probe_images = np.asarray(probe_images)
        if probe_images.ndim < 2 or len(probe_images) < 2:
            raise ValueError(f"TrainingHealth needs at least 2 probe images. Received: shape {probe_images.shape}")
        if patience < 2:
            raise ValueError(f"patience must be at least 2 epochs. Received: {patience}")
        self.probe_images = probe_images.astype("float32")
        self.patience = patience
        self.stop_on_stall = stop_on_stall
        self.flat_tolerance = flat_tolerance
        self.same_prediction_tolerance = same_prediction_tolerance
        self.dead_relu_share = dead_relu_share
        self.diagnosis: Diagnosis | None = None
        self.stopped = False
        self._first_loss: float | None = None
        self._continuing = False
        self._reset()

    def _reset(self) -> None:
        self._history: list[dict[str, float]] = []
        self._epoch = 0
        self._probe_model: keras.Model | None = None
        self._relu_names: list[str] = []

    def on_train_begin(self, logs=None):
        self.diagnosis, self.stopped = None, False
        self._continuing = self._first_loss is not None
        self._reset()
        relus = [layer for layer in self.model.layers if _is_relu(layer)]
        single_input = len(getattr(self.model, "inputs", None) or ()) == 1
        if relus and single_input and not isinstance(self.model, keras.Sequential):
            # One forward pass yields the predictions and every ReLU layer's output.
            outputs = [self.model.outputs[0], *(layer.output for layer in relus)]
            self._probe_model = keras.Model(self.model.inputs[0], outputs)
            self._relu_names = [layer.name for layer in relus]

    def _probe(self) -> tuple[np.ndarray, dict[str, float]]:
        """The model's outputs for the probe images in inference mode, and each ReLU layer's dead share."""
        if self._probe_model is not None:
            predictions, *outputs = self._probe_model(self.probe_images, training=False)
            return np.asarray(predictions), {name: _dead_share(np.asarray(output)) for name, output in zip(self._relu_names, outputs)}
        if not isinstance(self.model, keras.Sequential):
            return np.asarray(self.model(self.probe_images, training=False)), {}
        # Keras rebuilds a Sequential's graph at every add(), so a sub-model over its layers'
        # .output tensors would recompute each from the input; running the layers in turn does not.
        outputs, dead = self.probe_images, {}
        for layer in self.model.layers:
            outputs = layer(outputs, training=False)
            if _is_relu(layer):
                dead[layer.name] = _dead_share(np.asarray(outputs))
        return np.asarray(outputs), dead

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if self._first_loss is None:
            self._first_loss = loss
        if not math.isfinite(loss):
            self._stop_for_non_finite(f"the loss is {loss} at batch {batch + 1} of epoch {self._epoch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        if self.diagnosis is not None or self.model.stop_training:
            return
        logs = logs or {}
        self._history.append(
            {
                name: float(value)
                for name, value in logs.items()
                if not name.startswith("val_") and name != "learning_rate" and np.ndim(value) == 0
            }
        )
        predictions, dead_shares = self._probe()
        if not np.all(np.isfinite(predictions)):
            self._stop_for_non_finite("the network outputs NaN or infinity for the probe images")
            return
        symptoms, learning_rate_first = [], False
        loss = logs.get("loss")
        if loss is not None and self._first_loss and float(loss) > DIVERGENCE_FACTOR * self._first_loss:
            symptoms.append(f"the loss diverged: {float(loss):.4g} against {self._first_loss:.4g} at the first batch")
            learning_rate_first = True
        outputs = predictions.reshape(len(predictions), -1)
        if np.all(np.ptp(outputs, axis=0) <= self.same_prediction_tolerance * np.abs(outputs).max(axis=0)):
            symptoms.append(f"all {len(predictions)} probe images get the same prediction")
        worst = max(dead_shares, key=dead_shares.get, default=None)
        if worst is not None and dead_shares[worst] >= self.dead_relu_share:
            share = dead_shares[worst]
            symptoms.append(f"{share:.0%} of the ReLU units of layer {worst} output zero for every probe image")
            learning_rate_first = True
        if not self._continuing and len(self._history) == self.patience and _flat(self._history, self.flat_tolerance):
            values = ", ".join(f"{name} {value:.4g}" for name, value in self._history[-1].items())
            symptoms.append(f"loss and metrics flat for the first {self.patience} epochs ({values})")
        if symptoms:
            causes = likely_causes(self.model, learning_rate_first=learning_rate_first, inputs_alike=inputs_alike(self.probe_images))
            self._fire(Diagnosis(symptoms, causes, epoch=epoch + 1), stop=self.stop_on_stall)

    def _stop_for_non_finite(self, symptom: str) -> None:
        self.model.stop_training = self.stopped = True
        if self.diagnosis is None:
            causes = likely_causes(self.model, learning_rate_first=True, inputs_alike=inputs_alike(self.probe_images))
            self._fire(Diagnosis([symptom], causes, epoch=self._epoch + 1), stop=True)
        else:
            logger.warning("training stopped: %s", symptom)

    def _fire(self, diagnosis: Diagnosis, stop: bool) -> None:
        self.diagnosis = diagnosis
        lines = diagnosis.lines()
        if stop:
            self.model.stop_training = self.stopped = True
            lines.append("  training stopped.")
        logger.warning("\n".join(lines))
