"""Tests for what a data set built by search_bing_api.py keeps: label conflicts across sibling
folders, ATTRIBUTION.csv, and the path,labels manifest that train.py reads as it is.
"""

import csv
import io

import cv2
import numpy as np
from download_support import (  # noqa: F401 (fixtures)
    REPOSITORY,
    httpserver,
    image_files,
    loopback_only,
    loopback_server,
    manifest,
    picture,
    requested_paths,
    run_process,
    serve,
    serve_pictures,
)
from PIL import Image

import search_bing_api
from pyimagesearch.download.conflicts import SiblingPictures, picture_hash


def build(listing, output, *extra) -> int:
    return search_bing_api.main(["--urls", str(listing), "--output", str(output), "--retries", "0", *extra])


def url_list(tmp_path, name, urls) -> str:
    listing = tmp_path / name
    listing.write_text("\n".join(urls) + "\n")
    return str(listing)


def recompressed(content: bytes) -> bytes:
    """The same picture enlarged and re-encoded as a JPEG: other bytes, a near-duplicate (1 or 2 bits
    from the original for the seeds used here, against a radius of 6)."""
    image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    ok, buffer = cv2.imencode(".jpg", cv2.resize(image, (128, 128), interpolation=cv2.INTER_CUBIC), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buffer.tobytes()


def test_a_picture_already_in_a_sibling_folder_is_a_conflict_not_saved_again(httpserver, tmp_path, capsys):
    dataset = tmp_path / "dataset"
    shared = picture(4)
    blue = [serve(httpserver, "/blue0.png", shared), *serve_pictures(httpserver, 2, first_seed=100)]
    assert build(url_list(tmp_path, "blue.txt", blue), dataset / "blue_dress") == 0
    red = [
        serve(httpserver, "/red-exact.png", shared),
        serve(httpserver, "/red-near.jpg", recompressed(shared), "image/jpeg"),
        *serve_pictures(httpserver, 2, first_seed=200),
    ]
    capsys.readouterr()

    assert build(url_list(tmp_path, "red.txt", red), dataset / "red_dress") == 0

    assert image_files(dataset / "red_dress") == ["00000000.png", "00000001.png"]
    out, errors = capsys.readouterr()
    assert "conflicts:        2" in out
    sibling = dataset / "blue_dress" / "00000000.png"
    assert f"conflict: {red[0]} is already in {sibling}; not saved in {dataset / 'red_dress'}" in errors
    assert f"conflict: {red[1]} is already in {sibling}; not saved in {dataset / 'red_dress'}" in errors
    entries = {entry["url"]: entry for entry in manifest(dataset / "red_dress")}
    assert entries[red[0]]["status"] == "conflict" and entries[red[0]]["distance"] == 0
    assert entries[red[1]]["file"] == "blue_dress/00000000.png" and 0 < entries[red[1]]["distance"] <= 6


def test_a_conflict_is_asked_for_again_once_the_user_moves_the_sibling_picture(httpserver, tmp_path):
    dataset = tmp_path / "dataset"
    shared = serve(httpserver, "/shared.png", picture(7))
    assert build(url_list(tmp_path, "blue.txt", [shared]), dataset / "blue_dress") == 0
    red = url_list(tmp_path, "red.txt", [shared])
    build(red, dataset / "red_dress")
    httpserver.log.clear()

    build(red, dataset / "red_dress")  # the conflict is settled while blue_dress holds the picture
    assert requested_paths(httpserver) == []

    (dataset / "blue_dress" / "00000000.png").unlink()  # the user decides: it is a red dress
    assert build(red, dataset / "red_dress") == 0
    assert image_files(dataset / "red_dress") == ["00000000.png"]


def test_conflict_check_uses_the_training_splits_hash_and_radius(tmp_path):
    dataset = tmp_path / "dataset"
    (dataset / "blue_dress").mkdir(parents=True)
    (dataset / "blue_dress" / "a.png").write_bytes(picture(1))
    (dataset / "blue_dress" / "broken.jpg").write_bytes(b"\xff\xd8 not a picture")  # left out, as training leaves it out
    siblings = SiblingPictures(dataset / "red_dress")
    near = recompressed(picture(1))
    other = picture(2)

    assert len(siblings) == 1
    assert siblings.match("no-such-sha", picture_hash(near, "near")).file == "blue_dress/a.png"
    assert siblings.match("no-such-sha", picture_hash(other, "other")) is None
    assert SiblingPictures(dataset / "red_dress", radius=0).match("no-such-sha", picture_hash(near, "near")) is None


def test_attribution_csv_lists_each_saved_image_with_its_source_and_licence(httpserver, tmp_path):
    output = tmp_path / "dataset" / "red_dress"
    urls = serve_pictures(httpserver, 2)
    build(url_list(tmp_path, "urls.txt", urls), output)
    (output / "00000000.png").unlink()  # a picture the user threw away leaves the table too

    build(url_list(tmp_path, "urls.txt", urls), output)

    rows = list(csv.DictReader(io.StringIO((output / "ATTRIBUTION.csv").read_text())))
    assert [(row["file"], row["image_url"]) for row in rows] == [("00000001.png", urls[1])]
    assert list(rows[0]) == [
        "file",
        "title",
        "creator",
        "license",
        "license_version",
        "license_url",
        "attribution",
        "page_url",
        "image_url",
        "provider",
        "license_filter",
    ]


def test_manifest_lists_every_label_folder_and_train_reads_it_as_it_is(httpserver, tmp_path):
    dataset = tmp_path / "dataset"
    (dataset / "red_dress").mkdir(parents=True)
    for index in range(8):  # a label folder made by hand is listed as well
        Image.open(io.BytesIO(picture(300 + index))).save(dataset / "red_dress" / f"hand{index}.png")
    blue = serve_pictures(httpserver, 8, first_seed=400)
    data_manifest = tmp_path / "manifests" / "fashion.csv"

    assert build(url_list(tmp_path, "blue.txt", blue), dataset / "blue_dress", "--manifest", str(data_manifest)) == 0

    rows = list(csv.DictReader(io.StringIO(data_manifest.read_text())))
    assert len(rows) == 16 and set(rows[0]) == {"path", "labels"}
    assert {row["labels"] for row in rows} == {"blue_dress", "red_dress"}
    assert rows[0]["path"] == "../dataset/blue_dress/00000000.png"
    work = tmp_path / "work"
    work.mkdir()
    trained = run_process(
        [
            str(REPOSITORY / "train.py"),
            "--dataset",
            str(data_manifest),
            "--epochs",
            "1",
            "--image-size",
            "16",
            "--arch",
            "smallervggnet",
            "--no-export",  # this test is about the manifest
            "--model",
            str(work / "fashion.model"),
            "--labelbin",
            str(work / "mlb.pickle"),
            "--plot",
            str(work / "plot.png"),
        ],
        cwd=work,
    )
    assert trained.returncode == 0, trained.stderr
    assert (work / "fashion.model").is_file() and (work / "mlb.pickle").is_file() and (work / "plot.png").is_file()
    assert "images: 16 loaded, 0 skipped" in trained.stdout
    assert "combinations: blue+dress 8, dress+red 8" in trained.stdout
