"""evaluate.py's outputs (`write_evaluation`), and its HTML report: a page to look at what a model gets wrong.

Headline metrics under each decoding, per-label scores and thresholds, a heat map of the
confusion within each label group, the most confused labels and label combinations, and
galleries of the worst mistakes (highest loss first, with the Grad-CAM overlay of the wrong label
for a Keras model), of the images flagged unknown and of those carrying labels the model never
learnt, then the precision-recall curves. Every number on the page is read from the report that
evaluate.py writes as report.json, never computed again; each carries a ``data-key`` attribute,
its path in that report (``per_label/red/f1``).

Imports neither TensorFlow nor Keras (Grad-CAM imports them, for a Keras model only).
"""

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pyimagesearch import config
from pyimagesearch.atomic import write_bytes_atomic, write_csv
from pyimagesearch.data.images import UnreadableImageError, decode_image
from pyimagesearch.evaluation.html_report import file_thumbnails, png_uri, relative_link, render, thumbnail_uri, write_page
from pyimagesearch.evaluation.metrics import SUMMARY_METRICS
from pyimagesearch.evaluation.options import check_gallery, check_output_folder
from pyimagesearch.evaluation.plotting import confusion_heatmap, plot_precision_recall
from pyimagesearch.evaluation.scoring import FolderEvaluation
from pyimagesearch.inference.classification import Classifier
from pyimagesearch.inference.decoding import Decoding

# Rows of each "most confused" table on the page (report.json lists them all).
CONFUSED_ROWS = 10


# What `write_evaluation` writes into its folder.
EVALUATION_FILES = ("report.json", "misclassified.csv", "pr_curves.png", "report.html")


def write_evaluation(
    output: str | os.PathLike,
    result: FolderEvaluation,
    classifier: Classifier,
    decoding: Decoding,
    model: str,
    dataset: str,
    gallery: int = config.REPORT_GALLERY,
) -> list[Path]:
    """Write `EVALUATION_FILES` into the folder ``output`` (made if missing), each atomically: the
    report as JSON, the misclassified images as CSV, the precision-recall curves and the page
    (`write_evaluation_report`); returns their paths.

    Raises:
        ValueError: For an ``output`` that is a file, or a negative ``gallery``.
    """
    check_output_folder(output)
    check_gallery(gallery)
    paths = [Path(output) / name for name in EVALUATION_FILES]
    report_json, misclassified, pr_curves, page = paths
    Path(output).mkdir(parents=True, exist_ok=True)
    report = result.to_json()
    write_bytes_atomic(report_json, json.dumps(report, indent=2).encode())
    write_csv(
        [
            {"image": item["image"], "true": " ".join(item["true"]), "predicted": " ".join(item["predicted"]), "loss": item["loss"]}
            for item in result.misclassified
        ],
        misclassified,
        columns=["image", "true", "predicted", "loss"],
    )
    plot_precision_recall(result.true, result.probabilities, classifier.classes, decoding.thresholds, pr_curves)
    write_evaluation_report(page, report, classifier, pr_curves.read_bytes(), model=model, dataset=dataset, gallery=gallery)
    return paths


def explained_label(mistake: dict[str, Any]) -> tuple[str, str]:
    """The label a mistake's Grad-CAM overlay explains, and why that one: the most probable label
    predicted wrongly (``"predicted, wrong"``), else the most probable true label missed (``"missed"``).

    Args:
        mistake: An entry of the report's ``misclassified``.
    """
    wrong = [label for label in mistake["predicted"] if label not in mistake["true"]]
    if wrong:
        return max(wrong, key=mistake["probabilities"].get), "predicted, wrong"
    missed = [label for label in mistake["true"] if label not in mistake["predicted"]]
    return max(missed, key=mistake["probabilities"].get), "missed"


def mistake_cards(
    classifier: Classifier,
    mistakes: Sequence[dict[str, Any]],
    page: Path,
    size: int = config.REPORT_THUMBNAIL,
) -> tuple[list[dict[str, Any]], str | None]:
    """The gallery of mistakes: each with its thumbnail and, for a model Grad-CAM can explain, the
    overlay of `explained_label`.

    Returns:
        ``(cards, refusal)``: a card per mistake, in order; ``refusal`` is why the model gets no
        overlays (an ONNX export, the MLP, a graph Grad-CAM cannot follow), or None.
    """
    try:
        classifier.check_explain()
        refusal = None
    except ValueError as error:
        refusal = str(error)
    cards = []
    for index, mistake in enumerate(mistakes):
        label, reason = explained_label(mistake)
        card = {
            "index": index,
            "item": mistake,
            "link": relative_link(mistake["image"], page),
            "label": label,
            "reason": reason,
            "thumbnail": None,
            "overlay": None,
        }
        cards.append(card)
        try:
            # Grad-CAM resizes to the network's input: decode no smaller than that.
            image = decode_image(mistake["image"], min_size=max(size, classifier.image_size))
        except UnreadableImageError:
            continue
        card["thumbnail"] = thumbnail_uri(image, size)
        if refusal is None:
            from pyimagesearch.inference.gradcam import overlay_heatmap  # Keras and TensorFlow, loaded with the model already

            try:
                heatmap = classifier.explain(image, label)
            except ValueError as error:  # the page is still worth writing without overlays
                refusal = str(error)
                continue
            card["overlay"] = thumbnail_uri(overlay_heatmap(image, heatmap), size)
    if refusal is not None:
        for card in cards:
            card["overlay"] = None
    return cards, refusal


def image_cards(
    items: Sequence[dict[str, Any]],
    count: int,
    page: Path,
    order: Callable[[dict[str, Any]], Any] | None = None,
) -> list[dict[str, Any]]:
    """Cards of the first ``count`` report entries (by ``order``, else as listed), each with its
    thumbnail, its link and ``index``, its place in the report's list."""
    indexed = sorted(enumerate(items), key=lambda pair: order(pair[1])) if order else list(enumerate(items))
    chosen = indexed[:count]
    thumbnails = file_thumbnails([item["image"] for _, item in chosen])
    return [
        {"index": index, "item": item, "thumbnail": thumbnail, "link": relative_link(item["image"], page)}
        for (index, item), thumbnail in zip(chosen, thumbnails)
    ]


def _lowest_typicality(item: dict[str, Any]) -> float:
    verdict = item["unknown_detection"]
    return min([verdict["image"]["typicality"], *(group["typicality"] for group in verdict["groups"])])


def write_evaluation_report(
    path: str | os.PathLike,
    report: dict[str, Any],
    classifier: Classifier,
    pr_curves: bytes,
    model: str,
    dataset: str,
    gallery: int = config.REPORT_GALLERY,
) -> None:
    """Write evaluate.py's page (one file, images embedded) atomically.

    Args:
        path: The page to write, e.g. ``evaluation/report.html``.
        report: What evaluate.py writes as report.json (`scoring.FolderEvaluation.to_json`).
        classifier: The model evaluated, for the Grad-CAM overlays and its input size.
        pr_curves: The precision-recall figure, PNG bytes (evaluate.py's pr_curves.png).
        model: The model file, as given, for the heading.
        dataset: The folder evaluated, as given, for the heading.
        gallery: Images shown in each gallery. Defaults to `config.REPORT_GALLERY`.

    Raises:
        ValueError: For a negative ``gallery``.
    """
    check_gallery(gallery)
    page = Path(path)
    mistakes, refusal = mistake_cards(classifier, report["misclassified"][:gallery], page)
    detection = report["unknown_detection"]
    never_learnt = report["out_of_vocabulary"]["list"]
    heatmaps = [
        png_uri(confusion_heatmap(group["counts"], group["rows"], group["columns"], " / ".join(group["labels"])))
        for group in report["group_confusion"]
    ]
    html = render(
        "evaluation.html",
        report=report,
        model=model,
        dataset=dataset,
        gallery=gallery,
        summary_metrics=SUMMARY_METRICS,
        confused_rows=CONFUSED_ROWS,
        heatmaps=heatmaps,
        mistakes=mistakes,
        refusal=refusal,
        flagged=[] if detection is None else image_cards(detection["list"], gallery, page, order=_lowest_typicality),
        never_learnt=image_cards(never_learnt, gallery, page),
        never_learnt_labels=Counter(label for item in never_learnt for label in item["unknown"]).most_common(),
        pr_curves=png_uri(pr_curves),
    )
    write_page(page, html)
