#!/usr/bin/env python
"""Export a model trained by train.py to ONNX, labels included, for classify.py without TensorFlow.

python export.py --model fashion.model                 # writes fashion.onnx beside it
python export.py --model fashion.model --quantize int8 --dataset dataset
python classify.py --model fashion.onnx --image examples
"""

import argparse

from pyimagesearch.cli import configure_logging, quiet_libraries, run
from pyimagesearch.inference.options import EXPORT_SETTINGS, ExportOptions
from pyimagesearch.options import add_options


def build_parser() -> argparse.ArgumentParser:
    """The command line, generated from the declared options (pyimagesearch/inference/options.py)."""
    parser = argparse.ArgumentParser(
        description="Write an ONNX copy of a trained model, carrying its labels, thresholds and input size, "
        "checked against the Keras model.",
    )
    return add_options(parser, EXPORT_SETTINGS)


def main(argv: list[str] | None = None) -> int:
    """Export (and quantize); returns 0, 2 for bad input or a refused quantization, 130 on Ctrl-C."""
    options = ExportOptions.of(**vars(build_parser().parse_args(argv)))
    quiet_libraries()
    configure_logging(EXPORT_SETTINGS)

    def export() -> int:
        from pyimagesearch.inference.quantization import check_tolerance

        if (options.quantize is None) != (options.dataset is None):
            raise ValueError("--quantize and --dataset go together: the quantized export is checked on the --dataset images.")
        check_tolerance(options.tolerance)
        from pyimagesearch.inference.onnx_export import export_onnx
        from pyimagesearch.inference.quantization import quantize_export

        written = export_onnx(options.model, options.output)
        if options.quantize is not None:
            print(quantize_export(written, options.quantize, options.dataset, options.tolerance).summary())
            print(f"replaced {written} by its {options.quantize} copy")
        return 0

    return run(export, "export.py", EXPORT_SETTINGS)


if __name__ == "__main__":
    raise SystemExit(main())
