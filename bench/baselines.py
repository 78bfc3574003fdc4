"""The classic roads: binary relevance, label powerset, ML-kNN and the MLP against SmallerVGGNet.

"Do I even need a CNN?" On the real photos, two protocols:

- **split**: the leakage-free (grouped) validation split of train.py (near-duplicates on one
  side, stratified; the same seed and share, so the same 20 % of photos for every method).
  Validation exact-match and macro F1, training time and prediction time of the validation set.
- **leave one combination out** (bench/unseen_combos.py's protocol): for each of blue_dress,
  blue_jeans, blue_shirt, red_dress and red_shirt, train on the other five folders, then label
  the left-out folder: shares with the colour right, the type right, both right.

Methods, each in a fresh process:

- ``classic``: `baselines.BASELINES` (binary relevance, label powerset, ML-kNN) on the image
  features of `features` (HSV histogram and HOG at ``--image-size``), standardised; fits and
  predictions timed ``--repeats`` times (medians). On leave-one-out they train on all the
  photos of the five folders.
- ``mlp``: `training.train` with ``--arch mlp``, flat head (a sigmoid per label, decided at 0.5,
  the tutorial's MLP) and grouped head (a softmax per colour and per type: train.py's default
  for these folders), up to ``--mlp-epochs`` with train.py's early stopping.
- ``smallervggnet``: `training.train`'s default network for these folders (the colour-and-shape
  SmallerVGGNet, one label per group), ``--vgg-epochs``; split only: on leave-one-out its
  figures are bench/results/unseen_combos.json's.

Training time is the fit's (the MLP's and SmallerVGGNet's: first epoch's start to last epoch's
end, validation included), prediction time that of the validation set from features (classic,
MLP) or from decoded images (SmallerVGGNet); computing the features is timed apart.

Usage:
    python bench/baselines.py
    python bench/baselines.py --methods classic mlp --mlp-epochs 30
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FASHION_DIR, RESULTS_DIR, machine, markdown_table, run_child, setup_paths, summarise, write_results  # noqa: E402
from unseen_combos import COMBINATIONS, combination_scores, link_folders  # noqa: E402

setup_paths()

METHODS = ("classic", "mlp", "smallervggnet")
MLP_HEADS = ("flat", "grouped")


def load_split(dataset: Path, image_size: int, seed: int) -> dict:
    """The photos, their features (timed), labels, label groups and train.py's grouped split."""
    from pyimagesearch import config
    from pyimagesearch.data.dataset import load_labelled_images
    from pyimagesearch.data.features import extract_features
    from pyimagesearch.data.labels import fit_binarizer, infer_label_groups
    from pyimagesearch.data.splitting import near_duplicate_groups, split_indices

    data = load_labelled_images(dataset, image_size, cache="disk")
    started = time.perf_counter()
    features = extract_features(data.images)
    seconds = time.perf_counter() - started
    binarizer = fit_binarizer(data.label_sets)
    groups = near_duplicate_groups(data.images, config.DUPLICATE_RADIUS)
    train_index, val_index = split_indices(data.label_sets, config.VAL_SPLIT, seed, groups)
    return {
        "images": data.images,
        "features": features,
        "feature_seconds": seconds,
        "classes": [str(label) for label in binarizer.classes_],
        "labels": binarizer.transform(data.label_sets),
        "folders": [path.parent.name for path in data.paths],
        "label_groups": infer_label_groups([path.parent.name for path in data.paths]),
        "train_index": train_index,
        "val_index": val_index,
    }


def _scores(true, predicted, classes, probabilities) -> dict:
    from pyimagesearch.evaluation.metrics import evaluate_predictions

    report = evaluate_predictions(true, predicted, classes, probabilities)
    return {"exact_match": report["exact_match"], "macro_f1": report["macro_f1"]}


def _predicted_sets(rows, classes) -> list[set[str]]:
    return [{classes[i] for i in row.nonzero()[0]} for row in rows]


def child_classic(args: argparse.Namespace) -> list[dict]:
    from pyimagesearch.evaluation.baselines import BASELINES, build_baseline

    data = load_split(Path(args.dataset), args.image_size, args.seed)
    features, labels, classes = data["features"], data["labels"], data["classes"]
    train_index, val_index = data["train_index"], data["val_index"]
    runs = []
    for name in BASELINES:
        fits, predictions = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            model = build_baseline(name).fit(features[train_index], labels[train_index])
            fits.append(time.perf_counter() - started)
            started = time.perf_counter()
            predicted = model.predict(features[val_index])
            predictions.append(time.perf_counter() - started)
        run = {
            "method": name,
            "decoding": "each model's own",
            **_scores(labels[val_index], predicted, classes, model.predict_proba(features[val_index])),
            "training_seconds": summarise(fits),
            "prediction_seconds": summarise(predictions),
            "validation_images": len(val_index),
            "feature_seconds": data["feature_seconds"],
            "unseen": [],
        }
        if not args.skip_unseen:
            folders = data["folders"]
            for left_out in COMBINATIONS:
                seen = [i for i, folder in enumerate(folders) if folder != left_out]
                held = [i for i, folder in enumerate(folders) if folder == left_out]
                model = build_baseline(name).fit(features[seen], labels[seen])
                predicted = _predicted_sets(model.predict(features[held]), classes)
                run["unseen"].append(
                    {"left_out": left_out, "images": len(held), **combination_scores(predicted, left_out, *data["label_groups"])}
                )
        runs.append(run)
        print(f"{name}: exact-match {run['exact_match']:.3f}", file=sys.stderr, flush=True)
    return runs


def _train(dataset: Path, work: Path, **options):
    from pyimagesearch.training.options import TrainOptions
    from pyimagesearch.training.pipeline import train

    return train(
        TrainOptions.of(export=False, dataset=dataset, model=work / "m.model", labelbin=work / "m.pickle", plot=work / "m.png", **options),
        verbose=0,
    )


def _training_seconds(work: Path) -> float:
    import csv

    with open(work / "m.metrics.csv") as handle:
        return float(list(csv.DictReader(handle))[-1]["elapsed_seconds"])


def _prediction_seconds(model, inputs, repeats: int) -> dict:
    model.predict(inputs[:8], verbose=0)  # The first call traces the graph.
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict(inputs, verbose=0)
        seconds.append(time.perf_counter() - started)
    return summarise(seconds)


def child_network(args: argparse.Namespace, method: str) -> list[dict]:
    """``mlp``: the MLP with each head on the split (and leave-one-out); ``smallervggnet``: on the split."""
    from pyimagesearch.data.images import list_images, load_images
    from pyimagesearch.inference.classification import Classifier

    dataset = Path(args.dataset)
    data = load_split(dataset, args.image_size, args.seed)
    variants = {f"mlp-{head}": {"arch": "mlp", "head": head, "epochs": args.mlp_epochs} for head in MLP_HEADS}
    if method == "smallervggnet":
        variants = {"smallervggnet": {"arch": "smallervggnet", "epochs": args.vgg_epochs}}
    runs = []
    for name, options in variants.items():
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            result = _train(dataset, work, image_size=args.image_size, seed=args.seed, **options)
            inputs = data["features"] if method == "mlp" else data["images"]
            val_index = data["val_index"]
            if result.metadata["validation"]["images"] != len(val_index):
                raise RuntimeError(
                    f"{name}: train() validated {result.metadata['validation']['images']} photos, this script's split {len(val_index)}"
                )
            # The flat head decided at 0.5 (tuned thresholds would be chosen on these same photos); the grouped head one label per group.
            decoding = "one label per group" if result.metadata["head"] == "grouped" else "threshold 0.5"
            run = {
                "method": name,
                "decoding": decoding,
                **{key: result.reports[decoding][key] for key in ("exact_match", "macro_f1")},
                "training_seconds": _training_seconds(work),
                "prediction_seconds": _prediction_seconds(result.model, inputs[val_index], args.repeats),
                "validation_images": len(val_index),
                "feature_seconds": data["feature_seconds"] if method == "mlp" else None,
                "epochs_trained": result.metadata["epochs_trained"],
                "unseen": [],
            }
        print(f"{name}: exact-match {run['exact_match']:.3f}", file=sys.stderr, flush=True)
        if method == "mlp" and not args.skip_unseen:
            for left_out in COMBINATIONS:
                with tempfile.TemporaryDirectory() as work:
                    work = Path(work)
                    link_folders(dataset, [c for c in (*COMBINATIONS, "black_jeans") if c != left_out], work / "data")
                    _train(work / "data", work, image_size=args.image_size, seed=args.seed, **options)
                    classifier = Classifier.load(work / "m.model")
                images, _, _ = load_images(list_images(dataset / left_out), args.image_size)
                probabilities = classifier.predict_probabilities(images)
                decided = classifier.decide(probabilities, classifier.decoding(threshold=0.5 if options["head"] == "flat" else None))
                run["unseen"].append(
                    {
                        "left_out": left_out,
                        "images": len(images),
                        **combination_scores(_predicted_sets(decided, classifier.classes), left_out, *data["label_groups"]),
                    }
                )
        runs.append(run)
    return runs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default=str(FASHION_DIR), help="the six <colour>_<type> photo folders")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="methods to run")
    parser.add_argument("--image-size", type=int, default=96, help="side of the decoded photos, pixels")
    parser.add_argument("--mlp-epochs", type=int, default=75, help="most epochs of the MLP (train.py's early stopping)")
    parser.add_argument("--vgg-epochs", type=int, default=25, help="epochs of SmallerVGGNet")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits of each classic method, and timed predictions")
    parser.add_argument("--skip-unseen", action="store_true", help="the split only, no leave-one-combination-out")
    parser.add_argument("--seed", type=int, default=42, help="seed of split, weights and shuffling")
    parser.add_argument("--output", default="baselines", help="results file name in bench/results/, without .json")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    return parser


def _cited_unseen() -> dict:
    """SmallerVGGNet's leave-one-combination-out results from bench/results/unseen_combos.json, if it is
    there: per set-up, both right per left-out folder and the means."""
    path = RESULTS_DIR / "unseen_combos.json"
    if not path.is_file():
        return {}
    results = json.loads(path.read_text())
    return {
        setup: {"both_right": {run["left_out"]: run["both_right"] for run in results["runs"] if run["setup"] == setup}, "means": means}
        for setup, means in results["means"].items()
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        runs = child_classic(args) if args.child == "classic" else child_network(args, args.child)
        print(json.dumps(runs))
        return 0
    dataset = Path(args.dataset)
    if not all((dataset / combination).is_dir() for combination in COMBINATIONS):
        raise SystemExit(f"--dataset {dataset}: expected the folders {', '.join(COMBINATIONS)} and black_jeans.")
    common = [
        "--dataset",
        args.dataset,
        "--image-size",
        str(args.image_size),
        "--mlp-epochs",
        str(args.mlp_epochs),
        "--vgg-epochs",
        str(args.vgg_epochs),
        "--repeats",
        str(args.repeats),
        "--seed",
        str(args.seed),
        *(["--skip-unseen"] if args.skip_unseen else []),
    ]
    started = time.perf_counter()
    runs = [run for method in args.methods for run in run_child(Path(__file__), ["--child", method, *common])]
    cited = _cited_unseen()
    for run in (run for run in runs if run["unseen"]):
        for key in ("both_right", "colour_right", "type_right"):
            run[f"mean_{key}"] = statistics.mean(item[key] for item in run["unseen"])
    write_results(
        args.output,
        {
            "machine": machine(),
            "arguments": vars(args),
            "minutes": (time.perf_counter() - started) / 60,
            "runs": runs,
            "smallervggnet_unseen_cited": cited,
        },
    )

    def median(value) -> float:
        return value["median"] if isinstance(value, dict) else value

    print(
        markdown_table(
            ["method", "decoding", "exact-match", "macro F1", "training s", f"prediction ms ({runs[0]['validation_images']} photos)"],
            [
                [
                    run["method"],
                    run["decoding"],
                    f"{run['exact_match']:.3f}",
                    f"{run['macro_f1']:.3f}",
                    f"{median(run['training_seconds']):.1f}",
                    f"{1000 * median(run['prediction_seconds']):.0f}",
                ]
                for run in runs
            ],
        )
    )
    feature_seconds = next((run["feature_seconds"] for run in runs if run["feature_seconds"] is not None), None)
    if feature_seconds is not None:
        print(f"\nfeatures of all {args.image_size}-pixel photos: {feature_seconds:.2f} s")
    rows = []
    for run in (run for run in runs if run["unseen"]):
        rows.append(
            [
                run["method"],
                *(f"{item['both_right']:.3f}" for item in run["unseen"]),
                f"**{run['mean_both_right']:.3f}**",
                f"{run['mean_colour_right']:.3f}",
                f"{run['mean_type_right']:.3f}",
            ]
        )
    for setup, found in cited.items():
        means = found["means"]
        rows.append(
            [
                f"smallervggnet {setup} (unseen_combos.json)",
                *(f"{found['both_right'].get(c, float('nan')):.3f}" for c in COMBINATIONS),
                f"**{means['both_right']:.3f}**",
                f"{means['colour_right']:.3f}",
                f"{means['type_right']:.3f}",
            ]
        )
    if rows:
        print()
        print(markdown_table(["method", *(f"{c} both" for c in COMBINATIONS), "mean both", "mean colour", "mean type"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
