#!/usr/bin/env python
"""Export a model trained by train.py to ONNX, labels included, for classify.py without TensorFlow.

    python export.py --model fashion.model                 # writes fashion.onnx beside it
    python classify.py --model fashion.onnx --image examples
"""

import argparse

from pyimagesearch import config
from pyimagesearch.cli import configure_logging, quiet_libraries, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Write an ONNX copy of a trained model, carrying its labels, thresholds and input size, "
        "checked against the Keras model.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("-m", "--model", default=config.MODEL_PATH, help="model file written by train.py")
    parser.add_argument(
        "-o", "--output", default=None,
        help="ONNX file to write; default: the model's name with .onnx, beside it (fashion.model -> fashion.onnx)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries()
    configure_logging()

    def export() -> int:
        from pyimagesearch.export import export_onnx

        export_onnx(args.model, args.output)
        return 0

    return run(export, "export.py")


if __name__ == "__main__":
    raise SystemExit(main())
