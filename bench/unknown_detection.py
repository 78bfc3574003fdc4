"""Unknown detection, leave-one-type-out: how well a model trained without one garment type (dresses by
default) tells photos of that type apart.

Trains on ../shared/data/fashion without the folders of the type left out (through a temporary folder of
links to the other photos: the data set is never modified), then scores the validation photos
(in-distribution: photos of the other types the model did not train on) against every photo of the type left out:
- AUROC of each candidate out-of-distribution score (higher = better separation; 0.5 is chance):
  maximum probability per label group, energy, Mahalanobis distances of the penultimate
  features (low-rank and full covariance), k-nearest-neighbour distances, on the features unknown
  detection reads and, for a backbone, on each of its feature map resolutions pooled, and on the
  shipped ImageNet MobileNetV2 as downloaded (colour and grey image), each beside the share of the
  left-out photos flagged where 5 % of known ones are;
- with the score and threshold train.py stores, the share of those photos flagged unknown and
  of validation photos kept;
- what classify says for examples/example_07.jpg (black dress) and example_01.jpg (red dress).

    python bench/unknown_detection.py --epochs 20 --image-size 64
    python bench/unknown_detection.py --image-size 96 --arch mobilenetv2 --colour-branch on --weights FILE
    python bench/unknown_detection.py --leave-out jeans --image-size 96 --arch mobilenetv2 --weights FILE
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import FASHION_DIR, PROJECT_ROOT, machine, markdown_table, set_library_constants, setup_paths, write_results

setup_paths()

from sklearn.metrics import roc_auc_score  # noqa: E402

from pyimagesearch.data.dataset import load_labelled_images  # noqa: E402
from pyimagesearch.data.images import list_images, load_images  # noqa: E402
from pyimagesearch.data.splitting import near_duplicate_groups, split_indices  # noqa: E402
from pyimagesearch.inference.classification import Classifier  # noqa: E402
from pyimagesearch.inference.distances import DISTANCES, fit_feature_statistics, mahalanobis_distances  # noqa: E402
from pyimagesearch.inference.unknown import FIT_IMAGES, group_confidences  # noqa: E402
from pyimagesearch.training.options import TrainOptions  # noqa: E402
from pyimagesearch.training.pipeline import train  # noqa: E402

EXAMPLES_DIR = PROJECT_ROOT.parent / "shared" / "data" / "examples"
EXAMPLES = ("example_07.jpg", "example_01.jpg")


def is_left_out(path: Path, garment: str) -> bool:
    """Whether a photo's folder (``<colour>_<type>``) holds the garment type left out."""
    return path.parent.name.split("_")[-1] == garment


def link_known_folders(dataset: Path, target: Path, garment: str) -> None:
    """``target/<folder>/<file>`` links to every photo of ``dataset`` but the ``garment`` left out."""
    for path in list_images(dataset):
        if not is_left_out(path, garment):
            link = target / path.relative_to(dataset)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())


def knn_distances(features: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Distance of each L2-normalised row to its k-th nearest L2-normalised reference row."""

    def normalise(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    similarity = normalise(features) @ normalise(reference).T
    return np.sqrt(np.maximum(2 - 2 * np.sort(similarity, axis=1)[:, -k], 0))


def pooled_maps(model, images, sample: np.ndarray, val_index: np.ndarray, unseen_images: np.ndarray) -> dict:
    """For a backbone, the last feature maps of each resolution, averaged over places: ``{name:
    (training sample's, validation's, unseen's)}``; empty for SmallerVGGNet."""
    from pyimagesearch.models.backbones import BACKBONE_INPUT, BACKBONE_OUTPUT, _layers_between

    if BACKBONE_INPUT not in [layer.name for layer in model.layers]:
        return {}
    inside = _layers_between(model.get_layer(BACKBONE_INPUT).output, model.get_layer(BACKBONE_OUTPUT).output)
    return maps_of_each_side(model, inside, lambda batch: batch, images[sample], images[val_index], unseen_images)


def imagenet_maps(image_size: int, images, sample: np.ndarray, val_index: np.ndarray, unseen_images: np.ndarray) -> dict:
    """The shipped ImageNet MobileNetV2 (alpha 0.35), frozen as downloaded, on the colour and on the
    grey image: its pooled maps of each resolution, as `pooled_maps` (what a second, untrained look
    at the photo would tell; the trained network's own backbone is fine-tuned on the known types)."""
    import keras

    from pyimagesearch.models.backbones import shipped_weights

    network = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), alpha=0.35, include_top=False, weights=str(shipped_weights("mobilenetv2"))
    )

    def colour(batch):
        return batch / 127.5 - 1

    def grey(batch):
        return np.repeat(batch.mean(axis=3, keepdims=True), 3, axis=3) / 127.5 - 1

    found = {}
    for name, preprocess in (("colour", colour), ("grey", grey)):
        for key, value in maps_of_each_side(network, network.layers, preprocess, images[sample], images[val_index], unseen_images).items():
            found[f"frozen ImageNet, {name} image, {key}"] = value
    return found


def maps_of_each_side(model, inside, preprocess, *image_sets: np.ndarray) -> dict:
    """The last maps of ``inside`` (layers of ``model``) at each of the three smallest sides above 1,
    averaged over places, for each of ``image_sets`` (after ``preprocess``), and the three
    L2-normalised and concatenated: ``{name: tuple of arrays, one per image set}``."""
    import keras

    last_of_side = {}
    for layer in inside:
        if len(layer.output.shape) == 4 and not isinstance(layer, keras.layers.ZeroPadding2D):
            last_of_side[layer.output.shape[1]] = layer
    chosen = [layer for side, layer in sorted(last_of_side.items()) if side > 1][:3]
    pooled = keras.Model(model.inputs, [keras.layers.GlobalAveragePooling2D()(layer.output) for layer in chosen])
    runs = [
        [np.asarray(part) for part in pooled.predict(preprocess(np.asarray(images, "float32")), batch_size=64, verbose=0)]
        for images in image_sets
    ]
    found = {
        f"{layer.name} ({layer.output.shape[1]}x{layer.output.shape[2]})": tuple(run[i] for run in runs) for i, layer in enumerate(chosen)
    }
    found["those resolutions together"] = tuple(
        np.concatenate([m / np.linalg.norm(m, axis=1, keepdims=True) for m in run], axis=1) for run in runs
    )
    return found


def flagged_at(known: np.ndarray, unknown: np.ndarray, rate: float = 0.05, halvings: int = 20, seed: int = 0) -> tuple[float, float]:
    """Shares of known and unknown images flagged (familiarity below the threshold) when the threshold
    keeps ``1 - rate`` of one random half of the known images, measured on the other half: means over
    ``halvings`` halvings (what a threshold set on validation photos does on new ones)."""
    rng = np.random.default_rng(seed)
    known_flagged, unknown_flagged = [], []
    for _ in range(halvings):
        order = rng.permutation(len(known))
        fit, held = known[order[: len(known) // 2]], known[order[len(known) // 2 :]]
        threshold = np.quantile(fit, rate)
        known_flagged.append(np.mean(held < threshold))
        unknown_flagged.append(np.mean(unknown < threshold))
    return float(np.mean(known_flagged)), float(np.mean(unknown_flagged))


def project(train: np.ndarray, *others: np.ndarray, dims: int = 128) -> tuple[np.ndarray, ...]:
    """L2-normalised rows projected on the ``dims`` principal directions of the normalised training rows."""

    def normalise(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    train = normalise(train)
    mean = train.mean(axis=0)
    _, _, directions = np.linalg.svd(train - mean, full_matrices=False)
    return tuple((normalise(x) - mean) @ directions[:dims].T for x in (train, *others))


def energy(logits: np.ndarray, groups: list[list[int]] | None) -> np.ndarray:
    """Negative free energy, higher = more familiar: summed softplus of sigmoid logits (JointEnergy),
    or the summed log-sum-exp of each group's logits for a softmax per group."""
    logits = logits.astype("float64")
    if groups is None:
        return np.logaddexp(0, logits).sum(axis=1)
    return sum(np.logaddexp.reduce(logits[:, group], axis=1) for group in groups)


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """AUROC of familiarity scores (higher = more familiar) telling known from unknown images."""
    return float(roc_auc_score(np.r_[np.ones(len(known)), np.zeros(len(unknown))], np.r_[known, unknown]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(FASHION_DIR))
    parser.add_argument("--leave-out", default="dress", help="the garment type left out of training")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=5, help="early stopping patience, epochs")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--arch", default="smallervggnet", help="train.py's --arch")
    parser.add_argument("--weights", help="train.py's --weights (a backbone's weights file)")
    parser.add_argument("--colour-branch", default="auto", help="train.py's --colour-branch")
    parser.add_argument("--output", default="unknown_detection", help="results file name in bench/results/, without .json")
    parser.add_argument(
        "--features",
        help="also write the features and outputs of the training sample, validation and "
        "left-out photos to this .npz, and every candidate's scores beside it (.candidates.npz), "
        "to try other scores without training (never commit one)",
    )
    parser.add_argument(
        "--distance",
        choices=DISTANCES,
        help="the distance stored for a pretrained backbone's features (the library's distances.PRETRAINED_DISTANCE)",
    )
    args = parser.parse_args()
    dataset = Path(args.dataset)
    if args.distance:
        set_library_constants({"inference.distances.PRETRAINED_DISTANCE": args.distance})

    import keras

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        known_dir, model_path = Path(work) / "known", Path(work) / "fashion.model"
        link_known_folders(dataset, known_dir, args.leave_out)
        result = train(
            TrainOptions.of(
                export=False,
                dataset=known_dir,
                model=model_path,
                labelbin=Path(work) / "mlb.pickle",
                plot=Path(work) / "plot.png",
                epochs=args.epochs,
                image_size=args.image_size,
                seed=args.seed,
                patience=args.patience,
                arch=args.arch,
                weights=args.weights,
                colour_branch=args.colour_branch,
            ),
            verbose=0,
        )
        training_seconds = time.perf_counter() - started
        metadata = result.metadata
        classes = metadata["classes"]
        # The split train() used, recomputed as it computes it.
        data = load_labelled_images(known_dir, args.image_size)
        train_index, val_index = split_indices(data.label_sets, 0.2, args.seed, near_duplicate_groups(data.images))
        unseen_paths = [path for path in list_images(dataset) if is_left_out(path, args.leave_out)]
        unseen_images, unseen_paths, _ = load_images(unseen_paths, args.image_size)

        classifier = Classifier.load(model_path)
        predictor = classifier.predictor
        sample = train_index
        if len(sample) > FIT_IMAGES:
            sample = np.sort(np.random.default_rng(args.seed).choice(sample, FIT_IMAGES, replace=False))
        _, train_features = predictor.predict_with_features(data.images[sample])
        val_outputs, val_network_features = predictor.predict_with_features(data.images[val_index])
        unseen_outputs, unseen_network_features = predictor.predict_with_features(unseen_images)
        # The candidates read the shape features: the columns of the stored type distance (the
        # network also returns the colour branch's), or of the one network's image distance.
        type_group = next(g for g, group in enumerate(metadata["label_groups"]) if {"dress", "jeans", "shirt"} & set(group))
        entry = metadata["unknown"]["image"] or metadata["unknown"]["groups"][type_group]["distance"]
        shape_columns = slice(*entry.get("columns", (None, None)))
        train_features = train_features[:, shape_columns]
        val_features, unseen_features = val_network_features[:, shape_columns], unseen_network_features[:, shape_columns]
        sample_targets = result.task.encode(result.binarizer, [data.label_sets[i] for i in sample])
        if args.features:
            np.savez_compressed(
                args.features,
                train_features=train_features,
                val_features=val_features,
                unseen_features=unseen_features,
                val_outputs=val_outputs,
                unseen_outputs=unseen_outputs,
                train_targets=sample_targets,
                classes=np.array(classes),
            )
        # Logits: the head's Dense layer, before its activation.
        logit_model = keras.Model(predictor.model.inputs, predictor.model.layers[-2].output)
        val_logits = logit_model.predict(data.images[val_index].astype("float32"), verbose=0)
        unseen_logits = logit_model.predict(unseen_images.astype("float32"), verbose=0)

        groups = [[classes.index(label) for label in group] for group in metadata["label_groups"]]
        val_confidence, unseen_confidence = group_confidences(val_outputs, groups), group_confidences(unseen_outputs, groups)
        stored_unknown = metadata["unknown"]
        # The features the stored distance reads: the shape branch's for the colour-and-shape network,
        # about each type's mean; else the one network's penultimate layer, about each combination's.
        means_of = sample_targets
        if stored_unknown["image"] is None:
            means_of = means_of[:, groups[type_group]]
        candidates = {}
        for g, group in enumerate(metadata["label_groups"]):
            candidates[f"max probability in {'/'.join(group)}"] = (val_confidence[:, g], unseen_confidence[:, g])
        candidates["max probability, least confident group"] = (val_confidence.min(axis=1), unseen_confidence.min(axis=1))
        head_groups = groups if metadata.get("head") == "grouped" else None
        candidates["energy (logits)"] = (energy(val_logits, head_groups), energy(unseen_logits, head_groups))
        for components in (32, 128, None):
            statistics = fit_feature_statistics(train_features, means_of, components=components)
            name = f"Mahalanobis, {'full covariance' if components is None else f'{components} components + residual'}"
            candidates[name] = (-mahalanobis_distances(val_features, statistics), -mahalanobis_distances(unseen_features, statistics))
        for k in (1, 10):
            candidates[f"{k}-nearest-neighbour cosine distance"] = (
                -knn_distances(val_features, train_features, k),
                -knn_distances(unseen_features, train_features, k),
            )
        for dims in (64, 128):
            train_low, val_low, unseen_low = project(train_features, val_features, unseen_features, dims=dims)
            candidates[f"1-nearest-neighbour cosine distance, {dims} principal components"] = (
                -knn_distances(val_low, train_low, 1),
                -knn_distances(unseen_low, train_low, 1),
            )
        for name, (train_maps, val_maps, unseen_maps) in pooled_maps(
            predictor.model, data.images, sample, val_index, unseen_images
        ).items():
            for k in (1, 10):
                candidates[f"{k}-nearest-neighbour cosine distance, {name}"] = (
                    -knn_distances(val_maps, train_maps, k),
                    -knn_distances(unseen_maps, train_maps, k),
                )
        for name, (train_maps, val_maps, unseen_maps) in imagenet_maps(
            args.image_size, data.images, sample, val_index, unseen_images
        ).items():
            candidates[f"1-nearest-neighbour cosine distance, {name}"] = (
                -knn_distances(val_maps, train_maps, 1),
                -knn_distances(unseen_maps, train_maps, 1),
            )
        # What classify.py uses: the stored scores' typicalities.
        detector = classifier.unknown
        val_scores = detector.score(val_outputs, val_network_features)
        unseen_scores = detector.score(unseen_outputs, unseen_network_features)
        candidates["stored: type group's typicality"] = (val_scores.groups[:, type_group], unseen_scores.groups[:, type_group])
        candidates["stored: image typicality"] = (val_scores.image, unseen_scores.image)
        # Each stored score's raw familiarity (higher = more familiar), per image: to compare rules
        # of combining them, and thresholds set on one half of the validation photos and checked on
        # the other, without training again.
        familiarities = {}
        for g, labels in enumerate(detector.group_labels):
            name = "/".join(labels)
            familiarities[f"max probability in {name}"] = (val_confidence[:, g], unseen_confidence[:, g])
            distance = detector.group_distances[g]
            if distance is not None:
                familiarities[f"{distance.score} distance in {name}"] = tuple(
                    distance.familiarity(features) for features in (val_network_features, unseen_network_features)
                )
        scores = {name: auroc(known, unknown) for name, (known, unknown) in candidates.items()}
        flagged = {name: flagged_at(known, unknown) for name, (known, unknown) in candidates.items()}
        if args.features:
            np.savez_compressed(
                Path(args.features).with_suffix(".candidates.npz"),
                **{f"{name}|known": known for name, (known, _) in candidates.items()},
                **{f"{name}|unknown": unknown for name, (_, unknown) in candidates.items()},
            )

        # The stored score and threshold, as classify.py applies them.
        val_predictions, _ = classifier.classify([data.paths[i] for i in val_index])
        unseen_predictions, _ = classifier.classify(unseen_paths)

        def shares(predictions) -> dict:
            return {
                "image": float(np.mean([p.unknown["image"]["unknown"] for p in predictions])),
                **{
                    "/".join(g["labels"]): float(np.mean([p.unknown["groups"][i]["unknown"] for p in predictions]))
                    for i, g in enumerate(predictions[0].unknown["groups"])
                },
                "any": float(
                    np.mean([p.unknown["image"]["unknown"] or any(g["unknown"] for g in p.unknown["groups"]) for p in predictions])
                ),
            }

        examples, _ = classifier.classify([EXAMPLES_DIR / name for name in EXAMPLES])
        results = {
            "machine": machine(),
            "epochs": args.epochs,
            "epochs_trained": metadata["epochs_trained"],
            "patience": args.patience,
            "image_size": args.image_size,
            "seed": args.seed,
            "left_out": args.leave_out,
            "head": metadata.get("head", "flat"),
            "arch": args.arch,
            "weights": args.weights,
            "distance": args.distance or "library default",
            "network": "colour and shape" if stored_unknown["image"] is None else "one network",
            "training_images": len(train_index),
            "validation_images": len(val_index),
            "unseen_images": len(unseen_paths),
            "validation_exact_match": metadata["validation"]["exact_match"],
            "training_seconds": round(training_seconds, 1),
            "auroc": scores,
            "flagged_at_5_percent_known": {name: {"known": k, "unknown": u} for name, (k, u) in flagged.items()},
            "familiarities": {
                name: {"validation": np.round(known, 6).tolist(), "unseen": np.round(unknown, 6).tolist()}
                for name, (known, unknown) in familiarities.items()
            },
            "stored": {
                "score": "max probability and shape-branch distance per group"
                if stored_unknown["image"] is None
                else "max probability per group, feature distance per image",
                "threshold": stored_unknown["threshold"],
                "flagged_validation": shares(val_predictions),
                "flagged_unseen": shares(unseen_predictions),
            },
            "examples": {
                prediction.path.name: {
                    "shown": prediction.display_labels(),
                    "probabilities": prediction.probabilities,
                    "unknown": prediction.unknown,
                }
                for prediction in examples
            },
        }
    path = write_results(args.output, results)

    print(
        f"{results['training_images']} training, {results['validation_images']} validation (known) and "
        f"{results['unseen_images']} {args.leave_out} (unknown) photos; {results['epochs_trained']} epochs at {args.image_size} px, "
        f"{results['head']} head, validation exact-match {results['validation_exact_match']:.3f}\n"
    )
    print(
        markdown_table(
            ["score", f"AUROC, validation vs {args.leave_out}", f"{args.leave_out} / known flagged at 5 % known (cross-fitted)"],
            [[name, f"{value:.3f}", "{:.3f} / {:.3f}".format(*reversed(flagged[name]))] for name, value in scores.items()],
        )
    )
    stored = results["stored"]
    print(f"\nstored: {stored['score']}; typicality threshold {stored['threshold']:.4f}\n")
    print(
        markdown_table(
            ["flag", "validation photos flagged", f"{args.leave_out} photos flagged"],
            [
                [name, f"{stored['flagged_validation'][name]:.3f}", f"{stored['flagged_unseen'][name]:.3f}"]
                for name in stored["flagged_validation"]
            ],
        )
    )
    print()
    for name, example in results["examples"].items():
        print(
            f"{name}: {', '.join(example['shown']) or '(no label)'}  (typicality: image "
            f"{example['unknown']['image']['typicality']}, groups "
            f"{[group['typicality'] for group in example['unknown']['groups']]})"
        )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
