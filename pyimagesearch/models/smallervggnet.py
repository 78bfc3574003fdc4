"""SmallerVGGNet: the tutorial's small VGG-style CNN, in Keras 3."""

from collections.abc import Sequence

import keras
from keras import layers

from pyimagesearch.models.batch_norm import FusedBatchNormalization


class SmallerVGGNet:
    """Namespace for the builder, as in the tutorial (``SmallerVGGNet.build(...)``)."""

    @staticmethod
    def build(
        width: int,
        height: int,
        depth: int,
        classes: int,
        finalAct: str | layers.Layer = "softmax",
        preprocessing: Sequence[layers.Layer] = (),
        batch_norm_momentum: float = 0.9,
        kernel_initializer: str = "glorot_uniform",
        dropout: bool = True,
    ) -> keras.Model:
        """Build the network.

        CONV 32 => ReLU => BN => POOL 3x3 => DROPOUT; (CONV 64 => ReLU => BN) x2 => POOL => DROPOUT;
        (CONV 128 => ReLU => BN) x2 => POOL => DROPOUT; FC 1024 => ReLU => BN => DROPOUT;
        FC ``classes`` => ``finalAct``. Without ``dropout``, the same with every DROPOUT left out.

        Args:
            width: Input width in pixels.
            height: Input height in pixels.
            depth: Input channels (3 for colour).
            classes: Units of the final Dense layer.
            finalAct: Final activation: ``"sigmoid"`` for multi-label, ``"softmax"`` for one
                label per image, or a layer such as `grouped_head.GroupSoftmax` (a softmax per
                label group; see `tasks.Task.final_layer`). Defaults to ``"softmax"`` as in the
                tutorial.
            preprocessing: Layers applied right after the input, e.g. rescaling, so the saved
                model carries its own preprocessing. Defaults to none.
            batch_norm_momentum: Momentum of the BatchNormalization moving statistics.
                Defaults to 0.9, not Keras' 0.99: with 0.99 a run of a few hundred steps
                validates with statistics still near their initial values (measured on the demo
                data: bench/README.md, "Training").
            kernel_initializer: Keras initializer of every Conv2D and Dense kernel, e.g.
                ``"he_normal"``, which suits ReLU networks. Defaults to ``"glorot_uniform"``,
                Keras' default and the tutorial's.
            dropout: Whether to include the Dropout layers. ``False`` builds the network for
                the overfit check, which must be able to drive the training loss to zero.
                Defaults to ``True``.

        Returns:
            An uncompiled `keras.Sequential` mapping (N, height, width, depth) to (N, classes).

        Example:
            >>> model = SmallerVGGNet.build(96, 96, 3, classes=5, finalAct="sigmoid")
        """
        model = keras.Sequential(name="smallervggnet")
        model.add(keras.Input(shape=(height, width, depth)))
        for layer in preprocessing:
            model.add(layer)

        for layer in feature_layers(kernel_initializer, batch_norm_momentum, dropout):
            model.add(layer)
        model.add(layers.Dense(classes, kernel_initializer=kernel_initializer))
        if isinstance(finalAct, str):
            # float32 even under a mixed-precision policy: probabilities need its resolution.
            finalAct = layers.Activation(finalAct, name="predictions", dtype="float32")
        model.add(finalAct)
        return model


def feature_layers(
    kernel_initializer: str = "glorot_uniform",
    batch_norm_momentum: float = 0.9,
    dropout: bool = True,
    features_name: str | None = None,
    pool_first: bool = False,
) -> list[layers.Layer]:
    """SmallerVGGNet's layers from the first convolution to the 1024-unit block (its dropout included):
    everything but the preprocessing and the head. ``features_name`` names the block's last
    BatchNormalization, whose output is the features; the other arguments are `SmallerVGGNet.build`'s.

    ``pool_first`` moves each max pooling from after the batch normalisation to right after its
    convolution: CONV => POOL => ReLU => BN. Pooling commutes with the ReLU, so only the batch
    statistics change (taken over the pooled values), and the ReLU and normalisation run on a 9th
    or a quarter of the values: the colour-and-shape network trains faster so (measured:
    bench/README.md, "Training").
    """
    stack: list[layers.Layer] = []

    def block(filters: int, pool: int | None = None) -> None:
        stack.append(layers.Conv2D(filters, (3, 3), padding="same", kernel_initializer=kernel_initializer))
        if pool and pool_first:
            stack.append(layers.MaxPooling2D(pool_size=(pool, pool)))
        stack.extend([layers.Activation("relu"), FusedBatchNormalization(axis=-1, momentum=batch_norm_momentum)])
        if pool and not pool_first:
            stack.append(layers.MaxPooling2D(pool_size=(pool, pool)))
        if pool and dropout:
            stack.append(layers.Dropout(0.25))

    block(32, pool=3)
    for filters in (64, 128):
        block(filters)
        block(filters, pool=2)
    stack.extend(
        [
            layers.Flatten(),
            layers.Dense(1024, kernel_initializer=kernel_initializer),
            layers.Activation("relu"),
            FusedBatchNormalization(momentum=batch_norm_momentum, name=features_name),
        ]
    )
    if dropout:
        stack.append(layers.Dropout(0.5))
    return stack
