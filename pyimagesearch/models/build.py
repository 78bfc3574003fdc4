"""Building the network a training asks for: the task's head on SmallerVGGNet, a backbone, the
colour-and-shape network or the MLP, compiled; and the float32 copy that is saved."""

from functools import partial

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.data.recolouring import colour_group
from pyimagesearch.models.backbones import (
    build_backbone,
    build_transfer_classifier,
    set_backbone_trainable,
)
from pyimagesearch.models.colour_and_shape import build_colour_and_shape
from pyimagesearch.models.grouped_head import resolve_head
from pyimagesearch.models.mlp import build_mlp, feature_standardization
from pyimagesearch.models.normalization import input_normalization, kernel_initializer
from pyimagesearch.models.registry import SMALLERVGGNET, Network, network
from pyimagesearch.models.smallervggnet import SmallerVGGNet
from pyimagesearch.models.tasks import Task, get_task, grouped_task


def build_classifier(
    task: Task,
    num_labels: int,
    image_size: int,
    optimizer: keras.optimizers.Optimizer,
    train_images: np.ndarray | None = None,
    normalize: str = config.NORMALIZE,
    init: str = config.INIT,
    dropout: bool = True,
    precision: str = "float32",
    jit_compile: bool | str = False,
    arch: str = SMALLERVGGNET,
    alpha: float | None = None,
    weights: str | None = None,
) -> keras.Model:
    """The network ``arch`` names (`registry.NETWORKS`, built by the builders below) under the head,
    loss and metrics of ``task``, compiled. When ``task`` has a colour group, a network over images
    is split into a colour and a shape branch (`colour_and_shape.build_colour_and_shape`), the shape
    branch being SmallerVGGNet's layers or the backbone.

    The model takes RGB images with values 0-255 and normalises them itself (``normalize``,
    with statistics from ``train_images``; see `normalization.input_normalization`), so
    classification cannot preprocess differently from training. The MLP takes feature vectors
    and standardises them itself, with statistics from ``train_images``, then its training
    rows (`mlp.feature_standardization`). ``precision="bfloat16"``
    builds it under Keras' ``mixed_bfloat16`` policy (bfloat16 computations, float32 weights
    and outputs); ``jit_compile`` is passed to ``compile``.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        model = network(arch).build(
            task,
            num_labels,
            image_size,
            train_images=train_images,
            normalize=normalize,
            init=init,
            dropout=dropout,
            alpha=alpha,
            weights=weights,
        )
    finally:
        keras.config.set_dtype_policy(previous)
    compile_classifier(model, task, optimizer, jit_compile)
    return model


def compile_classifier(model: keras.Model, task: Task, optimizer: keras.optimizers.Optimizer, jit_compile: bool | str) -> None:
    """Compile ``model`` with ``task``'s loss and metrics, and create ``optimizer``'s variables now.

    Left to Keras (without a distribution strategy), they are created inside the first training
    step's trace, and tf.function then traces that step a second time: a large share of a short
    training's time on a CPU, and again after a fine-tuning phase's compile.
    """
    model.compile(optimizer=optimizer, loss=task.loss, metrics=task.metrics(), jit_compile=jit_compile)
    with model.distribute_strategy.scope():
        model.optimizer.build(model.trainable_variables)
    if model.jit_compile:
        # XLA pays for its compilation in the training step, run every batch of every epoch; not in
        # predictions (the validation pass, unknown detection's features), a few batches each, whose
        # compilation took longer than they ran. The training step keeps the choice it was made with.
        model.make_train_function()
        model.jit_compile = False


def build_smallervggnet(
    entry: Network,
    task: Task,
    num_labels: int,
    image_size: int,
    *,
    train_images: np.ndarray | None,
    normalize: str,
    init: str,
    dropout: bool,
    alpha: float | None,
    weights: str | None,
) -> keras.Model:
    """SmallerVGGNet under ``task``'s head, normalising its input itself; with a colour group, the
    colour-and-shape network whose shape branch is SmallerVGGNet's layers (`registry.Network.build`)."""
    preprocessing = input_normalization(normalize, train_images)
    if task.colour_group is not None:
        return build_colour_and_shape(
            image_size,
            image_size,
            task.groups,
            task.colour_group,
            preprocessing=preprocessing,
            kernel_initializer=kernel_initializer(init),
            dropout=dropout,
        )
    return SmallerVGGNet.build(
        width=image_size,
        height=image_size,
        depth=3,
        classes=task.output_units(num_labels),
        finalAct=task.final_layer(),
        preprocessing=preprocessing,
        kernel_initializer=kernel_initializer(init),
        dropout=dropout,
    )


def build_backbone_network(
    entry: Network,
    task: Task,
    num_labels: int,
    image_size: int,
    *,
    train_images: np.ndarray | None,
    normalize: str,
    init: str,
    dropout: bool,
    alpha: float | None,
    weights: str | None,
) -> keras.Model:
    """The `keras.applications` backbone of ``entry`` under ``task``'s head (frozen when pretrained),
    behind its own preprocessing; with a colour group, as the shape branch of the colour-and-shape
    network, whose colour branch keeps ``normalize``."""
    if task.colour_group is not None:
        model = build_colour_and_shape(
            image_size,
            image_size,
            task.groups,
            task.colour_group,
            preprocessing=input_normalization(normalize, train_images),
            kernel_initializer=kernel_initializer(init),
            dropout=dropout,
            shape_backbone=partial(build_backbone, entry.name, image_size, alpha, weights),
        )
        if weights is not None:
            set_backbone_trainable(model, 0)
        return model
    return build_transfer_classifier(
        entry.name,
        image_size,
        alpha,
        weights,
        task.output_units(num_labels),
        task.final_layer(),
        dropout=dropout,
        kernel_initializer=kernel_initializer(init),
    )


def build_mlp_network(
    entry: Network,
    task: Task,
    num_labels: int,
    image_size: int,
    *,
    train_images: np.ndarray | None,
    normalize: str,
    init: str,
    dropout: bool,
    alpha: float | None,
    weights: str | None,
) -> keras.Model:
    """The MLP under ``task``'s head, standardising its feature vectors itself with statistics from ``train_images``."""
    return build_mlp(
        train_images.shape[1],
        task.output_units(num_labels),
        task.final_layer(),
        dropout=config.MLP_DROPOUT if dropout else 0.0,
        preprocessing=[feature_standardization(train_images)],
        kernel_initializer=kernel_initializer(init),
    )


def as_float32(model: keras.Model) -> keras.Model:
    """``model`` with every layer computing in float32 and the same weights: a mixed-precision model, ready to save.

    Mixed precision only speeds up training; a float32 model predicts, exports to ONNX and
    loads anywhere without bfloat16 support.
    """
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    float32 = keras.models.clone_model(
        model, clone_function=lambda layer: layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})
    )
    float32.set_weights(model.get_weights())
    return float32


def task_with_head(
    task: str,
    head: str,
    classes: list[str],
    label_groups: list[list[str]] | None,
    colour_branch: str = config.COLOUR_BRANCH,
    arch: str = SMALLERVGGNET,
) -> tuple[Task, str]:
    """The `Task` to train for a resolved task name, a ``--head`` and a ``--colour-branch`` choice, and the concrete head.

    ``--colour-branch`` ``on`` (or ``auto``) gives the grouped head's colour group a branch of its
    own when a label group holds colours `recolouring` knows (`recolouring.colour_group`); the
    other groups are read from a grey copy by SmallerVGGNet's layers or by the backbone of
    ``arch`` (MobileNetV2 gets more photos of unseen combinations right and tells unknown types
    apart better: bench/README.md, "Unseen combinations" and "Unknown detection"). ``auto`` is
    ``off`` for a network over features (the MLP).

    Raises:
        ValueError: As `grouped_head.resolve_head`; for an unknown ``colour_branch``, or ``on``
            without the grouped head or a colour group, or with the MLP.
    """
    if colour_branch not in config.COLOUR_BRANCHES:
        raise ValueError(f"`colour_branch` must be one of {', '.join(config.COLOUR_BRANCHES)}. Received: `colour_branch` {colour_branch}")
    if not network(arch).over_images:
        if colour_branch == "on":
            raise ValueError(
                f"`colour_branch` on splits an image network; `arch` {arch} reads feature vectors: use `colour_branch` off or auto."
            )
        colour_branch = "off"
    head = resolve_head(head, task, label_groups)
    colours = colour_group(label_groups) if head == "grouped" else None
    if colour_branch == "on" and colours is None:
        raise ValueError(
            "`colour_branch` on needs the grouped head and a label group of colours (black, blue, red, ...); "
            f"this data set gives {'no colour group' if head == 'grouped' else f'the {head} head'}. Use `colour_branch` off."
        )
    if head == "grouped":
        return grouped_task(
            [[classes.index(label) for label in group] for group in label_groups],
            colour_group=None if colour_branch == "off" else colours,
        ), head
    return get_task(task), head
