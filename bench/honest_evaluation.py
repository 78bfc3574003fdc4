"""How much the tutorial's random split and untuned thresholds change the figures, on the real photos.

Trains the same recipe twice on ../shared/data/fashion, once on the tutorial's random split and
once on the leakage-free grouped split, then measures:
- validation exact-match, macro F1 and mAP of each, at threshold 0.5 and with tuned thresholds;
- with the random split, how many validation images have a near-duplicate in training and how
  the model does on them against the rest;
- whether tuned thresholds carry over to unseen images: tune on a random half of the validation
  images, score the other half, against 0.5 on that half (100 halvings).

    python bench/honest_evaluation.py --epochs 25 --image-size 64
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from common import FASHION_DIR, RESULTS_DIR, setup_paths

setup_paths()

from pyimagesearch.data.dataset import load_labelled_images  # noqa: E402
from pyimagesearch.data.splitting import near_duplicate_groups, split_indices  # noqa: E402
from pyimagesearch.evaluation.metrics import evaluate_predictions  # noqa: E402
from pyimagesearch.training.options import TrainOptions  # noqa: E402
from pyimagesearch.training.pipeline import train  # noqa: E402
from pyimagesearch.training.thresholds import tune_thresholds  # noqa: E402


def exact_match(true: np.ndarray, predicted: np.ndarray) -> float:
    return float((true == predicted).all(axis=1).mean())


def out_of_sample_tuning(true: np.ndarray, probabilities: np.ndarray, halvings: int, seed: int) -> dict:
    """Exact-match gain of thresholds tuned on one half of the validation images, on the other half."""
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(halvings):
        order = rng.permutation(len(true))
        tune, score = order[: len(true) // 2], order[len(true) // 2 :]
        thresholds = tune_thresholds(true[tune], probabilities[tune])
        gains.append(
            exact_match(true[score], (probabilities[score] >= thresholds).astype(int))
            - exact_match(true[score], (probabilities[score] >= 0.5).astype(int))
        )
    return {"mean": float(np.mean(gains)), "min": float(np.min(gains)), "max": float(np.max(gains))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(FASHION_DIR))
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--halvings", type=int, default=100)
    args = parser.parse_args()

    results = {"epochs": args.epochs, "image_size": args.image_size, "seed": args.seed}
    with tempfile.TemporaryDirectory() as work:
        for split in ("random", "grouped"):
            result = train(
                TrainOptions.of(
                    export=False,
                    dataset=args.dataset,
                    model=Path(work) / f"{split}.model",
                    labelbin=Path(work) / f"{split}.pickle",
                    plot=Path(work) / f"{split}.png",
                    epochs=args.epochs,
                    image_size=args.image_size,
                    seed=args.seed,
                    split=split,
                    arch="smallervggnet",
                ),
                verbose=0,
            )
            data = load_labelled_images(args.dataset, args.image_size)
            groups = near_duplicate_groups(data.images)
            train_index, val_index = split_indices(data.label_sets, 0.2, args.seed, groups if split == "grouped" else None)
            classes = result.metadata["classes"]
            probabilities = result.task.label_probabilities(result.model.predict(data.images[val_index].astype("float32"), verbose=0))
            true = np.array([[label in data.label_sets[i] for label in classes] for i in val_index], dtype=int)
            at_half = evaluate_predictions(true, (probabilities >= 0.5).astype(int), classes, probabilities)
            leaked = np.isin(groups.group_of[val_index], groups.group_of[train_index])
            right = ((probabilities >= 0.5).astype(int) == true).all(axis=1)
            results[split] = {
                "validation_images": len(val_index),
                "duplicate_groups": groups.duplicate_groups,
                "exact_match_at_0.5": at_half["exact_match"],
                "exact_match_tuned": result.reports["tuned thresholds"]["exact_match"],
                "exact_match_groups": result.reports["one label per group"]["exact_match"],
                "macro_f1_at_0.5": at_half["macro_f1"],
                "map": at_half["map"],
                "binary_accuracy_at_0.5": float(((probabilities >= 0.5).astype(int) == true).mean()),
                "validation_images_with_a_duplicate_in_training": int(leaked.sum()),
                "exact_match_on_those": float(right[leaked].mean()) if leaked.any() else None,
                "exact_match_on_the_rest": float(right[~leaked].mean()),
                "tuning_gain_out_of_sample": out_of_sample_tuning(true, probabilities, args.halvings, args.seed),
            }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "honest_evaluation.json").write_text(json.dumps(results, indent=2))

    print(
        "| split | val images | per-label accuracy | exact-match @0.5 | tuned | one per group | macro F1 | mAP |"
        " val images with a copy in training (their exact-match / the rest's) | tuning gain out of sample |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for split in ("random", "grouped"):
        r = results[split]
        on_those = "-" if r["exact_match_on_those"] is None else f"{r['exact_match_on_those']:.3f}"
        gain = r["tuning_gain_out_of_sample"]
        print(
            f"| {split} | {r['validation_images']} | {r['binary_accuracy_at_0.5']:.3f} | {r['exact_match_at_0.5']:.3f} |"
            f" {r['exact_match_tuned']:.3f} | {r['exact_match_groups']:.3f} | {r['macro_f1_at_0.5']:.3f} | {r['map']:.3f} |"
            f" {r['validation_images_with_a_duplicate_in_training']} ({on_those} / {r['exact_match_on_the_rest']:.3f}) |"
            f" {gain['mean']:+.3f} ({gain['min']:+.3f} to {gain['max']:+.3f}) |"
        )


if __name__ == "__main__":
    main()
