"""Every option of evaluate.py, declared once (see `pyimagesearch.options`).

The model to run and its decoding are classify.py's options (`pyimagesearch.inference.options`),
declared there once for both. evaluate.py's parser is generated from these, and a test checks
README's table against them. Nothing here imports TensorFlow or Keras: evaluating an ONNX model
never loads them.
"""

from dataclasses import dataclass
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


# evaluate.py's options, in the order of its help and README table.
EVALUATE_SETTINGS = (EvaluateOptions,)
