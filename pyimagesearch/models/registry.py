"""The networks of ``--arch``: what each reads, what it supports, and how it builds.

Adding a network is one entry in `NETWORKS` (with its builder) and its test. The rest of the
toolkit asks an entry what it can do instead of testing its name. Nothing here imports Keras:
train.py takes its ``--arch`` choices from here before loading it; builders load lazily.
"""

import importlib
from dataclasses import dataclass
from typing import Any

# The tutorial's two networks, trained from scratch; the other entries are keras.applications backbones.
SMALLERVGGNET = "smallervggnet"
MLP = "mlp"
# What a network reads: images (RGB 0-255, any size it takes) or feature vectors.
IMAGES = "images"
FEATURES = "features"
# SmallerVGGNet's three poolings (3, 2, 2) must leave at least one pixel; keras.applications'
# backbones take 32 pixels and more.
MIN_IMAGE_SIZE = 16
BACKBONE_MIN_IMAGE_SIZE = 32


@dataclass(frozen=True)
class Network:
    """One ``--arch`` choice.

    Attributes:
        name: Its ``--arch`` name.
        reads: `IMAGES`, or `FEATURES` computed outside the network (the MLP).
        pretrained: A `keras.applications` backbone: it takes ``--weights`` and ``--alpha`` and
            trains in two phases (the head on the frozen backbone, then fine-tuning).
        min_image_size: The smallest ``--image-size`` it takes (None for feature vectors).
        bfloat16: Whether it trains faster in mixed bfloat16 than in float32 on a CPU with AMX (the
            depthwise convolutions of the MobileNets and EfficientNet do not, ResNet50's dense ones do;
            measured: bench/README.md, "Transfer learning"); ``--precision auto`` picks float32 on
            CPUs for those that don't.
        builder: ``"module:function"`` building it (see `models.build`), imported when first used.
        description: One line naming it for the training log and the README.
    """

    name: str
    reads: str
    pretrained: bool
    min_image_size: int | None
    bfloat16: bool
    builder: str
    description: str

    @property
    def over_images(self) -> bool:
        """Whether it reads images: then it augments, recolours and replaces backgrounds, splits colour
        and shape into two branches, explains itself with Grad-CAM and exports to ONNX."""
        return self.reads == IMAGES

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """The Keras model, from its builder (`models.build`'s signature)."""
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(module), function)(self, *args, **kwargs)


def _backbone(name: str, bfloat16: bool, description: str) -> Network:
    return Network(name, IMAGES, True, BACKBONE_MIN_IMAGE_SIZE, bfloat16, "pyimagesearch.models.build:build_backbone_network", description)


NETWORKS: dict[str, Network] = {
    network.name: network
    for network in (
        Network(
            SMALLERVGGNET,
            IMAGES,
            False,
            MIN_IMAGE_SIZE,
            True,
            "pyimagesearch.models.build:build_smallervggnet",
            "the tutorial's small VGG-style CNN, trained from scratch",
        ),
        Network(
            MLP,
            FEATURES,
            False,
            None,
            True,
            "pyimagesearch.models.build:build_mlp_network",
            "the tutorial's fully connected network over colour-histogram and HOG features",
        ),
        _backbone("mobilenetv2", False, "MobileNetV2, pretrained on ImageNet (alpha 0.35 ships with the toolkit)"),
        _backbone("mobilenetv3small", False, "MobileNetV3Small, pretrained on ImageNet"),
        _backbone("efficientnetb0", False, "EfficientNetB0, pretrained on ImageNet"),
        _backbone("resnet50", True, "ResNet50, pretrained on ImageNet"),
    )
}
# The keras.applications backbones among them.
BACKBONE_NAMES = tuple(name for name, network in NETWORKS.items() if network.pretrained)


def network(arch: str) -> Network:
    """The registered network named ``arch``.

    Raises:
        ValueError: For a name not in `NETWORKS`.
    """
    if arch not in NETWORKS:
        raise ValueError(f"`arch` must be one of {', '.join(NETWORKS)}. Received: `arch` {arch}")
    return NETWORKS[arch]
