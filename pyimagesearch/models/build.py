"""Building the network a training asks for: the task's head on SmallerVGGNet, a backbone, the
colour-and-shape network or the MLP, compiled; and the float32 copy that is saved."""

from functools import partial

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.data.recolouring import colour_group
from pyimagesearch.models.backbones import (
    SMALLERVGGNET,
    build_backbone,
    build_transfer_classifier,
    set_backbone_trainable,
)
from pyimagesearch.models.colour_and_shape import build_colour_and_shape
from pyimagesearch.models.grouped_head import resolve_head
from pyimagesearch.models.mlp import MLP, build_mlp, feature_standardization
from pyimagesearch.models.normalization import input_normalization, kernel_initializer
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
    """SmallerVGGNet with the head, loss and metrics of ``task``, compiled; or, for another ``arch``, a
    `keras.applications` backbone with ``alpha`` and ``weights`` under the same head
    (`backbones.build_transfer_classifier`; frozen when pretrained); or, for ``mlp``, the MLP
    (`mlp.build_mlp`) over feature vectors. When ``task`` has a colour group, an image network is
    split into a colour and a shape branch (`colour_and_shape.build_colour_and_shape`), the shape
    branch being SmallerVGGNet's or the backbone.

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
        # A backbone's own preprocessing replaces --normalize; the colour branch keeps it.
        preprocessing = input_normalization(normalize, train_images) if arch == SMALLERVGGNET or task.colour_group is not None else ()
        if arch == MLP:
            model = build_mlp(
                train_images.shape[1],
                task.output_units(num_labels),
                task.final_layer(),
                dropout=config.MLP_DROPOUT if dropout else 0.0,
                preprocessing=[feature_standardization(train_images)],
                kernel_initializer=kernel_initializer(init),
            )
        elif task.colour_group is not None:
            model = build_colour_and_shape(
                image_size,
                image_size,
                task.groups,
                task.colour_group,
                preprocessing=preprocessing,
                kernel_initializer=kernel_initializer(init),
                dropout=dropout,
                shape_backbone=None if arch == SMALLERVGGNET else partial(build_backbone, arch, image_size, alpha, weights),
            )
            if weights is not None:
                set_backbone_trainable(model, 0)
        elif arch != SMALLERVGGNET:
            model = build_transfer_classifier(
                arch,
                image_size,
                alpha,
                weights,
                task.output_units(num_labels),
                task.final_layer(),
                dropout=dropout,
                kernel_initializer=kernel_initializer(init),
            )
        else:
            model = SmallerVGGNet.build(
                width=image_size,
                height=image_size,
                depth=3,
                classes=task.output_units(num_labels),
                finalAct=task.final_layer(),
                preprocessing=preprocessing,
                kernel_initializer=kernel_initializer(init),
                dropout=dropout,
            )
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(optimizer=optimizer, loss=task.loss, metrics=task.metrics(), jit_compile=jit_compile)
    return model


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
    ``arch`` (with MobileNetV2, unseen combinations: 0.885 of photos right against 0.837; unknown
    types: AUROC 0.92-0.95; bench/README.md). ``auto`` is ``off`` for the MLP.

    Raises:
        ValueError: As `grouped_head.resolve_head`; for an unknown ``colour_branch``, or ``on``
            without the grouped head or a colour group, or with the MLP.
    """
    if colour_branch not in config.COLOUR_BRANCHES:
        raise ValueError(f"--colour-branch must be one of {', '.join(config.COLOUR_BRANCHES)}. Received: --colour-branch {colour_branch}")
    if arch == MLP:
        if colour_branch == "on":
            raise ValueError(
                f"--colour-branch on splits an image network; --arch {MLP} reads feature vectors: use --colour-branch off or auto."
            )
        colour_branch = "off"
    head = resolve_head(head, task, label_groups)
    colours = colour_group(label_groups) if head == "grouped" else None
    if colour_branch == "on" and colours is None:
        raise ValueError(
            "--colour-branch on needs the grouped head and a label group of colours (black, blue, red, ...); "
            f"this data set gives {'no colour group' if head == 'grouped' else f'the {head} head'}. Use --colour-branch off."
        )
    if head == "grouped":
        return grouped_task(
            [[classes.index(label) for label in group] for group in label_groups],
            colour_group=None if colour_branch == "off" else colours,
        ), head
    return get_task(task), head
