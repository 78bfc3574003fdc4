"""Every option of evaluate.py, declared once (see `pyimagesearch.options`).

The model to run and its decoding are classify.py's options (`pyimagesearch.inference.options`),
declared there once for both. evaluate.py's parser is generated from these, and a test checks
README's table against them. Nothing here imports TensorFlow or Keras: evaluating an ONNX model
never loads them.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyimagesearch import config
from pyimagesearch.inference.options import DecodingOptions, ModelOptions
from pyimagesearch.options import build, option


@dataclass(frozen=True)
class EvaluateInputs(ModelOptions):
    """The model, its labelbin and the labelled images to score it on."""

    labelbin: str = option(config.LABELBIN_PATH, "labelbin written by the same train.py run", short="-l")
    dataset: str | None = option(None, "folder with one sub-folder per label set", short="-d", required=True)
    label_sep: str | None = option(None, "separator of labels in folder names", default_text="the model's")


@dataclass(frozen=True)
class EvaluateOutputs:
    """What evaluate.py writes and prints."""

    output: str = option(
        config.EVALUATION_DIR,
        "folder for `report.json`, `misclassified.csv`, `pr_curves.png` and `report.html`",
        short="-o",
    )
    gallery: int = option(config.REPORT_GALLERY, "images `report.html` shows in each gallery; `report.json` lists them all", parse=int)
    explain: bool = option(False, "draw the Grad-CAM overlay of each worst mistake in `report.html`", switch=True)
    json: bool = option(False, "print the full report as JSON on stdout", switch=True)


@dataclass(frozen=True)
class EvaluateOptions:
    """Every option of evaluate.py. ``EvaluateOptions.of(dataset="test_set")`` builds one from option names."""

    inputs: EvaluateInputs = EvaluateInputs()
    decoding: DecodingOptions = DecodingOptions()
    outputs: EvaluateOutputs = EvaluateOutputs()

    @classmethod
    def of(cls, **values: Any) -> "EvaluateOptions":
        """The options named in ``values``, the others at their defaults.

        Raises:
            TypeError: For a name that is not an option of evaluate.py.
        """
        return build(cls, values)


def check_output_folder(output: str | os.PathLike) -> None:
    """Refuse an ``output`` that is a file before any work.

    Raises:
        ValueError: Naming ``output``.
    """
    if Path(output).exists() and not Path(output).is_dir():
        raise ValueError(f"`output` {output} is a file: give a folder.")


def check_gallery(count: int) -> None:
    """Refuse a gallery size below 0 before any image is read.

    Raises:
        ValueError: Naming ``gallery`` and what was received.
    """
    if count < 0:
        raise ValueError(f"`gallery` must be 0 or more (0 shows no image). Received: {count}")


def check_options(options: EvaluateOptions) -> None:
    """Every check of ``options`` that needs neither the model nor the images: evaluate.py runs it
    before loading the model and the libraries scoring needs, so that a mistyped flag is refused at once.

    Raises:
        ValueError: Naming the option (``output``, ``gallery`` or ``dataset``) and the fix.
    """
    from pyimagesearch.data.dataset import check_image_folder  # not needed to build evaluate.py's parser

    check_output_folder(options.outputs.output)
    check_gallery(options.outputs.gallery)
    check_image_folder(options.inputs.dataset)


# evaluate.py's options, in the order of its help and README table.
EVALUATE_SETTINGS = (EvaluateOptions,)
