#!/usr/bin/env python
"""Export a model trained by train.py to ONNX, labels included, for classify.py without TensorFlow.

python export.py --model fashion.model                 # writes fashion.onnx beside it
python export.py --model fashion.model --quantize int8 --dataset dataset
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
        "-o",
        "--output",
        default=None,
        help="ONNX file to write; default: the model's name with .onnx, beside it (fashion.model -> fashion.onnx)",
    )
    parser.add_argument(
        "--quantize",
        choices=config.QUANTIZATIONS,
        default=None,
        help="smaller weights: int8 (onnxruntime's dynamic quantization of the dense layers) or float16; kept only if "
        "the labels of the --dataset images stay the same (see --tolerance), else the float32 export is written",
    )
    parser.add_argument(
        "--dataset",
        default=None,
        help="with --quantize, the labelled folder whose images the quantized export must label as the float32 one "
        "does: the training folder (its validation images included) or a test set",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="with --quantize, the largest share of the --dataset images whose labels may change (0: none)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries()
    configure_logging()

    def export() -> int:
        from pyimagesearch.inference.quantization import check_tolerance

        if (args.quantize is None) != (args.dataset is None):
            raise ValueError("--quantize and --dataset go together: the quantized export is checked on the --dataset images.")
        check_tolerance(args.tolerance)
        from pyimagesearch.inference.onnx_export import export_onnx
        from pyimagesearch.inference.quantization import quantize_export

        written = export_onnx(args.model, args.output)
        if args.quantize is not None:
            print(quantize_export(written, args.quantize, args.dataset, args.tolerance).summary())
            print(f"replaced {written} by its {args.quantize} copy")
        return 0

    return run(export, "export.py")


if __name__ == "__main__":
    raise SystemExit(main())
