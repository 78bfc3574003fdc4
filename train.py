#!/usr/bin/env python
"""Train a multi-label (or multi-class, or binary) image classifier on a folder of images.

python train.py --dataset dataset --model fashion.model --labelbin mlb.pickle
python train.py --dataset dataset --arch mlp          # an MLP over colour and HOG features
python train.py --dataset table.csv --arch mlp        # an MLP over a table of feature vectors
"""

import argparse
import signal
import sys

from pyimagesearch.cli import configure_logging, quiet_libraries, run
from pyimagesearch.options import add_options
from pyimagesearch.training.options import SETTINGS, train_options


def build_parser() -> argparse.ArgumentParser:
    """The command line, generated from the declared options (pyimagesearch/training/options.py)."""
    parser = argparse.ArgumentParser(
        description="Train MobileNetV2 (pretrained), the tutorial's SmallerVGGNet or an MLP on images in label folders "
        "(e.g. dataset/red_dress/).",
    )
    return add_options(parser, SETTINGS)


def main(argv: list[str] | None = None) -> int:
    """Train (or run the overfit check); returns 0, 1 when the overfit check fails, 2 for bad input, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    quiet_libraries()
    configure_logging(SETTINGS)
    options = train_options(args)

    def train() -> int:
        if args.overfit_check is not None:
            from pyimagesearch.training.overfit import check_overfit

            result = check_overfit(options, args.overfit_check)
            for line in result.lines():
                print(line)
            return 0 if result.success else 1

        from pyimagesearch.training.distribution import create_strategy
        from pyimagesearch.training.recipe import check_options

        # A mistyped flag is refused before TensorFlow takes seconds to load.
        check_options(options)
        # Before any other TensorFlow work: MultiWorkerMirroredStrategy sets up the process's collectives.
        strategy = create_strategy(options.run.strategy)
        # A scheduler's SIGTERM (preemption, scancel) stops training as Ctrl-C does, leaving the backup.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        from tqdm import tqdm

        from pyimagesearch.training.pipeline import train as train_classifier

        train_classifier(
            options,
            strategy=strategy,
            progress=lambda items, total: tqdm(items, total=total, desc="loading images", unit="img", file=sys.stderr),
            verbose=1 if sys.stdout.isatty() else 2,
        )
        return 0

    return run(train, "train.py", SETTINGS)


if __name__ == "__main__":
    raise SystemExit(main())
