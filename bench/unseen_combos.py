"""Unseen combinations: can a model that knows "blue" and knows "dress" say "blue dress" without ever seeing one?

Leave-one-combination-out on the real photos: for each left-out folder (blue_dress, ...), train on
the other five, then label every photo of the left-out folder and score the share with colour AND
type right, and each alone. Set-ups, each run in a fresh process:

- ``tutorial``: the flat sigmoid head, labels = the two most probable (the tutorial's rule);
- ``grouped``: one softmax per label group, one label per group;
- ``grouped+recolour``: the same with label-aware recolouring of the training images;
- ``flat+recolour``: the flat head, top two, with recolouring;
- ``colour-and-shape``: the grouped head on a shape-blind colour branch and a grey shape branch
  (`colour_and_shape.build_colour_and_shape`): train.py's default for such folders;
- ``colour-and-shape+recolour``: the same with recolouring;
- ``colour-and-shape+mobilenetv2``: the colour-and-shape network whose shape branch is ImageNet
  MobileNetV2 (alpha 0.35, the shared weights file) on the grey copy, fine-tuned
  (``--arch mobilenetv2 --colour-branch on``); variants of it: ``, background off`` without
  background replacement, ``+recolour`` with label-aware recolouring, ``, batch 32 float32`` as
  before #25's automatic choices, ``, attention 1x1 only`` with the colour attention from one
  1x1 layer.

Each also labels ``examples/example_07.jpg`` (a black dress: black only ever comes on jeans).

Usage:
    python bench/unseen_combos.py --epochs 15 --image-size 64
    python bench/unseen_combos.py --combinations blue_dress --setups tutorial grouped grouped+recolour
    python bench/unseen_combos.py --image-size 96 --setups colour-and-shape+mobilenetv2 colour-and-shape
"""

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    FASHION_DIR,
    PROJECT_ROOT,
    group_scores,
    machine,
    markdown_table,
    run_child,
    set_library_constants,
    setup_paths,
    write_results,
)

setup_paths()

# ImageNet MobileNetV2 (alpha 0.35) for the pretrained shape branch; ../shared/models beside the project.
MOBILENETV2_WEIGHTS = PROJECT_ROOT.parent / "shared" / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
COMBINATIONS = ("blue_dress", "blue_jeans", "blue_shirt", "red_dress", "red_shirt")
# The colour-and-shape network on the pretrained shape branch, 10 epochs of fine-tuning (train.py's
# default until 2026-12-05, the set-up of every table).
MOBILENETV2 = {
    "head": "grouped",
    "recolour": "off",
    "colour_branch": "on",
    "arch": "mobilenetv2",
    "weights": str(MOBILENETV2_WEIGHTS),
    "fine_tune_epochs": 10,
}
# train() arguments and the decoding of each set-up (and, for some, library constants changed in
# its process: `common.set_library_constants`).
SETUPS = {
    "tutorial": ({"arch": "smallervggnet", "head": "flat", "recolour": "off"}, {"top_k": 2}),
    "grouped": ({"arch": "smallervggnet", "head": "grouped", "recolour": "off", "colour_branch": "off"}, {}),
    "grouped+recolour": ({"arch": "smallervggnet", "head": "grouped", "recolour": "on", "colour_branch": "off"}, {}),
    "flat+recolour": ({"arch": "smallervggnet", "head": "flat", "recolour": "on"}, {"top_k": 2}),
    "colour-and-shape": ({"arch": "smallervggnet", "head": "grouped", "recolour": "off", "colour_branch": "on"}, {}),
    "colour-and-shape+recolour": ({"arch": "smallervggnet", "head": "grouped", "recolour": "on", "colour_branch": "on"}, {}),
    "colour-and-shape+mobilenetv2": (MOBILENETV2, {}),
    # The colour attention from one 1x1 layer on the shape branch's maps, not a 3x3 layer of 64 first.
    "colour-and-shape+mobilenetv2, attention 1x1 only": (MOBILENETV2, {}, {"models.colour_and_shape.ATTENTION_HIDDEN": 0}),
    # Before #25's automatic choices: batch 32 in float32.
    "colour-and-shape+mobilenetv2, batch 32 float32": ({**MOBILENETV2, "batch_size": 32, "precision": "float32"}, {}),
    "colour-and-shape+mobilenetv2+recolour": ({**MOBILENETV2, "recolour": "on"}, {}),
    # The colour branch's input darkened by a random factor down to 1/4 (1/2, 1/1.5) in training (#20).
    "colour-and-shape+mobilenetv2, shade 4": (MOBILENETV2, {}, {"models.colour_and_shape.SHADE_RANGE": 4.0}),
    "colour-and-shape+mobilenetv2, shade 2": (MOBILENETV2, {}, {"models.colour_and_shape.SHADE_RANGE": 2.0}),
    "colour-and-shape+mobilenetv2, shade 1.5": (MOBILENETV2, {}, {"models.colour_and_shape.SHADE_RANGE": 1.5}),
    # The grey branch's gamma drawn down to 1/10, not 1/4: black garments turn as light as light-wash denim (#20).
    "colour-and-shape+mobilenetv2, brighten 10": (MOBILENETV2, {}, {"models.colour_and_shape.BRIGHTEN_RANGE": 10.0}),
    "colour-and-shape+mobilenetv2, background off": ({**MOBILENETV2, "background": "off"}, {}),
    # Fine-tuning twice as long: 20 epochs, not 10 (train.py's default since 2026-12-05).
    "colour-and-shape+mobilenetv2, fine-tuning 20": ({**MOBILENETV2, "fine_tune_epochs": 20}, {}),
    # The grey branch's histogram equalised per image instead of its tones jittered in training (#20).
    "colour-and-shape+mobilenetv2, equalised": (MOBILENETV2, {}, {"models.colour_and_shape.SHAPE_TONE": "equalise"}),
    # The grey copy a random mix of the channels in training (flat Dirichlet weights), fine-tuning 20 (#20).
    "colour-and-shape+mobilenetv2, grey mix": ({**MOBILENETV2, "fine_tune_epochs": 20}, {}, {"models.colour_and_shape.GREY_MIX": 1.0}),
    # Fine-tuning 20 with the type groups' unknown distance both the nearest neighbour's and the Mahalanobis distance (#20).
    "colour-and-shape+mobilenetv2, fine-tuning 20, joint distance": (
        {**MOBILENETV2, "fine_tune_epochs": 20},
        {},
        {"inference.distances.PRETRAINED_DISTANCE": "neighbour_and_mahalanobis"},
    ),
}
EXAMPLE = PROJECT_ROOT.parent / "shared" / "data" / "examples" / "example_07.jpg"


def link_folders(dataset: Path, folders: list[str], target: Path) -> None:
    """``target/<folder>/<file>`` symbolic links to each image of the chosen folders: a data set without a copy."""
    for folder in folders:
        (target / folder).mkdir(parents=True)
        for path in sorted((dataset / folder).iterdir()):
            (target / folder / path.name).symlink_to(path.resolve())


def combination_scores(predicted: list[set[str]], left_out: str, colours: list[str], types: list[str]) -> dict:
    """Shares of the left-out folder's photos (``blue_dress``) whose predicted labels hold its colour AND
    type, and each alone: exactly one colour, the right one, and likewise for the type."""
    return group_scores(predicted, [left_out.split("_")] * len(predicted), colours, types)


# Candidate rule for the colour group's unknown flag (#20), measured beside the stored one: the group
# counts as unknown only when its verdict says so and its most probable colour is below the floor.
COLOUR_FLOORS = (0.9, 0.99)


def unknown_shares(predictions: list) -> dict[str, float]:
    """Shares of ``predictions`` flagged unknown: by the stored verdict (the image or any label group),
    by each label group's verdict, and with each of `COLOUR_FLOORS` on the colour group (the first)."""
    from pyimagesearch.inference.unknown import is_flagged

    verdicts = [(prediction.unknown, prediction.probabilities) for prediction in predictions]
    shares = {"stored": sum(is_flagged(verdict) for verdict, _ in verdicts) / len(verdicts)}
    for g, group in enumerate(verdicts[0][0]["groups"]):
        shares["/".join(group["labels"])] = sum(verdict["groups"][g]["unknown"] for verdict, _ in verdicts) / len(verdicts)

    def flagged(verdict: dict, probabilities: dict[str, float], floor: float) -> bool:
        colour, *others = verdict["groups"]
        weak_colour = colour["unknown"] and max(probabilities[label] for label in colour["labels"]) < floor
        return verdict["image"]["unknown"] or weak_colour or any(group["unknown"] for group in others)

    for floor in COLOUR_FLOORS:
        shares[f"colour floor {floor:g}"] = sum(flagged(*verdict, floor) for verdict in verdicts) / len(verdicts)
    return shares


def colour_by_probability(classifier):
    """A copy of ``classifier`` whose colour group is flagged by its probability alone: without the
    colour distance that vetoes its flags."""
    import copy

    before = copy.copy(classifier)
    before.unknown = copy.copy(classifier.unknown)
    before.unknown.group_distances = [
        None if distance and distance.combine == "both" else distance for distance in classifier.unknown.group_distances
    ]
    return before


def child_run(dataset: Path, left_out: str, setup: str, epochs: int, image_size: int, patience: int, seed: int) -> dict:
    """Train on every folder but ``left_out`` with ``setup``, then label the left-out folder and example_07."""
    import numpy as np

    from pyimagesearch import config
    from pyimagesearch.data.dataset import load_labelled_images
    from pyimagesearch.data.images import list_images
    from pyimagesearch.data.splitting import near_duplicate_groups, split_indices
    from pyimagesearch.inference.classification import Classifier
    from pyimagesearch.inference.unknown import is_flagged
    from pyimagesearch.training.options import TrainOptions
    from pyimagesearch.training.pipeline import train

    training, choices, *constants = SETUPS[setup]
    set_library_constants(constants[0] if constants else {})
    folders = sorted(path.name for path in dataset.iterdir() if path.is_dir() and path.name != left_out)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        link_folders(dataset, folders, work / "data")
        result = train(
            TrainOptions.of(
                export=False,
                dataset=work / "data",
                model=work / "m.model",
                labelbin=work / "m.pickle",
                plot=work / "m.png",
                epochs=epochs,
                image_size=image_size,
                patience=patience,
                seed=seed,
                **training,
            ),
            verbose=0,
        )
        classifier = Classifier.load(work / "m.model")
        decoding = classifier.decoding(**choices)
        # The validation photos of the split train() made, recomputed as it computes it: the share of
        # them flagged unknown is what a new combination's share is held against.
        data = load_labelled_images(work / "data", image_size)
        _, val_index = split_indices(data.label_sets, config.VAL_SPLIT, seed, near_duplicate_groups(data.images))
        colours, types = result.metadata["label_groups"]
        left_out_paths = list_images(dataset / left_out)

        def scores(model: Classifier) -> tuple[dict, list[set[str]]]:
            """The left-out photos' scores and shares flagged unknown (the image or any label group,
            with the stored score and threshold) beside the validation photos', and their labels."""
            classified, _ = model.classify(left_out_paths, decoding)
            validation, _ = model.classify([data.paths[i] for i in val_index], decoding)
            predicted = [set(prediction.labels) for prediction in classified]
            return {
                **combination_scores(predicted, left_out, colours, types),
                "flagged_unknown": float(np.mean([is_flagged(prediction.unknown) for prediction in classified])),
                "validation_flagged_unknown": float(np.mean([is_flagged(prediction.unknown) for prediction in validation])),
                "unknown_shares": {"left_out": unknown_shares(classified), "validation": unknown_shares(validation)},
            }, predicted

        scored, predicted = scores(classifier)
        # The same model with the colour group flagged by its probability alone (the rule before
        # 2026-12-04: no colour distance), the same threshold.
        scored_before, _ = scores(colour_by_probability(classifier))
    example = classifier.classify([EXAMPLE], decoding)[0][0] if EXAMPLE.is_file() else None
    return {
        "left_out": left_out,
        "setup": setup,
        "images": len(predicted),
        **scored,
        "colour_by_probability": scored_before,
        # What the left-out photos were called, e.g. {"blue, shirt": 12}: which labels the errors go to.
        "labels_given": dict(Counter(", ".join(sorted(labels)) for labels in predicted).most_common()),
        "epochs_trained": result.metadata["epochs_trained"],
        "validation_exact_match": result.report["exact_match"],
        "example_07": None if example is None else {"labels": example.labels, "probabilities": example.probabilities},
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default=str(FASHION_DIR), help="the six <colour>_<type> photo folders")
    parser.add_argument(
        "--combinations", nargs="+", choices=COMBINATIONS, default=list(COMBINATIONS), help="folders to leave out, one at a time"
    )
    parser.add_argument("--setups", nargs="+", choices=tuple(SETUPS), default=["tutorial", "colour-and-shape"], help="set-ups to compare")
    parser.add_argument("--epochs", type=int, default=15, help="most epochs of each training run")
    parser.add_argument("--patience", type=int, default=5, help="early stopping patience, in epochs")
    parser.add_argument("--image-size", type=int, default=64, help="side of the network input, pixels")
    parser.add_argument("--seed", type=int, default=42, help="seed of split, weights and augmentation")
    parser.add_argument("--output", default="unseen_combos", help="results file name in bench/results/, without .json")
    parser.add_argument("--child", nargs=2, metavar=("COMBINATION", "SETUP"), help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dataset = Path(args.dataset)
    common = [
        "--dataset",
        args.dataset,
        "--epochs",
        str(args.epochs),
        "--patience",
        str(args.patience),
        "--image-size",
        str(args.image_size),
        "--seed",
        str(args.seed),
    ]
    if args.child:
        left_out, setup = args.child
        print(json.dumps(child_run(dataset, left_out, setup, args.epochs, args.image_size, args.patience, args.seed)))
        return 0
    if not all((dataset / combination).is_dir() for combination in COMBINATIONS):
        raise SystemExit(f"--dataset {dataset}: expected the folders {', '.join(COMBINATIONS)} and black_jeans.")

    runs = []
    for combination in args.combinations:
        for setup in args.setups:
            run = run_child(Path(__file__), ["--child", combination, setup, *common])
            runs.append(run)
            print(
                f"{combination:>11} {setup:<25} both {run['both_right']:.3f} colour {run['colour_right']:.3f} "
                f"type {run['type_right']:.3f} flagged {run['flagged_unknown']:.3f} (validation {run['validation_flagged_unknown']:.3f})  "
                f"example_07: {', '.join(run['example_07']['labels']) if run['example_07'] else '-'}",
                file=sys.stderr,
                flush=True,
            )
    means = {
        setup: {
            key: statistics.mean(run[key] for run in runs if run["setup"] == setup)
            for key in ("both_right", "colour_right", "type_right", "flagged_unknown", "validation_flagged_unknown")
        }
        for setup in args.setups
    }
    write_results(args.output, {"machine": machine(), "arguments": vars(args), "runs": runs, "means": means})

    rows = []
    for combination in args.combinations:
        for setup in args.setups:
            run = next(r for r in runs if r["setup"] == setup and r["left_out"] == combination)
            rows.append(
                [
                    combination,
                    setup,
                    run["images"],
                    f"{run['both_right']:.3f}",
                    f"{run['colour_right']:.3f}",
                    f"{run['type_right']:.3f}",
                    ", ".join(run["example_07"]["labels"]) if run["example_07"] else "-",
                ]
            )
    for setup in args.setups:
        rows.append(
            [
                "**mean**",
                setup,
                "",
                f"**{means[setup]['both_right']:.3f}**",
                f"{means[setup]['colour_right']:.3f}",
                f"{means[setup]['type_right']:.3f}",
                "",
            ]
        )
    print(markdown_table(["left out", "set-up", "images", "both right", "colour right", "type right", "example_07 (black dress)"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
