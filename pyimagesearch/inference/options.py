"""Every option of classify.py and export.py, declared once (see `pyimagesearch.options`).

The model to run (`ModelOptions`) and its decoding (`DecodingOptions`) are evaluate.py's too
(`pyimagesearch.evaluation.options`): declared here once, for both. classify.py's and export.py's
parsers are generated from these, and a test checks README's tables against them. Build one with
``ClassifyOptions.of(image=["photos"], top_k=2)`` (option names are the flags' without dashes).
Nothing here imports TensorFlow or Keras: classifying with an ONNX model never loads them.
"""

from dataclasses import dataclass
from typing import Any

from pyimagesearch import config
from pyimagesearch.options import build, option


@dataclass(frozen=True)
class ModelOptions:
    """The trained model a command runs (classify.py, evaluate.py)."""

    model: str = option(
        config.MODEL_PATH,
        "model written by train.py (its ONNX export beside it runs, unless `--explain`), or the `.onnx` export",
        short="-m",
    )


@dataclass(frozen=True)
class DecodingOptions:
    """How probabilities become labels (classify.py, evaluate.py): the arguments of `Classifier.decoding`."""

    threshold: float | None = option(None, "one threshold for every label", short="-t", parse=float, default_text="the model's tuned ones")
    decode: str | None = option(
        None,
        "`threshold` or `groups` (one label per group); default: `groups` for the grouped head, else `threshold`",
        choices=config.DECODINGS,
        default_text="the model's",
    )
    top_k: int | None = option(None, "predict the K most probable labels instead (the tutorial showed the top 2)", short="-k", parse=int)


@dataclass(frozen=True)
class ClassifyInputs(ModelOptions):
    """The model, its labelbin and the images to label."""

    labelbin: str | None = option(
        None,
        "labelbin of the same train.py run, checked against the model",
        short="-l",
        default_text="`mlb.pickle` (with an ONNX model, only if it exists)",
    )
    image: list[str] | None = option(
        None, "one or more image files, folders (searched recursively) or glob patterns", short="-i", required=True, many=True
    )


@dataclass(frozen=True)
class ClassifyOutputs:
    """What classify.py writes and shows."""

    output: str = option(config.OUTPUT_DIR, "annotated copy: a file name for one image, else a folder", short="-o")
    explain: bool = option(
        False,
        "also write a Grad-CAM overlay per predicted label, `<name>_gradcam_<label>.jpg` (Keras model file only)",
        switch=True,
    )
    annotate: bool = option(
        True,
        "write an annotated copy of each image; `--no-annotate` only prints the labels",
        negatable=True,
        default_text="annotate",
    )
    report: str | None = option(None, "also write an HTML contact sheet there ([docs/reports.md](docs/reports.md))")
    json: bool = option(False, "print the results as JSON on stdout", switch=True)
    show: bool = option(False, "also open each annotated image in the system's image viewer", switch=True)


@dataclass(frozen=True)
class ClassifyOptions:
    """Every option of classify.py. ``ClassifyOptions.of(image=[...], top_k=2)`` builds one from option names."""

    inputs: ClassifyInputs = ClassifyInputs()
    decoding: DecodingOptions = DecodingOptions()
    unknown_threshold: float | None = option(
        None,
        'typicality below which an image or label group is "unknown"; `0`: off ([docs/unknown.md](docs/unknown.md))',
        parse=float,
        default_text="the model's (about 0.03)",
    )
    outputs: ClassifyOutputs = ClassifyOutputs()

    @classmethod
    def of(cls, **values: Any) -> "ClassifyOptions":
        """The options named in ``values``, the others at their defaults.

        Raises:
            TypeError: For a name that is not an option of classify.py.
        """
        return build(cls, values)


@dataclass(frozen=True)
class ExportOptions:
    """Every option of export.py. ``ExportOptions.of(model="fashion.model")`` builds one from option names."""

    model: str = option(config.MODEL_PATH, "model file written by train.py", short="-m")
    output: str | None = option(None, "ONNX file to write", short="-o", default_text="the model's name with `.onnx`, beside it")
    quantize: str | None = option(
        None,
        "`int8` or `float16` weights, kept only if the `--dataset` images keep their labels",
        choices=config.QUANTIZATIONS,
    )
    dataset: str | None = option(None, "with `--quantize`: the labelled folder to check on")
    tolerance: float = option(0.0, "with `--quantize`: the largest share of those images whose labels may change", parse=float)

    @classmethod
    def of(cls, **values: Any) -> "ExportOptions":
        """The options named in ``values``, the others at their defaults.

        Raises:
            TypeError: For a name that is not an option of export.py.
        """
        return build(cls, values)


# Each script's options, in the order of its help and README table.
CLASSIFY_SETTINGS = (ClassifyOptions,)
EXPORT_SETTINGS = (ExportOptions,)
