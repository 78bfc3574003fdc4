"""Self-contained HTML pages: what evaluate.py's report and classify.py's contact sheet share, and
the contact sheet itself.

A page is one file: its images are embedded as data URIs (JPEG thumbnails, PNG figures), its
style sheet is inline, and it runs no script (filtering is CSS), so it opens from disk with no
server, no network and JavaScript off. Links to the photos themselves are relative to the page.
Templates are Jinja2 files in ``templates/``, escaped automatically.

Imports neither TensorFlow, Keras nor scikit-learn: classify.py with an ONNX model uses it.
"""

import base64
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2
import jinja2
import numpy as np

from pyimagesearch import config
from pyimagesearch.atomic import write_bytes_atomic
from pyimagesearch.data.images import UnreadableImageError, decode_image, default_workers, is_uri
from pyimagesearch.inference.classification import Prediction
from pyimagesearch.inference.unknown import format_typicality, is_flagged

TEMPLATES = Path(__file__).resolve().parent / "templates"
REPORT_EXTENSIONS = (".html", ".htm")


def check_report_path(path: str | os.PathLike) -> Path:
    """The page file to write (classify.py ``--report``), refused before any work if it cannot be one.

    Raises:
        ValueError: For a name not ending in ``.html`` or ``.htm``, or an existing folder.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"`report` {path} is a folder: give the page's file name, e.g. {path / 'report.html'}.")
    if path.suffix.lower() not in REPORT_EXTENSIONS:
        raise ValueError(f"`report` {path}: the page's name must end in .html (e.g. report.html).")
    return path


def thumbnail_uri(image: np.ndarray, size: int = config.REPORT_THUMBNAIL) -> str:
    """A JPEG data URI of an RGB uint8 image shrunk to fit a ``size`` x ``size`` box (never enlarged)."""
    height, width = image.shape[:2]
    scale = min(1.0, size / max(height, width))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError(f"OpenCV could not encode a thumbnail of shape {image.shape}.")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def png_uri(png: bytes) -> str:
    """A data URI of PNG bytes (a figure)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def file_thumbnail(path: str | os.PathLike, size: int = config.REPORT_THUMBNAIL) -> str | None:
    """`thumbnail_uri` of an image file, decoded at the reduced scale that still covers ``size``;
    None for a file that can no longer be read (the page says so instead of failing)."""
    try:
        return thumbnail_uri(decode_image(path, min_size=size), size)
    except UnreadableImageError:
        return None


def file_thumbnails(paths: Sequence[str | os.PathLike], size: int = config.REPORT_THUMBNAIL) -> list[str | None]:
    """`file_thumbnail` of each file, in parallel threads (OpenCV releases the GIL while decoding)."""
    with ThreadPoolExecutor(max_workers=default_workers()) as pool:
        return list(pool.map(lambda path: file_thumbnail(path, size), paths))


def relative_link(target: str | os.PathLike, page: Path) -> str:
    """The URL of ``target`` relative to the page's folder, so the page and the photos can move
    together; a URI (a manifest's ``gs://...``) as it is."""
    if is_uri(target):
        return str(target)
    return quote(Path(os.path.relpath(Path(target).resolve(), page.resolve().parent)).as_posix())


def _number(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _short_path(path: str) -> str:
    parts = Path(path).parts
    return "/".join(parts[-2:])


def render(template: str, **context: Any) -> str:
    """Render one of the templates of ``templates/`` with ``context``; undefined names raise."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(number=_number, percent=_percent, short_path=_short_path, flagged=is_flagged)
    environment.globals["thumbnail"] = config.REPORT_THUMBNAIL
    return environment.get_template(template).render(**context)


def write_page(path: str | os.PathLike, html: str) -> None:
    """Write a page atomically (see `atomic.atomic_path`)."""
    write_bytes_atomic(path, html.encode("utf-8"))


def write_contact_sheet(
    path: str | os.PathLike,
    predictions: Sequence[Prediction],
    classes: Sequence[str],
    model: str,
    size: int = config.REPORT_THUMBNAIL,
) -> None:
    """Write classify.py's page: a thumbnail of each image with its labels, filterable by predicted label.

    Each card shows the labels and their probabilities as `Prediction.display_labels` gives them,
    marks an unknown image or label group, and links to the annotated copy (and Grad-CAM
    overlays) when they were written, else to the photo. Radio buttons above the sheet show the
    images of one predicted label, the unknowns or those without a label, with CSS alone.

    Args:
        path: The page to write (see `check_report_path`); written atomically.
        predictions: As `Classifier.classify` returns them, after any annotation.
        classes: The model's labels, in output order: one filter each.
        model: The model file, for the page's heading.
        size: Largest side of the thumbnails, pixels. Defaults to `config.REPORT_THUMBNAIL`.
    """
    path = Path(path)
    thumbnails = file_thumbnails([prediction.path for prediction in predictions], size)
    cards = []
    for prediction, thumbnail in zip(predictions, thumbnails):
        flagged = prediction.unknown is not None and is_flagged(prediction.unknown)
        cards.append(
            {
                "path": str(prediction.path),
                "thumbnail": thumbnail,
                "link": relative_link(prediction.annotated or prediction.path, path),
                "labels": [(label, prediction.probabilities.get(label)) for label in prediction.display_labels()],
                "filters": [f"label-{classes.index(label)}" for label in prediction.labels]
                + (["unknown"] if flagged else [])
                + ([] if prediction.labels else ["no-label"]),
                "unknown": flagged,
                "typicality": None if prediction.unknown is None else format_typicality(prediction.unknown),
                "explanations": [(label, relative_link(overlay, path)) for label, overlay in prediction.explanations.items()],
                "probabilities": prediction.probabilities,
            }
        )
    # (CSS class, button text, images): a class per label by index, since a label may not be a CSS name.
    names = [(f"label-{index}", label) for index, label in enumerate(classes)] + [("unknown", "unknown"), ("no-label", "no label")]
    filters = [(name, text, sum(name in card["filters"] for card in cards)) for name, text in names]
    write_page(path, render("classification.html", model=model, cards=cards, filters=filters))
