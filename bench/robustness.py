"""Robustness: do a model's labels survive the garment leaving its white product-photo background?

Trains a model as train.py does (or loads one, ``--model``), then labels the validation photos of
the grouped split train() makes (never a training photo) untouched, and composited: each photo
whose border is plain (`backgrounds.segment_background`; the others are counted and left out)
has its background replaced, at ``--composite-size`` pixels, then resized to the network's input
as classify.py resizes a photo. Scene kinds:

- ``colour field``: every `backgrounds.PALETTE` colour (red, blue, pink, green, yellow, black, ...,
  the garments' colours among them), each photo on each;
- ``gradient``: a linear gradient between two random colours (``--per-photo`` per photo);
- ``clutter``: colour noise at several scales, stripes, shapes and grain (``--per-photo``);
- ``cut: upper part`` / ``cut: lower part``: zoomed 1.2-1.6x about the top or bottom edge, so the
  frame cuts the garment, on a random scene of the three kinds;
- ``small in scene``: the garment at 0.45-0.8 of its size, anywhere in a random scene.

Scores (the model's stored decoding, one colour and one type): colour right, type right, both
right, per scene kind, beside the untouched photos (all of them, and those with a plain border);
colour right per field colour. Composites are deterministic for ``--scene-seed`` and the split.
Each set-up and seed trains in a fresh process.

Usage:
    python bench/robustness.py --image-size 64 --seeds 1 2 --setups "background off" "background on"
    python bench/robustness.py --model fashion.model --seed 42           # a trained model, its split's seed
    python bench/robustness.py --sheet /tmp/robustness.png --image-size 64  # a contact sheet, no training
    python bench/robustness.py --combine bench/results/robustness_64.json bench/results/robustness_64_seed3.json
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    FASHION_DIR,
    group_scores,
    machine,
    markdown_table,
    run_child,
    set_library_constants,
    setup_paths,
    write_results,
)

setup_paths()

from unseen_combos import MOBILENETV2_WEIGHTS  # noqa: E402

from pyimagesearch.data.backgrounds import composite, framing_transforms, segment_backgrounds  # noqa: E402
from pyimagesearch.data.images import load_images, resize_image  # noqa: E402
from pyimagesearch.data.scenes import PALETTE, SCENES, random_scenes  # noqa: E402

# The pretrained shape branch with background replacement: 10 epochs on the frozen backbone
# (--epochs), then 10 of fine-tuning (train.py's default until 2026-12-05, the set-up of every
# table; the default is now "10 + 20 epochs").
MOBILENETV2 = {"background": "on", "arch": "mobilenetv2", "weights": str(MOBILENETV2_WEIGHTS), "epochs": 10, "fine_tune_epochs": 10}
# train() arguments of each set-up (the rest are train()'s defaults, --epochs and --patience unless
# the set-up names them), and the library constants it changes in its process ("module.NAME": value),
# to try what has no flag.
# SmallerVGGNet's colour-and-shape network (train()'s default before MobileNetV2's), 75 epochs at most.
SMALLERVGGNET = {"arch": "smallervggnet"}
SETUPS = {
    "background off": ({**SMALLERVGGNET, "background": "off"}, {}),
    "background on": ({**SMALLERVGGNET, "background": "on"}, {}),
    "background on, p 0.5": ({**SMALLERVGGNET, "background": "on"}, {"config.BACKGROUND_PROBABILITY": 0.5}),
    "background on, p 0.5, as framed": (
        {**SMALLERVGGNET, "background": "on"},
        {"config.BACKGROUND_PROBABILITY": 0.5, "data.backgrounds.FRAMINGS": ("as-is",)},
    ),
    "mobilenetv2, background off": ({**MOBILENETV2, "background": "off"}, {}),
    "mobilenetv2, background on": (MOBILENETV2, {}),
    # The colour branch's attention from one 1x1 layer on the shape branch's maps (before: a 3x3 layer of 64 first).
    "mobilenetv2, background on, attention 1x1 only": (MOBILENETV2, {"models.colour_and_shape.ATTENTION_HIDDEN": 0}),
    # Longer: 20 epochs on the frozen backbone, then 20 of fine-tuning.
    "mobilenetv2, background on, 20 + 20 epochs": ({**MOBILENETV2, "epochs": 20, "fine_tune_epochs": 20}, {}),
    # Fine-tuning twice as long: 10 epochs on the frozen backbone, then 20 of fine-tuning (train.py's default since 2026-12-05).
    "mobilenetv2, background on, 10 + 20 epochs": ({**MOBILENETV2, "fine_tune_epochs": 20}, {}),
    # Every layer of the backbone fine-tuned (MobileNetV2 has 154), not the top 80.
    "mobilenetv2, background on, all layers fine-tuned": ({**MOBILENETV2, "fine_tune_layers": 154}, {}),
    "mobilenetv2, background on, p 0.5": (MOBILENETV2, {"config.BACKGROUND_PROBABILITY": 0.5}),
    # The colour branch's input darkened by a random factor down to 1/4 (1/2) in training (#20).
    "mobilenetv2, background on, shade 4": (MOBILENETV2, {"models.colour_and_shape.SHADE_RANGE": 4.0}),
    "mobilenetv2, background on, shade 2": (MOBILENETV2, {"models.colour_and_shape.SHADE_RANGE": 2.0}),
    # The grey branch's histogram equalised per image instead of its tones jittered in training (#20).
    "mobilenetv2, background on, equalised": (MOBILENETV2, {"models.colour_and_shape.SHAPE_TONE": "equalise"}),
    # The grey copy a random mix of the channels in training (flat Dirichlet weights), with 10 + 20 epochs (#20).
    "mobilenetv2, background on, 10 + 20 epochs, grey mix": (
        {**MOBILENETV2, "fine_tune_epochs": 20},
        {"models.colour_and_shape.GREY_MIX": 1.0},
    ),
}
UNTOUCHED, UNTOUCHED_PLAIN = "untouched", "untouched, plain border only"
FIELDS, GRADIENT, CLUTTER = "colour field", "gradient", "clutter"
# Reframings of the bench's, by `backgrounds.FRAMINGS` name.
REFRAMINGS = {"cut: upper part": "upper", "cut: lower part": "lower", "small in scene": "small"}
KINDS = (UNTOUCHED, UNTOUCHED_PLAIN, FIELDS, GRADIENT, CLUTTER, *REFRAMINGS)
COMPOSITED = "all composites"
# Photos are composited at this size, then shrunk to the network's input as classify.py shrinks a
# photo (`images.resize_image`), so a garment's edge on its new scene is as smooth as a photo's.
COMPOSITE_SIZE = 256


def validation_split(dataset: Path, image_size: int, seed: int):
    """The labelled images and the validation indices train() uses for ``seed`` (grouped split, 0.2)."""
    from pyimagesearch import config
    from pyimagesearch.data.dataset import load_labelled_images
    from pyimagesearch.data.splitting import near_duplicate_groups, split_indices

    data = load_labelled_images(dataset, image_size)
    _, val_index = split_indices(data.label_sets, config.VAL_SPLIT, seed, near_duplicate_groups(data.images, config.DUPLICATE_RADIUS))
    return data, val_index


def composites(paths: list[Path], image_size: int, composite_size: int, per_photo: int, scene_seed: int) -> dict:
    """Every composite of the photos at ``paths``, by scene kind, resized to ``image_size``.

    Returns:
        ``{"kinds": {kind: (images uint8 (M, image_size, image_size, 3), photo index of each,
        field colour name or None of each)}, "plain": bool per photo}``.
    """
    large, _, _ = load_images(paths, composite_size)
    masks = segment_backgrounds(large)
    plain = masks.reshape(len(masks), -1).any(axis=1)
    rng = np.random.default_rng(scene_seed)
    kinds: dict[str, tuple[list, list, list]] = {kind: ([], [], []) for kind in (FIELDS, GRADIENT, CLUTTER, *REFRAMINGS)}

    def add(kind: str, photo: int, scenes: np.ndarray, transforms: np.ndarray | None, colours: list) -> None:
        count = len(scenes)
        made = composite(np.repeat(large[photo : photo + 1], count, 0), np.repeat(masks[photo : photo + 1], count, 0), scenes, transforms)
        images, photos, names = kinds[kind]
        images.extend(resize_image(image, image_size) for image in made)
        photos.extend([photo] * count)
        names.extend(colours)

    field_colours = np.array(list(PALETTE.values()))
    for photo in np.flatnonzero(plain):
        add(FIELDS, photo, random_scenes(rng, composite_size, ["colour"] * len(PALETTE), field_colours), None, list(PALETTE))
        for kind, scene in ((GRADIENT, "gradient"), (CLUTTER, "clutter")):
            add(kind, photo, random_scenes(rng, composite_size, [scene] * per_photo), None, [None] * per_photo)
        for kind, framing in REFRAMINGS.items():
            scenes = random_scenes(rng, composite_size, [SCENES[index] for index in rng.integers(len(SCENES), size=per_photo)])
            add(kind, photo, scenes, framing_transforms(rng, composite_size, [framing] * per_photo), [None] * per_photo)
    return {
        "kinds": {
            kind: (np.stack(images) if images else np.zeros((0, image_size, image_size, 3), np.uint8), np.array(photos, int), names)
            for kind, (images, photos, names) in kinds.items()
        },
        "plain": plain,
    }


def evaluate(model_path: Path, dataset: Path, image_size: int, seed: int, composite_size: int, per_photo: int, scene_seed: int) -> dict:
    """Scores of the model at ``model_path`` on the untouched and composited validation photos of ``seed``'s split."""
    from pyimagesearch.inference.classification import Classifier

    classifier = Classifier.load(model_path)
    colours, types = classifier.label_groups
    data, val_index = validation_split(dataset, image_size, seed)
    paths = [data.paths[index] for index in val_index]
    truth = [data.label_sets[index] for index in val_index]
    made = composites(paths, image_size, composite_size, per_photo, scene_seed)

    def predicted_labels(images: np.ndarray) -> list[set[str]]:
        if not len(images):
            return []
        decided = classifier.decide(classifier.predict_probabilities(images))
        return [{classifier.classes[i] for i in row.nonzero()[0]} for row in decided]

    untouched = predicted_labels(data.images[val_index])
    plain = made["plain"]
    scores = {
        UNTOUCHED: {"images": len(truth), **group_scores(untouched, truth, colours, types)},
        UNTOUCHED_PLAIN: {
            "images": int(plain.sum()),
            **group_scores(
                [labels for labels, keep in zip(untouched, plain) if keep], [t for t, keep in zip(truth, plain) if keep], colours, types
            ),
        },
    }
    everything: tuple[list, list] = ([], [])
    per_field = {}
    for kind, (images, photos, names) in made["kinds"].items():
        predicted, true = predicted_labels(images), [truth[photo] for photo in photos]
        scores[kind] = {"images": len(images), **group_scores(predicted, true, colours, types)}
        everything[0].extend(predicted)
        everything[1].extend(true)
        if kind == FIELDS:
            for name in PALETTE:
                chosen = [i for i, field in enumerate(names) if field == name]
                per_field[name] = group_scores([predicted[i] for i in chosen], [true[i] for i in chosen], colours, types)
    scores[COMPOSITED] = {"images": len(everything[0]), **group_scores(*everything, colours, types)}
    return {
        "validation_photos": len(val_index),
        "plain_border": int(plain.sum()),
        "not_plain": int((~plain).sum()),
        "scores": scores,
        "per_field_colour": per_field,
    }


def child_run(args: argparse.Namespace, setup: str, seed: int) -> dict:
    """Train ``setup`` with ``seed`` (train()'s defaults otherwise), then `evaluate` it."""
    from pyimagesearch.training.options import TrainOptions
    from pyimagesearch.training.pipeline import train

    arguments, constants = SETUPS[setup]
    set_library_constants(constants)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        started = time.perf_counter()
        result = train(
            TrainOptions.of(
                export=False,
                dataset=Path(args.dataset),
                model=work / "m.model",
                labelbin=work / "m.pickle",
                plot=work / "m.png",
                image_size=args.image_size,
                seed=seed,
                **{"epochs": args.epochs, "patience": args.patience, **arguments},
            ),
            verbose=0,
        )
        seconds = time.perf_counter() - started
        evaluation = evaluate(
            work / "m.model", Path(args.dataset), args.image_size, seed, args.composite_size, args.per_photo, args.scene_seed
        )
    return {
        "setup": setup,
        "seed": seed,
        "training_seconds": round(seconds, 1),
        "epochs_trained": result.metadata["epochs_trained"],
        "validation_exact_match": result.report["exact_match"],
        **evaluation,
    }


def contact_sheet(args: argparse.Namespace, photos: int = 8) -> Path:
    """A PNG of ``photos`` validation photos (split of ``--seed``): each row the photo at the network's
    input size, its mask, and one composite of each scene kind and reframing."""
    import cv2

    data, val_index = validation_split(Path(args.dataset), args.image_size, args.seed)
    rng = np.random.default_rng(args.scene_seed)
    chosen = rng.choice(val_index, size=min(photos, len(val_index)), replace=False)
    large, _, _ = load_images([data.paths[index] for index in chosen], args.composite_size)
    masks = segment_backgrounds(large)
    size = args.image_size
    rows = []
    for image, mask in zip(large, masks):
        tiles = [resize_image(image, size), resize_image(np.repeat(mask[..., None], 3, 2), size)]
        for scene_kind, framing in (
            ("colour", "as-is"),
            ("gradient", "as-is"),
            ("clutter", "as-is"),
            ("clutter", "upper"),
            ("colour", "lower"),
            ("gradient", "small"),
        ):
            made = (
                composite(
                    image[None],
                    mask[None],
                    random_scenes(rng, args.composite_size, [scene_kind]),
                    framing_transforms(rng, args.composite_size, [framing]),
                )[0]
                if mask.any()
                else np.zeros_like(image)
            )
            tiles.append(resize_image(made, size))
        rows.append(np.concatenate(tiles, axis=1))
    sheet = Path(args.sheet)
    cv2.imwrite(str(sheet), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    return sheet


def summary_rows(runs: list[dict], setups: list[str]) -> tuple[dict, list[list[str]]]:
    """Medians over seeds per set-up and scene kind, and the table's rows."""
    medians = {
        setup: {
            kind: {
                score: statistics.median(run["scores"][kind][score] for run in runs if run["setup"] == setup)
                for score in ("colour_right", "type_right", "both_right")
            }
            for kind in (*KINDS, COMPOSITED)
        }
        for setup in setups
    }
    rows = []
    for kind in (*KINDS, COMPOSITED):
        images = next(run["scores"][kind]["images"] for run in runs)
        cells = [f"{medians[setup][kind][score]:.3f}" for setup in setups for score in ("colour_right", "type_right", "both_right")]
        rows.append([f"**{kind}**" if kind == COMPOSITED else kind, str(images), *cells])
    return medians, rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default=str(FASHION_DIR), help="the <colour>_<type> photo folders")
    parser.add_argument("--setups", nargs="+", choices=tuple(SETUPS), default=list(SETUPS)[:2], help="set-ups to train and compare")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2], help="seeds of split, weights and augmentation; one run each")
    parser.add_argument("--epochs", type=int, default=75, help="most epochs of each training (train.py's default)")
    parser.add_argument("--patience", type=int, default=15, help="early stopping patience (train.py's default)")
    parser.add_argument("--image-size", type=int, default=64, help="side of the network input, pixels")
    parser.add_argument("--composite-size", type=int, default=COMPOSITE_SIZE, help="side at which photos are composited, pixels")
    parser.add_argument("--per-photo", type=int, default=2, help="composites per photo of each random scene kind and reframing")
    parser.add_argument("--scene-seed", type=int, default=0, help="seed of the scenes")
    parser.add_argument("--model", help="evaluate this trained model instead of training (its split's --seed)")
    parser.add_argument("--seed", type=int, default=42, help="with --model or --sheet: the seed of the split")
    parser.add_argument("--sheet", help="write a contact sheet of composites to this PNG and stop (never commit one)")
    parser.add_argument(
        "--combine", nargs="+", metavar="JSON", help="summarise the runs of these results files (runs made in parts) instead of training"
    )
    parser.add_argument("--output", default="robustness", help="results file name in bench/results/, without .json")
    parser.add_argument("--child", nargs=2, metavar=("SETUP", "SEED"), help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not Path(args.dataset).is_dir():
        print(f"robustness.py: error: no photos at {args.dataset}; set FASHION_DATA_DIR or pass --dataset.", file=sys.stderr)
        return 2
    if args.sheet:
        print(f"wrote {contact_sheet(args)}")
        return 0
    if args.child:
        print(json.dumps(child_run(args, args.child[0], int(args.child[1]))))
        return 0
    if args.combine:
        runs = [run for name in args.combine for run in json.loads(Path(name).read_text())["runs"]]
        setups = list(dict.fromkeys(run["setup"] for run in runs))
        args.seeds = sorted({run["seed"] for run in runs})
    elif args.model:
        runs = [
            {
                "setup": args.model,
                "seed": args.seed,
                **evaluate(
                    Path(args.model), Path(args.dataset), args.image_size, args.seed, args.composite_size, args.per_photo, args.scene_seed
                ),
            }
        ]
        setups = [args.model]
    else:
        common = [
            "--dataset",
            args.dataset,
            "--epochs",
            str(args.epochs),
            "--patience",
            str(args.patience),
            "--image-size",
            str(args.image_size),
            "--composite-size",
            str(args.composite_size),
            "--per-photo",
            str(args.per_photo),
            "--scene-seed",
            str(args.scene_seed),
        ]
        runs, setups = [], args.setups
        for seed in args.seeds:
            for setup in setups:
                run = run_child(Path(__file__), ["--child", setup, str(seed), *common], timeout=7200)
                runs.append(run)
                composited = run["scores"][COMPOSITED]
                print(
                    f"seed {seed} {setup}: validation exact-match {run['validation_exact_match']:.3f} in {run['epochs_trained']} "
                    f"epochs ({run['training_seconds']:.0f} s); composites colour {composited['colour_right']:.3f} "
                    f"type {composited['type_right']:.3f} both {composited['both_right']:.3f}",
                    file=sys.stderr,
                    flush=True,
                )
    medians, rows = summary_rows(runs, setups)
    path = write_results(args.output, {"machine": machine(), "arguments": vars(args), "runs": runs, "medians": medians})
    first = runs[0]
    print(
        f"{first['validation_photos']} validation photos per split, {first['plain_border']} with a plain border "
        f"({first['not_plain']} left out of the composites); medians over seeds {args.seeds if not args.model else [args.seed]}\n"
    )
    header = ["scene", "images"] + [f"{setup}: {score}" for setup in setups for score in ("colour", "type", "both")]
    print(markdown_table(header, rows))
    print()
    print(
        markdown_table(
            ["field colour", *(f"{setup}: colour right" for setup in setups)],
            [
                [
                    name,
                    *(
                        f"{statistics.median(run['per_field_colour'][name]['colour_right'] for run in runs if run['setup'] == setup):.3f}"
                        for setup in setups
                    ),
                ]
                for name in PALETTE
            ],
        )
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
