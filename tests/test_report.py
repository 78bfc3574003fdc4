"""The HTML pages: evaluate.py's report.html and classify.py --report, on a tiny model and generated data."""

import base64
import html
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import cv2
import numpy as np
import pytest
from conftest import PROCESS_TIMEOUT, PROJECT_ROOT, run_script
from test_light_paths import imported_modules

from pyimagesearch import config
from pyimagesearch.evaluation.html_report import check_report_path, relative_link, thumbnail_uri, write_contact_sheet
from pyimagesearch.evaluation.metrics import SUMMARY_METRICS
from pyimagesearch.evaluation.report import explained_label
from pyimagesearch.inference.classification import Classifier, Prediction
from pyimagesearch.inference.unknown import is_flagged

SECTIONS = ["headline", "per-label", "groups", "confused", "mistakes", "unknown", "never-learnt", "pr-curves"]
GALLERY = 5
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page(HTMLParser):
    """What a test needs of a page: sections, cards, images, links, scripts and the numbers with their keys."""

    def __init__(self, text: str):
        super().__init__()
        self.sections: list[str] = []
        self.cards: dict[str, list[dict]] = {}
        self.images: list[dict] = []
        self.links: list[str] = []
        self.scripts = 0
        self.values: dict[str, str] = {}
        self._key: str | None = None
        self._in_card = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        elif tag == "figure" and "card" in attrs.get("class", "").split():
            self.cards.setdefault(self.sections[-1], []).append({"classes": attrs["class"].split(), "images": []})
            self._in_card = True
        elif tag == "img":
            self.images.append(attrs)
            if self._in_card:
                self.cards[self.sections[-1]][-1]["images"].append(attrs)
        elif tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        elif tag == "script":
            self.scripts += 1
        if "data-key" in attrs:
            self._key = attrs["data-key"]
            self.values[self._key] = ""

    def handle_endtag(self, tag):
        if tag == "span":
            self._key = None
        elif tag == "figure":
            self._in_card = False

    def handle_data(self, data):
        if self._key is not None:
            self.values[self._key] += data


def lookup(report: dict, key: str):
    value = report
    for part in key.split("/"):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def shown_equals(text: str, value) -> bool:
    """Whether a number as the page shows it is ``value`` as report.json holds it, to the digits shown."""
    text = text.strip()
    if value is None:
        return text == "–"
    if isinstance(value, int):
        return text == str(value)
    if text.endswith("%"):
        return abs(float(text[:-1]) / 100 - value) <= 0.5e-3 + 1e-9
    digits = len(text.split(".")[1])
    return abs(float(text) - value) <= 0.5 * 10**-digits + 1e-9


def decoded_image(source: str) -> np.ndarray:
    header, data = source.split(",", 1)
    assert header in ("data:image/jpeg;base64", "data:image/png;base64"), header
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.size
    return image


@pytest.fixture(scope="module")
def evaluation_set(demo_data, tmp_path_factory):
    """Three of the model's combinations, a black dress (known labels, a combination never trained on),
    a blue shirt filed as red jeans (a mistake whatever the model) and a green dress (a label the
    model never learnt)."""
    dataset, examples = demo_data
    root = tmp_path_factory.mktemp("report_set")
    for folder in ("red_dress", "black_jeans", "blue_shirt"):
        (root / folder).mkdir()
        for path in sorted((dataset / folder).iterdir())[:8]:
            shutil.copy(path, root / folder / path.name)
    for folder, source in (
        ("black_dress", examples / "example_07.jpg"),
        ("red_jeans", sorted((dataset / "blue_shirt").iterdir())[-1]),
        ("green_dress", sorted((dataset / "blue_dress").iterdir())[0]),
    ):
        (root / folder).mkdir()
        shutil.copy(source, root / folder / source.name)
    return root


def evaluate(model: Path, dataset: Path, output: Path, *flags: str) -> tuple[dict, str]:
    result = run_script(
        "evaluate.py",
        "--model",
        model,
        "--labelbin",
        model.parent / "mlb.pickle",
        "--dataset",
        dataset,
        "--output",
        output,
        "--gallery",
        str(GALLERY),
        *flags,
        cwd=output.parent,
    )
    assert result.returncode == 0, result.stderr
    assert f"{output / 'report.html'}" in result.stdout.splitlines()[-1]
    return json.loads((output / "report.json").read_text()), (output / "report.html").read_text()


@pytest.fixture(scope="module")
def keras_report(exported_model, evaluation_set, tmp_path_factory):
    output = tmp_path_factory.mktemp("keras_report") / "evaluation"
    # --explain: the Keras model file, whose mistakes get Grad-CAM overlays, rather than its export.
    report, page = evaluate(exported_model / "fashion.model", evaluation_set, output, "--explain")
    return output, report, page


def test_the_report_has_every_section_with_its_content(keras_report):
    _, report, text = keras_report
    page = Page(text)
    assert page.sections == SECTIONS
    assert report["images"] == 26 and report["out_of_vocabulary"]["images"] == 1
    assert list(report["decodings"]) == ["one label per group", "threshold 0.5", "tuned thresholds"]
    assert report["decoding"] == "one label per group"
    # A heat map per label group (colours, types), the PR curves.
    figures = [image for image in page.images if "figure" in image.get("class", "")]
    assert [image["alt"] for image in figures] == [
        "confusion matrix of black, blue, red",
        "confusion matrix of dress, jeans, shirt",
        "precision-recall curve of each label",
    ]
    # The worst mistakes, highest loss first, each with its photo and the Grad-CAM overlay of the wrong label.
    mistakes = page.cards["mistakes"]
    assert len(mistakes) == min(GALLERY, len(report["misclassified"])) > 0
    losses = [item["loss"] for item in report["misclassified"]]
    assert losses == sorted(losses, reverse=True)
    for card, item in zip(mistakes, report["misclassified"]):
        photo, overlay = card["images"]
        assert photo["alt"] == item["image"]
        assert overlay["alt"] == f"Grad-CAM of {explained_label(item)[0]}"
        assert not np.array_equal(decoded_image(photo["src"]), decoded_image(overlay["src"]))
    assert "No Grad-CAM overlays" not in text
    # The image carrying a label never learnt, with what the model said; the flagged ones.
    [never_learnt] = page.cards["never-learnt"]
    assert never_learnt["images"][0]["alt"].endswith("green_dress/" + Path(report["out_of_vocabulary"]["list"][0]["image"]).name)
    assert "green: 1" in text
    flagged = report["unknown_detection"]
    assert len(page.cards.get("unknown", [])) == min(GALLERY, flagged["images"])
    assert all("flagged" in card["classes"] for card in page.cards.get("unknown", []))


def test_every_image_the_report_references_exists_and_nothing_is_fetched(keras_report):
    output, _, text = keras_report
    page = Page(text)
    assert len(page.images) > 4
    for image in page.images:
        decoded_image(image["src"])  # embedded: the page is one file
    local = [link for link in page.links if not link.startswith("#")]
    assert local  # each photo links to its file
    for link in local:
        assert (output / unquote(link)).resolve().is_file(), link
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert page.scripts == 0  # works with JavaScript off


def test_every_number_in_the_report_is_report_jsons(keras_report):
    _, report, text = keras_report
    values = Page(text).values
    wrong = {key: (shown, lookup(report, key)) for key, shown in values.items() if not shown_equals(shown, lookup(report, key))}
    assert not wrong
    # Every headline and per-label number, every threshold and confusion count is shown.
    expected = {f"decodings/{name}/{metric}" for name in report["decodings"] for metric in SUMMARY_METRICS}
    expected |= {
        f"per_label/{label}/{metric}"
        for label in report["per_label"]
        for metric in ("precision", "recall", "f1", "average_precision", "support")
    }
    expected |= {f"thresholds/{label}" for label in report["thresholds"]}
    expected |= {f"confusion_matrices/{label}/{count}" for label, counts in report["confusion_matrices"].items() for count in counts}
    expected |= {
        f"group_confusion/{g}/counts/{r}/{c}"
        for g, group in enumerate(report["group_confusion"])
        for r, row in enumerate(group["counts"])
        for c in range(len(row))
    }
    expected |= {f"most_confused/labels/{index}/images" for index in range(min(10, len(report["most_confused"]["labels"])))}
    for index, item in enumerate(report["misclassified"][:GALLERY]):
        expected |= {f"misclassified/{index}/loss", *(f"misclassified/{index}/probabilities/{label}" for label in item["probabilities"])}
    assert expected <= set(values)


def test_a_model_grad_cam_cannot_explain_gets_no_overlay_and_the_page_says_why(exported_model, evaluation_set, tmp_path):
    report, text = evaluate(exported_model / "fashion.onnx", evaluation_set, tmp_path / "evaluation")
    mistakes = Page(text).cards["mistakes"]
    assert len(mistakes) == min(GALLERY, len(report["misclassified"])) > 0
    assert all(len(card["images"]) == 1 for card in mistakes)
    assert "No Grad-CAM overlays: Grad-CAM explains Keras models with convolutions only" in text
    assert "Grad-CAM takes gradients, which the ONNX export" in html.unescape(text)


def test_evaluating_the_model_file_runs_its_export_without_tensorflow(exported_model, evaluation_set, keras_report, tmp_path):
    output = tmp_path / "evaluation"
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            str(PROJECT_ROOT / "evaluate.py"),
            "--model",
            str(exported_model / "fashion.model"),
            "--labelbin",
            str(exported_model / "mlb.pickle"),
            "--dataset",
            str(evaluation_set),
            "--output",
            str(output),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=PROCESS_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    modules = imported_modules(result.stderr)
    assert "onnxruntime" in modules and not {"tensorflow", "keras", "tf_keras"} & modules
    report, keras_run = json.loads(result.stdout), keras_report[1]
    assert report == json.loads((output / "report.json").read_text())  # --json prints the report it wrote
    # The same answers as the Keras model file's (export.py checks the outputs agree within 1e-4).
    assert report["misclassified"] and {item["image"] for item in report["misclassified"]} == {
        item["image"] for item in keras_run["misclassified"]
    }
    for name in SUMMARY_METRICS:
        assert report[name] == pytest.approx(keras_run[name], abs=1e-3), name


def test_explained_label_is_the_wrong_label_else_the_missed_one():
    mistake = {
        "true": ["red", "dress"],
        "predicted": ["blue", "black", "dress"],
        "probabilities": {"red": 0.3, "dress": 0.9, "blue": 0.6, "black": 0.7},
    }
    assert explained_label(mistake) == ("black", "predicted, wrong")
    assert explained_label({**mistake, "predicted": ["dress"]}) == ("red", "missed")


def test_classify_report_is_a_contact_sheet_filterable_by_predicted_label_without_tensorflow(exported_model, demo_data, tmp_path):
    _, examples = demo_data
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            str(PROJECT_ROOT / "classify.py"),
            "--model",
            str(exported_model / "fashion.onnx"),
            "--image",
            str(examples),
            "--output",
            str(tmp_path / "annotated"),
            "--report",
            str(tmp_path / "sheet" / "report.html"),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert not {"tensorflow", "keras", "sklearn"} & imported_modules(result.stderr)
    predictions = json.loads(result.stdout)
    text = (tmp_path / "sheet" / "report.html").read_text()
    page = Page(text)
    cards = page.cards["sheet"]
    assert [card["images"][0]["alt"] for card in cards] == [item["image"] for item in predictions]
    classes = Classifier.load(exported_model / "fashion.onnx").classes
    for card, item in zip(cards, predictions):
        assert ("unknown" in card["classes"]) == is_flagged(item["unknown"]) == ("flagged" in card["classes"])
        assert {name for name in card["classes"] if name.startswith("label-")} == {
            f"label-{classes.index(label)}" for label in item["labels"]
        }
        assert ("no-label" in card["classes"]) == (not item["labels"])
        decoded_image(card["images"][0]["src"])
    # Each card links to its annotated copy, relative to the page.
    for link, item in zip(page.links, predictions, strict=True):
        assert (tmp_path / "sheet" / unquote(link)).resolve() == (tmp_path / item["annotated"]).resolve()
    assert page.scripts == 0


def test_contact_sheet_marks_unknowns_and_files_each_card_under_its_filters(demo_data, tmp_path):
    examples = sorted(demo_data[1].iterdir())

    def verdict(image: bool, groups: tuple[bool, bool]) -> dict:
        return {
            "threshold": 0.03,
            "image": {"typicality": 0.01 if image else 0.5, "unknown": image},
            "groups": [
                {"labels": labels, "typicality": 0.01 if flag else 0.5, "unknown": flag}
                for labels, flag in ((["blue", "red"], groups[0]), (["dress", "shirt"], groups[1]))
            ],
        }

    probabilities = {"dress": 0.9, "red": 0.8, "blue": 0.1, "shirt": 0.05}
    predictions = [
        Prediction(examples[0], ["dress", "red"], probabilities, unknown=verdict(False, (False, False))),
        Prediction(examples[1], ["red"], probabilities, unknown=verdict(False, (False, True))),
        Prediction(examples[2], [], probabilities, unknown=verdict(True, (True, True))),
    ]
    write_contact_sheet(tmp_path / "sheet.html", predictions, ["blue", "dress", "red", "shirt"], model="m.onnx")
    text = (tmp_path / "sheet.html").read_text()
    cards = Page(text).cards["sheet"]
    assert [card["classes"] for card in cards] == [
        ["card", "label-1", "label-2"],
        ["card", "label-2", "unknown", "flagged"],
        ["card", "unknown", "no-label", "flagged"],
    ]
    assert "unknown (not dress/shirt)</span>" in text  # the group it flagged, as classify.py prints it
    for name, count in (("all", 3), ("label-0", 0), ("label-1", 1), ("label-2", 2), ("unknown", 2), ("no-label", 1)):
        assert re.search(rf'<label for="show-{name}">[^<]* \({count}\)</label>', text), name


def test_bad_report_arguments_are_one_line_errors_that_write_nothing(exported_model, demo_data, evaluation_set, tmp_path):
    result = run_script(
        "classify.py", "--model", exported_model / "fashion.onnx", "--image", demo_data[1], "--report", "sheet.txt", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["classify.py: error: --report sheet.txt: the page's name must end in .html (e.g. report.html)."]
    result = run_script(
        "evaluate.py", "--model", exported_model / "fashion.onnx", "--dataset", evaluation_set, "--gallery", "-1", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "evaluate.py: error: --gallery must be 0 or more (0 shows no image). Received: -1"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "results").write_text("the user's notes")
    result = run_script(
        "evaluate.py", "--model", exported_model / "fashion.onnx", "--dataset", evaluation_set, "--output", "results", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "evaluate.py: error: --output results is a file: give a folder."
    assert (tmp_path / "results").read_text() == "the user's notes"


def test_report_paths_and_thumbnails(tmp_path):
    (tmp_path / "folder.html").mkdir()
    with pytest.raises(ValueError, match=r"`report` .*folder.html is a folder: give the page's file name"):
        check_report_path(tmp_path / "folder.html")
    assert check_report_path("out/Report.HTML") == Path("out/Report.HTML")
    thumbnail = decoded_image(thumbnail_uri(np.zeros((400, 200, 3), np.uint8)))
    assert thumbnail.shape == (config.REPORT_THUMBNAIL, config.REPORT_THUMBNAIL // 2, 3)
    assert decoded_image(thumbnail_uri(np.zeros((40, 20, 3), np.uint8))).shape == (40, 20, 3)  # never enlarged
    assert relative_link(tmp_path / "photos" / "a b.jpg", tmp_path / "pages" / "report.html") == "../photos/a%20b.jpg"
    assert relative_link("gs://shop/0001.jpg", tmp_path / "report.html") == "gs://shop/0001.jpg"


def test_report_modules_import_neither_tensorflow_nor_keras():
    code = (
        "import json, sys, pyimagesearch.evaluation.html_report, pyimagesearch.evaluation.report; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert not {"tensorflow", "keras"} & set(json.loads(result.stdout))


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_headless_chromium_renders_the_report_and_the_sheet_filters(keras_report, exported_model, demo_data, tmp_path):
    output, _, _ = keras_report
    screenshot = tmp_path / "report.png"
    run_chromium(f"--screenshot={screenshot}", "--window-size=1200,2400", (output / "report.html").as_uri(), profile=tmp_path / "profile")
    image = cv2.imread(str(screenshot))
    assert image is not None and image.shape[:2] == (2400, 1200)
    assert image.std() > 30  # not blank
    assert (image < 200).any(axis=2).mean() > 0.03  # text, tables and figures drawn
    saturation = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[..., 1]
    assert (saturation > 120).mean() > 0.005  # the heat maps and photos are painted, not only text

    # The contact sheet's filters, CSS alone: a script added to a copy here (the page has none)
    # checks each filter in turn and records which images stay visible.
    result = run_script(
        "classify.py",
        "--model",
        exported_model / "fashion.onnx",
        "--image",
        demo_data[1],
        "--no-annotate",
        "--report",
        tmp_path / "sheet.html",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout)
    probe = """<script>
const visible = {};
for (const radio of document.querySelectorAll('#filters input')) {
  radio.checked = true;
  visible[radio.id] = [...document.querySelectorAll('.card')].filter(card => getComputedStyle(card).display !== 'none')
    .map(card => card.querySelector('img').alt);
}
document.body.dataset.visible = JSON.stringify(visible);
</script></body>"""
    (tmp_path / "probe.html").write_text((tmp_path / "sheet.html").read_text().replace("</body>", probe))
    dom = run_chromium("--dump-dom", (tmp_path / "probe.html").as_uri(), profile=tmp_path / "profile")
    visible = json.loads(html.unescape(re.search(r'data-visible="([^"]*)"', dom).group(1)))
    assert visible["show-all"] == [item["image"] for item in predictions]
    for index, label in enumerate(Classifier.load(exported_model / "fashion.onnx").classes):
        assert visible[f"show-label-{index}"] == [item["image"] for item in predictions if label in item["labels"]], label
    assert visible["show-unknown"] == [item["image"] for item in predictions if is_flagged(item["unknown"])]
    assert visible["show-no-label"] == [item["image"] for item in predictions if not item["labels"]]


def run_chromium(*arguments: str, profile: Path) -> str:
    """Headless Chromium as this machine needs it (no sandbox as root, no GPU, no network of its own); its stdout."""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
