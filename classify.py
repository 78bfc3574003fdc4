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
from pyimagesearch.inference.options import CLASSIFY_SETTINGS, ClassifyOptions
from pyimagesearch.options import add_options, as_flags, flat


def build_parser() -> argparse.ArgumentParser:
    """The command line, generated from the declared options (pyimagesearch/inference/options.py)."""
    parser = argparse.ArgumentParser(description="Label images with a trained model; writes annotated copies.")
    return add_options(parser, CLASSIFY_SETTINGS)


def main(argv: list[str] | None = None) -> int:
    """Label the images; returns 0, 1 when an image could not be read, 2 for bad input, 130 on Ctrl-C."""
    options = ClassifyOptions.of(**vars(build_parser().parse_args(argv)))
    quiet_libraries()
    configure_logging(CLASSIFY_SETTINGS)
    inputs, outputs = options.inputs, options.outputs

    def classify() -> int:
        from PIL import Image

        from pyimagesearch.inference.annotation import annotated_paths, write_all_annotations
        from pyimagesearch.inference.classification import (
            EXPLAIN_NEEDS_KERAS,
            Classifier,
            check_unknown_threshold_range,
            expand_image_arguments,
            labelbin_to_check,
        )
        from pyimagesearch.inference.unknown import format_typicality

        report = None
        if outputs.report is not None:
            # Jinja2 only when a page is asked for: classifying one image stays as quick as it was.
            from pyimagesearch.evaluation.html_report import check_report_path, write_contact_sheet

            report = check_report_path(outputs.report)
        if not outputs.annotate and (outputs.explain or outputs.show):
            raise ValueError(f"--{'explain' if outputs.explain else 'show'} draws on the annotated copies: drop --no-annotate.")
        check_unknown_threshold_range(options.unknown_threshold)
        paths = expand_image_arguments(inputs.image)
        targets = dict(zip(paths, annotated_paths(paths, outputs.output))) if outputs.annotate else {}
        classifier = Classifier.load(
            inputs.model,
            labelbin_to_check(inputs.model, inputs.labelbin),
            prefer_export=True,
            keras_reason=EXPLAIN_NEEDS_KERAS if outputs.explain else None,
            # One batch: onnxruntime's repacking of the weights would cost more than it saves.
            prepack=len(paths) > config.BATCH_SIZE,
        )
        if classifier.note:
            print(f"classify.py: {as_flags(classifier.note, CLASSIFY_SETTINGS)}", file=sys.stderr)
        if outputs.explain:
            classifier.check_explain()
        decoding = classifier.decoding(**flat(options.decoding))
        predictions, skipped = classifier.classify(paths, decoding, unknown_threshold=options.unknown_threshold)
        if outputs.annotate:
            annotated = [targets[prediction.path] for prediction in predictions]
            write_all_annotations(classifier, predictions, annotated, explain=outputs.explain)
        if report is not None and predictions:
            write_contact_sheet(report, predictions, classifier.classes, model=str(inputs.model))
        for prediction in predictions if outputs.show else []:
            Image.open(prediction.annotated).show(title=str(prediction.path))
        if outputs.json:
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

    return run(classify, "classify.py", CLASSIFY_SETTINGS)


if __name__ == "__main__":
    raise SystemExit(main())
