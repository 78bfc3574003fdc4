"""Background replacement's cost: training images per second with and without it, in one process.

Loads the real photos once, builds SmallerVGGNet's colour-and-shape network (train.py's default before MobileNetV2;
mixed precision where the CPU has it) and trains it epoch after epoch, alternating between two
training pipelines that differ only in background replacement (`backgrounds.BackgroundReplacement`,
as ``--background on`` builds it; the tutorial's augmentation in both). Alternating epochs of the
same model in the same process means a machine whose load changes slows both alike. The first
epoch of each pipeline (graph tracing) is left out; throughput is training images over each
epoch's wall time, no validation pass. Also times each pipeline alone, without training.

Usage:
    python bench/background_speed.py --image-size 64 --rounds 8
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FASHION_DIR, machine, markdown_table, setup_paths, write_results  # noqa: E402

setup_paths()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default=str(FASHION_DIR), help="labelled photo folders")
    parser.add_argument("--image-size", type=int, default=64, help="side of the network input, pixels")
    parser.add_argument("--rounds", type=int, default=8, help="timed epochs of each pipeline, alternated")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", default="background_speed", help="results file name in bench/results/, without .json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import keras

    from pyimagesearch.data.augmentation import build_augmentation
    from pyimagesearch.data.backgrounds import build_background_replacement
    from pyimagesearch.data.dataset import load_labelled_images, make_dataset
    from pyimagesearch.data.labels import fit_binarizer, infer_label_groups, resolve_task
    from pyimagesearch.data.splitting import near_duplicate_groups, split_indices
    from pyimagesearch.models.build import build_classifier, task_with_head
    from pyimagesearch.training.resolve import pipeline_threads, resolve_batch_size, resolve_precision

    data = load_labelled_images(args.dataset, args.image_size)
    binarizer = fit_binarizer(data.label_sets)
    classes = [str(label) for label in binarizer.classes_]
    groups = infer_label_groups([path.parent.name for path in data.paths])
    task, _ = task_with_head(resolve_task(data.label_sets, "auto"), "auto", classes, groups)
    targets = task.encode(binarizer, data.label_sets)
    train_index, _ = split_indices(data.label_sets, 0.2, args.seed, near_duplicate_groups(data.images))
    batch_size = resolve_batch_size("auto", len(train_index))
    started = time.perf_counter()
    replacement = build_background_replacement(data.images, seed=args.seed)
    segmentation_seconds = time.perf_counter() - started

    keras.utils.set_random_seed(args.seed)
    precision = resolve_precision("auto")
    model = build_classifier(
        task, len(classes), args.image_size, keras.optimizers.Adam(1e-3), train_images=data.images[train_index], precision=precision
    )
    pipelines = {
        name: make_dataset(
            data.images,
            targets,
            batch_size,
            indices=train_index,
            augmentation=build_augmentation(args.seed),
            shuffle_seed=args.seed,
            threads=pipeline_threads(),
            backgrounds=backgrounds,
        )
        for name, backgrounds in (("off", None), ("on", replacement))
    }

    def pipeline_alone(dataset) -> float:
        began = time.perf_counter()
        for _ in dataset:
            pass
        return len(train_index) / (time.perf_counter() - began)

    # Alternated too; the best of the passes after the first (tracing).
    passes = {name: [] for name in pipelines}
    for _ in range(args.rounds + 1):
        for name, dataset in pipelines.items():
            passes[name].append(pipeline_alone(dataset))
    pipeline_only = {name: max(values[1:]) for name, values in passes.items()}
    for dataset in pipelines.values():
        model.fit(dataset, epochs=1, verbose=0)  # tracing
    throughput = {name: [] for name in pipelines}
    for round_number in range(args.rounds):
        for name, dataset in pipelines.items():
            began = time.perf_counter()
            model.fit(dataset, epochs=1, verbose=0)
            throughput[name].append(len(train_index) / (time.perf_counter() - began))
            print(f"round {round_number + 1} background {name}: {throughput[name][-1]:.1f} img/s", file=sys.stderr, flush=True)

    medians = {name: statistics.median(values) for name, values in throughput.items()}
    results = {
        "machine": machine(),
        "image_size": args.image_size,
        "batch_size": batch_size,
        "precision": precision,
        "training_images": len(train_index),
        "plain_backgrounds": replacement.plain_count,
        "images": len(data.paths),
        "segmentation_seconds": round(segmentation_seconds, 3),
        "training_images_per_second": throughput,
        "median_images_per_second": medians,
        "ratio_on_to_off": medians["on"] / medians["off"],
        "pipeline_only_images_per_second": pipeline_only,
    }
    path = write_results(args.output, results)
    print(
        f"{len(data.paths)} photos at {args.image_size} px, {replacement.plain_count} with a plain background "
        f"(segmented in {segmentation_seconds:.2f} s); batch {batch_size}, {precision}; load {results['machine']['load_average']}\n"
    )
    print(
        markdown_table(
            ["--background", "training img/s (median)", "each round", "pipeline alone, img/s"],
            [
                [name, f"{medians[name]:.1f}", ", ".join(f"{value:.0f}" for value in throughput[name]), f"{pipeline_only[name]:.0f}"]
                for name in pipelines
            ],
        )
    )
    print(f"\non / off: {results['ratio_on_to_off']:.3f}\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
