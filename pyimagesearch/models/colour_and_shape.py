"""A network that reads colour and shape apart: a grey shape branch and a shape-blind colour branch.

A single network learns whatever separates its training folders, and when black only ever came
on jeans, "dark and trouser-shaped" is one feature: a black dress becomes black jeans. Here the
label groups other than colour (types) are read by SmallerVGGNet's layers from a grey copy of
the image whose tones are jittered in training (so "dark" cannot stand for "jeans" either),
and the colour group by a branch of per-pixel (1x1) convolutions, which sees colours but no outline.
The colour branch pools its per-pixel features with weights from a map of where to look, which
the shape branch computes from the grey copy (`AttentionPooling`): the garment's colour, not the
scene's, and still no shape in the colour features themselves. The shape branch can also be a
pretrained backbone (`backbones`) reading the grey copy. Measured in bench/README.md, "Unseen
combinations" and "Robustness".
"""

import math
from collections.abc import Callable, Sequence

import keras
from keras import layers

from pyimagesearch.models.backbones import HEAD_DROPOUT, last_maps_of_side
from pyimagesearch.models.batch_norm import FusedBatchNormalization
from pyimagesearch.models.grouped_head import ClassOrder, GroupSoftmax
from pyimagesearch.models.smallervggnet import feature_layers

# Training-time tone jitter of the grey branch: a gamma drawn log-uniformly in
# [1 / GAMMA_RANGE, GAMMA_RANGE] (dark garments brighten, light ones darken, white stays white),
# then a contrast factor in [1 - CONTRAST, 1 + CONTRAST] about the image's mean. Strong on purpose:
# with red or blue shirts left out of training, both labels were right more often the stronger the
# jitter, from (2.5, 0.3) to (6, 0.6) (measured: bench/README.md, "Unseen combinations"), but at
# (6, 0.6) the grey of a blue garment on a pink background lost its outline (a demo example of
# blue jeans became a shirt, labelled right at (4, 0.5)).
GAMMA_RANGE = 4.0
CONTRAST = 0.5
# The brightening side of that gamma: drawn down to 1 / BRIGHTEN_RANGE. A black garment turns as light
# as light-wash denim only near 1/10 (0.1 ** (1/10) = 0.79), which the default leaves to measurement:
# bench/README.md, "Unseen combinations".
BRIGHTEN_RANGE = GAMMA_RANGE
# How the grey branch is kept from reading tones: "jitter" (`RandomTone`, in training), or "equalise"
# (`EqualiseTone`, always: each image's grey values replaced by their rank in its own histogram, so
# a black and a light-wash pair of jeans on white become one picture). Equalising lost labels on
# composited scenes and on new combinations (bench/README.md, "Unseen combinations").
SHAPE_TONE = "jitter"
# Training-time weights of the channels in the grey copy: drawn per image from a Dirichlet
# distribution of this concentration (1: uniform over the weights that sum to one), so that a red
# and a blue garment take each other's tones in turn and the type cannot ride on one; 0: off, the
# channels' mean. Off: it lost types on composited scenes and did not help new combinations
# (bench/README.md, "Unseen combinations" and "Robustness").
GREY_MIX = 0.0
# Training-time shading of the colour branch's input: each image's RGB times a factor drawn
# log-uniformly in [1 / SHADE_RANGE, 1] (1: off). Darkening only, so that a dark blue is still
# labelled blue and black stays black: the colour of denim, dark but blue, is then no tie to black.
SHADE_RANGE = 1.0
# The colour branch reads the image averaged over COLOUR_POOL x COLOUR_POOL pixels (24 x 24 colours
# at 96 px): enough for a garment's colour, and its 1x1 layers cost a quarter of what they would at
# half the input's side, where they took a large share of the network's training time (measured:
# bench/README.md, "Training").
COLOUR_POOL = 4
# The attention map comes from the shape branch's deepest feature maps that still resolve places
# ATTENTION_STRIDE pixels apart (12 x 12 at 96 px), through a 3x3 convolution of ATTENTION_HIDDEN
# units (a single 1x1 layer left a red field to decide: bench/README.md, "Robustness"), resized to
# the colour branch's maps.
ATTENTION_STRIDE = 8
ATTENTION_HIDDEN = 64
# The layers whose outputs are each branch's features (unknown detection reads the shape branch's),
# and the colour branch's attention: its hidden layer and its logits.
COLOUR_FEATURES = "colour_features"
SHAPE_FEATURES = "shape_features"
COLOUR_ATTENTION_HIDDEN = "colour_attention_hidden"
COLOUR_ATTENTION = "colour_attention"


@keras.saving.register_keras_serializable(package="pyimagesearch")
class AttentionPooling(keras.layers.Layer):
    """Feature maps averaged with weights that a softmax over places makes of attention logits.

    Called on ``[features, logits]``: features (N, H, W, C) and logits (N, h, w, 1), resized
    bilinearly to H x W. Returns (N, C): for each image, the sum over places of each place's
    features times its weight. Places trade weight only with each other, so what the features say
    is kept apart from where they are looked for.
    """

    def build(self, input_shape):
        # The model's input size fixes the maps' sizes; the batches fed in training may not say so.
        features_shape, _ = input_shape
        self.size = (int(features_shape[1]), int(features_shape[2]))

    def call(self, inputs):
        features, logits = inputs
        height, width = self.size
        logits = keras.ops.image.resize(keras.ops.cast(logits, "float32"), (height, width), interpolation="bilinear")
        weights = keras.ops.softmax(keras.ops.reshape(logits, (-1, height * width)), axis=-1)
        weights = keras.ops.cast(keras.ops.reshape(weights, (-1, height, width, 1)), features.dtype)
        return keras.ops.sum(features * weights, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        features_shape, _ = input_shape
        return (features_shape[0], features_shape[-1])


@keras.saving.register_keras_serializable(package="pyimagesearch")
class EqualiseTone(keras.layers.Layer):
    """Histogram equalisation of each image's grey values in [0, 1]: each value becomes the share of
    the image's pixels darker than it, so the result no longer depends on the tones themselves
    (any increasing change of tone, a gamma or a contrast, gives the same image), only on their order.

    The histogram has ``bins`` bins, counted on every ``stride``-th pixel of every ``stride``-th row,
    and values are interpolated linearly within a bin.
    """

    def __init__(self, bins: int = 64, stride: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.bins, self.stride = int(bins), int(stride)

    def call(self, inputs):
        ops = keras.ops
        grey = ops.clip(ops.cast(inputs, "float32"), 0.0, 1.0)
        count = ops.shape(grey)[0]
        sample = ops.reshape(grey[:, :: self.stride, :: self.stride, :], (count, -1))
        bin_of = ops.cast(ops.minimum(ops.floor(sample * self.bins), self.bins - 1), "int32")
        histogram = ops.sum(ops.one_hot(bin_of, self.bins), axis=1)
        cumulative = ops.cumsum(histogram, axis=1) / ops.sum(histogram, axis=1, keepdims=True)
        # The share of pixels below each bin's edges: 0 below the first, 1 above the last.
        edges = ops.concatenate([ops.zeros_like(cumulative[:, :1]), cumulative], axis=1)
        position = ops.reshape(grey, (count, -1)) * self.bins
        lower = ops.cast(ops.minimum(ops.floor(position), self.bins - 1), "int32")
        within = position - ops.cast(lower, "float32")
        below, above = ops.take_along_axis(edges, lower, axis=1), ops.take_along_axis(edges, lower + 1, axis=1)
        equalised = below + (above - below) * within
        return ops.cast(ops.reshape(equalised, ops.shape(inputs)), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "bins": self.bins, "stride": self.stride}


@keras.saving.register_keras_serializable(package="pyimagesearch")
class RandomTone(keras.layers.Layer):
    """Random gamma and contrast per image of grey values in [0, 1], in training only; the identity otherwise.

    Args:
        gamma_range: Gammas are drawn log-uniformly in [1 / brighten_range, gamma_range].
        contrast: Contrast factors are drawn uniformly in [1 - contrast, 1 + contrast].
        seed: Seed of the draws.
        brighten_range: The brightening side; None: ``gamma_range`` (symmetric).
    """

    def __init__(
        self,
        gamma_range: float = GAMMA_RANGE,
        contrast: float = CONTRAST,
        seed: int | None = None,
        brighten_range: float | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.gamma_range, self.contrast, self.seed = float(gamma_range), float(contrast), seed
        self.brighten_range = self.gamma_range if brighten_range is None else float(brighten_range)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        batch = keras.ops.shape(inputs)[0]
        low, high = -math.log(self.brighten_range), math.log(self.gamma_range)
        gamma = keras.ops.exp(keras.random.uniform((batch, 1, 1, 1), low, high, seed=self.seed_generator))
        factor = keras.random.uniform((batch, 1, 1, 1), 1 - self.contrast, 1 + self.contrast, seed=self.seed_generator)
        toned = keras.ops.power(keras.ops.clip(inputs, 1e-6, 1.0), keras.ops.cast(gamma, inputs.dtype))
        mean = keras.ops.mean(toned, axis=(1, 2, 3), keepdims=True)
        return keras.ops.clip((toned - mean) * keras.ops.cast(factor, inputs.dtype) + mean, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "gamma_range": self.gamma_range,
            "contrast": self.contrast,
            "seed": self.seed,
            "brighten_range": self.brighten_range,
        }


@keras.saving.register_keras_serializable(package="pyimagesearch")
class RandomChannelWeights(keras.layers.Layer):
    """Each image's channels times weights drawn from a Dirichlet distribution, in training only; the identity otherwise.

    The weights sum to one and are scaled by the number of channels, so the channels' mean (the
    grey copy) becomes a random convex combination of them: white stays white, black black.

    Args:
        concentration: The Dirichlet distribution's concentration, the same for each channel.
        seed: Seed of the draws.
    """

    def __init__(self, concentration: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.concentration, self.seed = float(concentration), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        channels = inputs.shape[-1]
        draws = keras.random.gamma((keras.ops.shape(inputs)[0], 1, 1, channels), self.concentration, seed=self.seed_generator)
        weights = channels * draws / keras.ops.sum(draws, axis=-1, keepdims=True)
        return inputs * keras.ops.cast(weights, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "concentration": self.concentration, "seed": self.seed}


@keras.saving.register_keras_serializable(package="pyimagesearch")
class RandomShade(keras.layers.Layer):
    """Each image times a factor drawn log-uniformly in [1 / shade_range, 1], in training only; the identity otherwise.

    Args:
        shade_range: How much darker an image may get.
        seed: Seed of the draws.
    """

    def __init__(self, shade_range: float = SHADE_RANGE, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.shade_range, self.seed = float(shade_range), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        batch = keras.ops.shape(inputs)[0]
        log_factor = keras.random.uniform((batch, 1, 1, 1), -math.log(self.shade_range), 0.0, seed=self.seed_generator)
        return inputs * keras.ops.cast(keras.ops.exp(log_factor), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "shade_range": self.shade_range, "seed": self.seed}


def build_colour_and_shape(
    width: int,
    height: int,
    groups: Sequence[Sequence[int]],
    colour_group: int,
    preprocessing: Sequence[layers.Layer] = (),
    batch_norm_momentum: float = 0.9,
    kernel_initializer: str = "glorot_uniform",
    dropout: bool = True,
    seed: int | None = None,
    shape_backbone: Callable[[keras.KerasTensor], keras.KerasTensor] | None = None,
) -> keras.Model:
    """The grouped head's network with a colour branch and a grey shape branch.

    Each label group gets its own Dense layer (``logits_<g>``) on its branch's features
    (`COLOUR_FEATURES` for the colour group, the shape branch's features, `SHAPE_FEATURES`, for the
    others); the logits are put back into label order (layer ``logits``) for the group softmax
    (``predictions``). The shape branch is SmallerVGGNet's layers up to its 1024-unit block, or
    ``shape_backbone`` (a pretrained backbone) on the grey copy repeated into three channels,
    pooled over the image.

    Args:
        width: Input width in pixels.
        height: Input height in pixels.
        groups: Label indices of each label group (see `tasks.grouped_task`).
        colour_group: Index in ``groups`` of the colour group.
        preprocessing: Normalisation layers of the colour branch's RGB input (the grey branch
            scales its grey values to [-1, 1] itself).
        batch_norm_momentum, kernel_initializer, dropout: As in `smallervggnet.SmallerVGGNet.build`;
            without ``dropout``, the grey branch's tone jitter is left out too.
        seed: Seed of the grey branch's tone jitter.
        shape_backbone: Builds a backbone into the graph: maps an RGB 0-255 tensor to feature maps
            (`backbones.build_backbone` with its first four arguments bound). None for SmallerVGGNet's.

    Returns:
        An uncompiled functional model mapping (N, height, width, 3) RGB 0-255 to (N, labels),
        one softmax per group.
    """
    inputs = keras.Input(shape=(height, width, 3))
    shape = inputs
    if dropout and GREY_MIX:
        shape = RandomChannelWeights(GREY_MIX, seed=seed, name="grey_mix")(shape)
    # Fixed weights: the mean of the channels, in [0, 1]; nothing training could undo.
    shape = layers.Conv2D(
        1, (1, 1), use_bias=False, kernel_initializer=keras.initializers.Constant(1 / (3 * 255)), trainable=False, name="grey"
    )(shape)
    if SHAPE_TONE == "equalise":
        shape = EqualiseTone(name="tone_equalise")(shape)
    elif dropout:  # Regularisation, like the dropout: left out for the overfit check.
        shape = RandomTone(GAMMA_RANGE, CONTRAST, seed=seed, brighten_range=BRIGHTEN_RANGE, name="tone_jitter")(shape)
    tap_side = max(1, min(height, width) // ATTENTION_STRIDE)
    if shape_backbone is None:
        shape = layers.Rescaling(2.0, offset=-1.0, name="grey_to_signed")(shape)
        maps = []
        for layer in feature_layers(kernel_initializer, batch_norm_momentum, dropout, features_name=SHAPE_FEATURES, pool_first=True):
            shape = layer(shape)
            if len(shape.shape) == 4:
                maps.append(shape)
        where = last_maps_of_side(maps, tap_side)
    else:
        grey_rgb = layers.Rescaling(255.0, name="grey_to_rgb")(layers.Concatenate(name="grey_channels")([shape] * 3))
        last, where = shape_backbone(grey_rgb, tap_side=tap_side)
        shape = layers.GlobalAveragePooling2D(name=SHAPE_FEATURES)(last)
        if dropout:
            shape = layers.Dropout(HEAD_DROPOUT, name="shape_dropout")(shape)
    colour = inputs
    if dropout and SHADE_RANGE > 1:
        colour = RandomShade(SHADE_RANGE, seed=seed, name="colour_shade")(colour)
    for layer in preprocessing:
        colour = layer(colour)
    colour = layers.AveragePooling2D(pool_size=(COLOUR_POOL, COLOUR_POOL), name="colour_downsample")(colour)
    # Batch normalisation after each layer, as in the shape branch: without it this branch learns
    # far slower than the other and, on small data, ends near its prior (bench/README.md, "Unseen
    # combinations").
    for filters in (32, 64):
        colour = layers.Conv2D(filters, (1, 1), activation="relu", kernel_initializer=kernel_initializer)(colour)
        colour = FusedBatchNormalization(momentum=batch_norm_momentum)(colour)
    if ATTENTION_HIDDEN:  # 0 only to measure the 1x1 layer alone
        where = layers.Conv2D(
            ATTENTION_HIDDEN, (3, 3), padding="same", activation="relu", kernel_initializer=kernel_initializer, name=COLOUR_ATTENTION_HIDDEN
        )(where)
    attention = layers.Conv2D(1, (1, 1), kernel_initializer="zeros", name=COLOUR_ATTENTION)(where)
    colour = AttentionPooling(name="colour_pooled")([colour, attention])
    colour = layers.Dense(64, activation="relu", kernel_initializer=kernel_initializer)(colour)
    colour = FusedBatchNormalization(momentum=batch_norm_momentum, name=COLOUR_FEATURES)(colour)
    logits = [
        layers.Dense(len(group), kernel_initializer=kernel_initializer, name=f"logits_{g}")(colour if g == colour_group else shape)
        for g, group in enumerate(groups)
    ]
    ordered = ClassOrder(groups, name="logits")(layers.Concatenate(name="group_logits")(logits))
    outputs = GroupSoftmax(groups, name="predictions", dtype="float32")(ordered)
    return keras.Model(inputs, outputs, name="colour_and_shape")
