#!/usr/bin/env python
"""Score a model trained by train.py on a labelled folder (the same layout as for training).

python evaluate.py --model fashion.model --labelbin mlb.pickle --dataset test_set
"""

import argparse
import sys

from pyimagesearch.cli import configure_logging, quiet_libraries, run
from pyimagesearch.evaluation.options import EVALUATE_SETTINGS, EvaluateOptions
from pyimagesearch.options import add_options, as_flags, flat


def build_parser() -> argparse.ArgumentParser:
    """The command line, generated from the declared options (pyimagesearch/evaluation/options.py)."""
    parser = argparse.ArgumentParser(description="Every multi-label metric of a trained model on labelled images, with its mistakes.")
    return add_options(parser, EVALUATE_SETTINGS)


def main(argv: list[str] | None = None) -> int:
    """Score the model; returns 0, 2 for bad input, 130 on Ctrl-C."""
    options = EvaluateOptions.of(**vars(build_parser().parse_args(argv)))
    quiet_libraries()
    configure_logging(EVALUATE_SETTINGS)
    inputs, outputs = options.inputs, options.outputs

    def evaluate() -> int:
        from pyimagesearch.evaluation.options import check_options
        from pyimagesearch.inference.classification import EXPLAIN_NEEDS_KERAS, Classifier

        check_options(options)
        classifier = Classifier.load(
            inputs.model, inputs.labelbin, prefer_export=True, keras_reason=EXPLAIN_NEEDS_KERAS if outputs.explain else None
        )
        if classifier.note:
            print(f"evaluate.py: {as_flags(classifier.note, EVALUATE_SETTINGS)}", file=sys.stderr)
        if outputs.explain:
            classifier.check_explain()
        # Scoring's libraries (scikit-learn, matplotlib) take seconds to load: only once the inputs are good.
        from tqdm import tqdm

        from pyimagesearch.evaluation.metrics import format_report, summary_line
        from pyimagesearch.evaluation.report import write_evaluation
        from pyimagesearch.evaluation.scoring import evaluate_folder

        decoding = classifier.decoding(**flat(options.decoding))
        result = evaluate_folder(
            classifier,
            inputs.dataset,
            label_sep=inputs.label_sep,
            decoding=decoding,
            progress=lambda items, total: tqdm(items, total=total, desc="loading images", unit="img", file=sys.stderr),
        )
        written = write_evaluation(
            outputs.output, result, classifier, decoding, model=str(inputs.model), dataset=str(inputs.dataset), gallery=outputs.gallery
        )
        if outputs.json:
            print(written[0].read_text())  # report.json, as written
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
        print(f"wrote {', '.join(map(str, written))}")
        return 0

    return run(evaluate, "evaluate.py", EVALUATE_SETTINGS)


if __name__ == "__main__":
    raise SystemExit(main())
