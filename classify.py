#!/usr/bin/env python
"""Label new images with a model trained by train.py, run through its ONNX export (no TensorFlow) when it can.

python classify.py --model fashion.model --labelbin mlb.pickle --image examples/example_01.jpg
python classify.py --model fashion.onnx --image examples
"""

import argparse
import json
import sys

from pyimagesearch import config
from pyimagesearch.cli import configure_logging, quiet_libraries, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Label images with a trained model; writes annotated copies.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "-m",
        "--model",
        default=config.MODEL_PATH,
        help="model file written by train.py, or its ONNX export; a model file runs its export of the same training "
        "run (fashion.model -> fashion.onnx, without TensorFlow) when there is one and --explain is not given",
    )
    parser.add_argument(
        "-l",
        "--labelbin",
        default=None,
        help=f"label binarizer written by train.py, checked against the model's labels; default: {config.LABELBIN_PATH} "
        "(with an ONNX model, only if it exists: the export carries its labels)",
    )
    parser.add_argument("-i", "--image", nargs="+", required=True, help="image files, folders or glob patterns")
    parser.add_argument(
        "-t",
        "--threshold",
        type=float,
        default=None,
        help="predict labels with probability at or above this, for every label (multi-label); "
        "default: the per-label thresholds train.py tuned on validation data",
    )
    parser.add_argument(
        "--decode",
        choices=config.DECODINGS,
        default=None,
        help="threshold: labels at or above their thresholds; groups: the most probable label of each "
        "label group (one colour, one type) when every image has exactly one label per group; "
        "default: groups for a model trained with the grouped head (unless -t or -k is given), else threshold",
    )
    parser.add_argument("-k", "--top-k", type=int, default=None, help="predict the K most probable labels instead")
    parser.add_argument(
        "--unknown-threshold",
        type=float,
        default=None,
        help="answer 'unknown' for an image, or a label group, whose typicality is below this: typicality is "
        "the share of the validation photos of known things that looked as unfamiliar or more, 0 to 1; "
        "higher flags more, 0 turns unknown detection off; default: the model's, set by train.py so that "
        "95%% of validation photos get no unknown",
    )
    parser.add_argument(
        "-o",
        "--output",
        default=config.OUTPUT_DIR,
        help="annotated copy: an image file name for one image, else a folder",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also write a Grad-CAM heat-map overlay per predicted label beside each annotated copy",
    )
    parser.add_argument(
        "--annotate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write an annotated copy of each image to --output; --no-annotate only prints the labels (about twice as fast on a folder)",
    )
    parser.add_argument(
        "--report",
        default=None,
        help="also write an HTML page (e.g. report.html): a contact sheet of the images with their labels, "
        "filterable by predicted label, unknowns marked; one file, images embedded",
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    parser.add_argument("--show", action="store_true", help="also open each annotated image in a viewer")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries()
    configure_logging()

    def classify() -> int:
        from PIL import Image

        from pyimagesearch.inference.classification import (
            EXPLAIN_NEEDS_KERAS,
            Classifier,
            annotated_paths,
            expand_image_arguments,
            labelbin_to_check,
            write_all_annotations,
        )
        from pyimagesearch.inference.unknown import format_typicality

        report = None
        if args.report is not None:
            # Jinja2 only when a page is asked for: classifying one image stays as quick as it was.
            from pyimagesearch.evaluation.html_report import check_report_path, write_contact_sheet

            report = check_report_path(args.report)
        if not args.annotate and (args.explain or args.show):
            raise ValueError(f"--{'explain' if args.explain else 'show'} draws on the annotated copies: drop --no-annotate.")
        paths = expand_image_arguments(args.image)
        targets = dict(zip(paths, annotated_paths(paths, args.output))) if args.annotate else {}
        classifier = Classifier.load(
            args.model,
            labelbin_to_check(args.model, args.labelbin),
            prefer_export=True,
            keras_reason=EXPLAIN_NEEDS_KERAS if args.explain else None,
            # One batch: onnxruntime's repacking of the weights would cost more than it saves.
            prepack=len(paths) > config.BATCH_SIZE,
        )
        if classifier.note:
            print(f"classify.py: {classifier.note}", file=sys.stderr)
        if args.explain:
            classifier.check_explain()
        decoding = classifier.decoding(args.threshold, args.top_k, args.decode)
        predictions, skipped = classifier.classify(paths, decoding, unknown_threshold=args.unknown_threshold)
        if args.annotate:
            annotated = [targets[prediction.path] for prediction in predictions]
            write_all_annotations(classifier, predictions, annotated, explain=args.explain)
        if report is not None and predictions:
            write_contact_sheet(report, predictions, classifier.classes, model=str(args.model))
        for prediction in predictions if args.show else []:
            Image.open(prediction.annotated).show(title=str(prediction.path))
        if args.json:
            print(json.dumps([prediction.to_json() for prediction in predictions], indent=2))
        else:
            for prediction in predictions:
                written = f"  -> {prediction.annotated}" if prediction.annotated else ""
                print(f"{prediction.path}: {', '.join(prediction.display_labels()) or '(no label)'}{written}")
                if prediction.unknown is not None:
                    print(f"  typicality: {format_typicality(prediction.unknown)}")
                for label, path in prediction.explanations.items():
                    print(f"  Grad-CAM of {label}: {path}")
                for label, probability in prediction.probabilities.items():
                    print(f"  {label}: {probability * 100:.2f}%")
            if report is not None and predictions:
                print(f"wrote {report}")
        if not predictions:
            raise ValueError(f"none of the {len(paths)} images could be read (see the warnings above).")
        return 1 if skipped else 0

    return run(classify, "classify.py")


if __name__ == "__main__":
    raise SystemExit(main())
