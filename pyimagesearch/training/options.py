"""Every option of training (train.py), declared once, grouped by concern.

`train` and `check_overfit` take a `TrainOptions`; train.py's parser is generated from it; the
model's metadata keeps it; a test checks README's train.py table against it. Build one with
`TrainOptions.of(dataset="dataset", epochs=20)` (option names are the flags' without dashes).
Nothing here imports TensorFlow or Keras, so train.py checks its arguments before loading them.
"""

import argparse
from dataclasses import dataclass
from typing import Any

from pyimagesearch import config
from pyimagesearch.models.registry import NETWORKS
from pyimagesearch.options import build, flat, option


def batch_size_choice(text: str) -> int | str:
    """A ``batch_size`` given as text: ``auto`` or a whole number (its range is checked by `recipe.check_recipe`)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected a whole number of images such as 64, or auto. Received: {text!r}") from None


@dataclass(frozen=True)
class DataOptions:
    """Where the images come from, how they are read, and how they are split."""

    dataset: str = option(
        None,
        "label folders, a manifest (`.jsonl`, or `.csv` with a `path` column), or with `--arch mlp` a feature table (`.npy`, `.csv`)",
        short="-d",
        required=True,
    )
    image_size: int = option(config.IMAGE_SIZE, "side of the square network input, pixels (at least 16)", parse=int)
    val_split: float = option(config.VAL_SPLIT, "share of images held out for validation", parse=float)
    label_sep: str = option(config.LABEL_SEP, "separator of labels in folder names (and in a feature table's label cells)")
    label_column: str = option(config.LABEL_COLUMN, "a feature table's column of labels")
    task: str = option("auto", "`auto`, `multilabel`, `multiclass` or `binary`", choices=config.TASKS)
    split: str = option(
        config.SPLIT,
        "`grouped`: near-duplicates stay on one side, stratified over labels and combinations; `random`: the tutorial's",
        choices=config.SPLITS,
    )
    duplicate_radius: int = option(
        config.DUPLICATE_RADIUS, "images whose 256-bit difference hashes differ in at most this many bits are near-duplicates", parse=int
    )
    folds: int | None = option(None, "K: cross-validate on K group-aware stratified folds first, then train the model to save", parse=int)
    cache: str = option(
        config.CACHE,
        "decoded images kept in `memory`, on `disk` (reused by the next run) or `none`; `auto`: `memory` if they fit in a "
        "quarter of the memory",
        choices=config.CACHES,
    )
    cache_dir: str | None = option(
        None,
        "folder of the on-disk cache (`$XDG_CACHE_HOME/pyimagesearch` when set)",
        default_text="`~/.cache/pyimagesearch`",
    )


@dataclass(frozen=True)
class NetworkOptions:
    """The network, its head and how its inputs and weights start."""

    arch: str = option(
        config.ARCH,
        "`mobilenetv2`, `smallervggnet` (the tutorial's), `mlp`, `mobilenetv3small`, `efficientnetb0`, `resnet50`",
        choices=tuple(NETWORKS),
    )
    alpha: float | None = option(
        None,
        "width multiplier of a MobileNet backbone",
        parse=float,
        default_text="the file's (0.35 for MobileNetV2's shipped one), else 1.0",
    )
    weights: str | None = option(
        None,
        "pretrained weights: `imagenet` (downloaded once), `none`, or a no-top Keras applications weights file",
        default_text="MobileNetV2: the shipped file; another backbone: `imagenet`; SmallerVGGNet: `none`",
    )
    head: str = option(
        config.HEAD,
        "`flat` (one sigmoid per label) or `grouped` (one softmax per label group); `auto`: `grouped` for `<colour>_<type>` folders",
        choices=config.HEADS,
    )
    colour_branch: str = option(
        config.COLOUR_BRANCH,
        "`on`/`off`: read colour from a shape-blind branch and type from a grey copy; `auto`: on when a label group holds colours it knows",
        choices=config.COLOUR_BRANCHES,
    )
    normalize: str = option(
        config.NORMALIZE,
        "input scaling inside the model: `unit` ([0, 1]), `center` or `standardize` (per channel)",
        choices=config.NORMALIZATIONS,
    )
    init: str = option(config.INIT, "kernel initialisation: `glorot` (Keras' default) or `he`", choices=config.INITS)


@dataclass(frozen=True)
class FittingOptions:
    """How the network is fitted: epochs, learning rates, batches, augmentation and arithmetic."""

    epochs: int | None = option(
        None,
        "passes over the training set, at most (see `--patience`); with a pretrained backbone, on its frozen layers",
        parse=int,
        default_text=f"{config.PRETRAINED_EPOCHS} pretrained, {config.EPOCHS} from scratch",
    )
    lr: float = option(config.LEARNING_RATE, "Adam's initial learning rate", parse=float)
    batch_size: int | str = option(
        config.TRAIN_BATCH_SIZE,
        "images per step (per replica); `auto`: 64 when the training split holds at least 1,024 images, else 32",
        parse=batch_size_choice,
    )
    seed: int = option(config.SEED, "seed of the split, the initial weights, shuffling and augmentation", parse=int)
    fine_tune_layers: int = option(
        config.FINE_TUNE_LAYERS,
        "after `--epochs` on the frozen backbone, unfreeze its top N layers and train on; 0: no fine-tuning",
        parse=int,
    )
    fine_tune_epochs: int = option(config.FINE_TUNE_EPOCHS, "epochs of that fine-tuning, at most; 0: none", parse=int)
    fine_tune_lr: float = option(config.FINE_TUNE_LR, "its initial learning rate", parse=float)
    schedule: str = option(
        config.SCHEDULE,
        "learning-rate schedule: `cosine` decay to zero, or `tutorial` (Keras 2's `decay=lr/epochs`)",
        choices=config.SCHEDULES,
    )
    patience: int = option(
        config.PATIENCE,
        "stop after this many epochs without a better validation exact-match, keeping the best epoch; 0: every epoch",
        parse=int,
    )
    recolour: str = option(
        config.RECOLOUR,
        "`on`/`off`: repaint training garments another colour and relabel them; `auto`: on with the grouped head on one network",
        choices=config.RECOLOURS,
    )
    background: str = option(
        config.BACKGROUND,
        "`on`/`off`: put training garments on other backgrounds and framings; `auto`: on for networks over images",
        choices=config.BACKGROUNDS,
    )
    stop_on_stall: bool = option(False, "stop when the health check sees a stall, writing no model", switch=True)
    precision: str = option(
        config.PRECISION,
        "`bfloat16` (mixed) or `float32`; `auto`: bfloat16 where the hardware computes in it, except MobileNet and EfficientNet on a CPU",
        choices=config.PRECISIONS,
    )
    jit_compile: str = option(
        config.JIT_COMPILE,
        "XLA compilation of the training step, `on` or `off`; `auto`: on GPUs only (on a CPU, XLA trains several times slower)",
        choices=config.JIT_COMPILES,
    )


@dataclass(frozen=True)
class RunOptions:
    """Where training runs and what it keeps while it runs."""

    strategy: str = option(
        config.STRATEGY,
        "`none`, `mirrored` (this machine's GPUs) or `multiworker` (`TF_CONFIG`'s machines); `auto` picks from `TF_CONFIG` and the GPUs",
        choices=config.STRATEGIES,
    )
    work_dir: str | None = option(None, "folder where training backs itself up after every epoch and keeps the best model (`best.keras`)")
    resume: bool = option(
        False,
        "continue the interrupted run backed up in `--work-dir`, to the `--epochs` (or `--fine-tune-epochs`) given now",
        switch=True,
    )
    logdir: str | None = option(
        None, "write TensorBoard logs there: every metric, the learning rate, and a few validation images with their labels"
    )


@dataclass(frozen=True)
class OutputOptions:
    """The files training writes."""

    model: str = option(config.MODEL_PATH, "model file to write; any name works", short="-m")
    labelbin: str = option(config.LABELBIN_PATH, "the fitted scikit-learn `MultiLabelBinarizer` to write", short="-l")
    plot: str = option(config.PLOT_PATH, "training curves to write", short="-p")
    export: bool | None = option(
        None,
        "also write the ONNX export beside the model (`fashion.onnx`)",
        negatable=True,
        default_text="on (off for `--arch mlp`)",
    )


@dataclass(frozen=True)
class TrainOptions:
    """Every option of a training run, by concern. ``TrainOptions.of(dataset=..., epochs=...)`` builds one
    from option names; ``TrainOptions.flat()`` gives them back by name."""

    data: DataOptions = DataOptions()
    outputs: OutputOptions = OutputOptions()
    network: NetworkOptions = NetworkOptions()
    fitting: FittingOptions = FittingOptions()
    run: RunOptions = RunOptions()

    @classmethod
    def of(cls, **values: Any) -> "TrainOptions":
        """The options named in ``values`` (e.g. ``dataset="dataset", epochs=20``), the others at their defaults.

        Raises:
            TypeError: For a name that is not an option of training.
        """
        return build(cls, values)

    def flat(self) -> dict[str, Any]:
        """Every option's value by name, as the model's metadata keeps them."""
        return flat(self)

    def replace(self, **values: Any) -> "TrainOptions":
        """A copy with the options named in ``values`` changed."""
        return build(type(self), {**self.flat(), **values})


@dataclass(frozen=True)
class CheckOptions:
    """train.py's other mode: a check instead of a training."""

    overfit_check: int | None = option(
        None,
        "instead of training, check that the set-up can memorise N images; exit code 0 if it can",
        parse=int,
        const=config.OVERFIT_CHECK_IMAGES,
        metavar="N",
        default_text=f"off (N = {config.OVERFIT_CHECK_IMAGES})",
    )


# train.py's options, in the order of its help and README table.
SETTINGS = (TrainOptions, CheckOptions)


def train_options(arguments: argparse.Namespace) -> TrainOptions:
    """The `TrainOptions` of parsed train.py arguments."""
    return build(TrainOptions, vars(arguments), strict=False)
