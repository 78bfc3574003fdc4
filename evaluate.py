#!/usr/bin/env python
"""Score a model trained by train.py on a labelled folder (the same layout as for training).

python evaluate.py --model fashion.model --labelbin mlb.pickle --dataset test_set
"""

import argparse
import json
import sys
from pathlib import Path

from pyimagesearch import config
from pyimagesearch.cli import configure_logging, quiet_libraries, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Every multi-label metric of a trained model on labelled images, with its mistakes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "-m",
        "--model",
        default=config.MODEL_PATH,
        help="model file written by train.py, or its ONNX export; a model file runs its export of the same training "
        "run (fashion.model -> fashion.onnx, without TensorFlow) when there is one and --explain is not given",
    )
    parser.add_argument("-l", "--labelbin", default=config.LABELBIN_PATH, help="label binarizer written by train.py")
    parser.add_argument("-d", "--dataset", required=True, help="folder with one sub-folder per label set")
    parser.add_argument("--label-sep", default=None, help="separator of labels in folder names; default: the model's")
    parser.add_argument(
        "-t",
        "--threshold",
        type=float,
        default=None,
        help="one threshold for every label; default: the per-label thresholds tuned by train.py",
    )
    parser.add_argument("-k", "--top-k", type=int, default=None, help="predict the K most probable labels instead")
    parser.add_argument(
        "--decode",
        choices=config.DECODINGS,
        default=None,
        help="as in classify.py; default: groups for a model trained with the grouped head, else threshold",
    )
    parser.add_argument(
        "-o",
        "--output",
        default=config.EVALUATION_DIR,
        help="folder for report.json, misclassified.csv, pr_curves.png and report.html",
    )
    parser.add_argument(
        "--gallery",
        type=int,
        default=config.REPORT_GALLERY,
        help="images report.html shows in each gallery (worst mistakes, images flagged unknown, images with "
        "labels the model never learnt); report.json lists them all",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="draw the Grad-CAM overlay of each worst mistake in report.html: runs the Keras model file (seconds more)",
    )
    parser.add_argument("--json", action="store_true", help="print the full report as JSON on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries()
    configure_logging()

    def evaluate() -> int:
        from tqdm import tqdm

        from pyimagesearch.atomic import write_bytes_atomic, write_csv
        from pyimagesearch.evaluation.metrics import format_report, summary_line
        from pyimagesearch.evaluation.plotting import plot_precision_recall
        from pyimagesearch.evaluation.report import check_gallery, write_evaluation_report
        from pyimagesearch.evaluation.scoring import evaluate_folder
        from pyimagesearch.inference.classification import EXPLAIN_NEEDS_KERAS, Classifier

        output = Path(args.output)
        if output.exists() and not output.is_dir():
            raise ValueError(f"--output {output} is a file: give a folder.")
        check_gallery(args.gallery)
        classifier = Classifier.load(
            args.model, args.labelbin, prefer_export=True, keras_reason=EXPLAIN_NEEDS_KERAS if args.explain else None
        )
        if classifier.note:
            print(f"evaluate.py: {classifier.note}", file=sys.stderr)
        if args.explain:
            classifier.check_explain()
        decoding = classifier.decoding(args.threshold, args.top_k, args.decode)
        result = evaluate_folder(
            classifier,
            args.dataset,
            label_sep=args.label_sep,
            decoding=decoding,
            progress=lambda items, total: tqdm(items, total=total, desc="loading images", unit="img", file=sys.stderr),
        )
        output.mkdir(parents=True, exist_ok=True)
        report = result.to_json()
        write_bytes_atomic(output / "report.json", json.dumps(report, indent=2).encode())
        write_csv(
            [
                {"image": item["image"], "true": " ".join(item["true"]), "predicted": " ".join(item["predicted"]), "loss": item["loss"]}
                for item in result.misclassified
            ],
            output / "misclassified.csv",
            columns=["image", "true", "predicted", "loss"],
        )
        plot_precision_recall(result.true, result.probabilities, classifier.classes, decoding.thresholds, output / "pr_curves.png")
        write_evaluation_report(
            output / "report.html",
            report,
            classifier,
            (output / "pr_curves.png").read_bytes(),
            model=str(args.model),
            dataset=str(args.dataset),
            gallery=args.gallery,
        )
        if args.json:
            print(json.dumps(report, indent=2))
            return 0
        print(f"{result.report['images']} images scored")
        for line in format_report(result.report):
            print(f"  {line}")
        print("under each decoding:")
        for name, scores in result.decodings.items():
            print(f"  {name:<22} {summary_line(scores)}")
        print("confusion per label (TP FP FN TN):")
        for label, counts in result.confusion.items():
            print(
                f"  {label}: {counts['true_positives']} {counts['false_positives']} {counts['false_negatives']} {counts['true_negatives']}"
            )
        print(f"misclassified: {len(result.misclassified)} (highest loss first)")
        for item in result.misclassified:
            print(
                f"  {item['image']}: true {', '.join(item['true'])}; predicted {', '.join(item['predicted']) or '(none)'}; "
                f"loss {item['loss']:.3f}"
            )
        if result.out_of_vocabulary:
            unknown = sorted({label for item in result.out_of_vocabulary for label in item["unknown"]})
            print(
                f"not scored: {len(result.out_of_vocabulary)} images carry labels the model never learnt "
                f"({', '.join(unknown)}); listed in report.json"
            )
        if result.unknown is not None:
            print(
                f"flagged unknown: {result.unknown['images']} images (typicality below {result.unknown['threshold']:g}); "
                "listed in report.json and report.html"
            )
        if result.skipped:
            print(f"unreadable: {len(result.skipped)} files (see the warnings above)")
        print(f"wrote {output / 'report.json'}, {output / 'misclassified.csv'}, {output / 'pr_curves.png'}, {output / 'report.html'}")
        return 0

    return run(evaluate, "evaluate.py")


if __name__ == "__main__":
    raise SystemExit(main())
