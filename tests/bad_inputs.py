"""A corpus of bad and odd inputs, generated here (never downloaded), and the checks every run of a CLI on
one of them must pass: its exit code, a one-line error naming the file or flag, no traceback, no output
damaged and nothing in the data set changed (hashed before and after).

It lives beside the tests, as download_support.py does, because its cheap cases are tests
(tests/test_reliability.py); bench/reliability.py runs every case through every CLI it reaches and
counts. Each kind is built from pixels made here (OpenCV, Pillow, numpy, `pyimagesearch.data.demo`).

Kinds:
    `BAD_IMAGES`: files a folder may hold that no decoder can read: skipped, named and counted by
        train.py and evaluate.py; an error or a skip naming them in classify.py.
    `ODD_IMAGES`: files that are valid images however odd (CMYK, 16-bit, palette, 1x1, EXIF-rotated,
        animated, a unicode name...): read like any other.
    `LAYOUTS`: data-set folders with something odd in them (an empty label folder, a folder named
        x.jpg, a symlink loop...), and data sets that cannot be trained on.
    `MODEL_FILES`, `LABELBINS`, `MANIFESTS`, `FEATURE_TABLES`: bad files given to --model, --labelbin
        and --dataset.
    `FLAGS`: values out of range for each CLI.
"""

import hashlib
import io
import os
import pickle
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pyimagesearch.data.demo import COMBINATIONS, render

# The good images of a corpus data set: small, so that a training on it takes seconds.
IMAGE_SIZE = 32


def good_image(seed: int, combination: str = "red_dress", size: int = IMAGE_SIZE) -> np.ndarray:
    """A BGR uint8 demo photo of ``combination`` (see `pyimagesearch.data.demo.render`)."""
    return render(*combination.split("_"), np.random.default_rng(seed), size)


def encode(image: np.ndarray, extension: str, *params: int) -> bytes:
    ok, buffer = cv2.imencode(extension, image, list(params))
    assert ok, extension
    return buffer.tobytes()


def pillow_bytes(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_header(width: int, height: int, rows: int | None = None) -> bytes:
    """A greyscale 8-bit PNG whose header says ``width`` x ``height``, all black.

    With ``rows``, only that many rows of pixel data follow (a header that lies about its data);
    without, every row: a real picture of that size, compressed about 1000:1 (a decompression bomb
    for large sizes). Built by hand, so that making it never holds the image in memory.
    """
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte 0, then the row's pixels
    parts = [compressor.compress(row) for _ in range(height if rows is None else rows)]
    parts.append(compressor.flush())
    return b"\x89PNG\r\n\x1a\n" + header + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b"")


def _exif_rotated(seed: int) -> bytes:
    image = Image.fromarray(cv2.cvtColor(cv2.resize(good_image(seed), (48, 32)), cv2.COLOR_BGR2RGB))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display.
    return pillow_bytes(image, "JPEG", exif=exif.tobytes())


def _animated_gif(seed: int) -> bytes:
    frames = [Image.fromarray(cv2.cvtColor(good_image(seed + index), cv2.COLOR_BGR2RGB)) for index in range(3)]
    return pillow_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _rgb(seed: int) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(good_image(seed), cv2.COLOR_BGR2RGB))


def _corrupt_middle(data: bytes, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    damaged = bytearray(data)
    for position in rng.integers(len(data) // 3, len(data) - 4, 20):
        damaged[position] = int(rng.integers(0, 256))
    return bytes(damaged)


def _hostile_pickle(marker: Path) -> bytes:
    class Hostile:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    return pickle.dumps(Hostile())


@dataclass(frozen=True)
class ImageKind:
    """One kind of image file: its file name and how to make its bytes from a seed."""

    name: str
    filename: str
    make: Callable[[int], bytes]
    # What makes it odd or bad, for the report.
    what: str = ""
    # For a damaged file that some decoders read with artefacts and others refuse: either is right.
    maybe_readable: bool = False


BAD_IMAGES: tuple[ImageKind, ...] = (
    ImageKind("zero_byte", "zero_byte.jpg", lambda seed: b"", "an empty file"),
    ImageKind("truncated_jpeg", "truncated.jpg", lambda seed: encode(good_image(seed), ".jpg")[:-200], "a JPEG cut short"),
    ImageKind(
        "truncated_png", "truncated.png", lambda seed: (data := encode(good_image(seed), ".png"))[: len(data) // 2], "a PNG cut in half"
    ),
    ImageKind(
        "truncated_gif", "truncated.gif", lambda seed: (data := pillow_bytes(_rgb(seed), "GIF"))[: len(data) // 2], "a GIF cut in half"
    ),
    ImageKind(
        "truncated_webp", "truncated.webp", lambda seed: (data := encode(good_image(seed), ".webp"))[: len(data) // 2], "a WebP cut in half"
    ),
    ImageKind("truncated_bmp", "truncated.bmp", lambda seed: encode(good_image(seed), ".bmp")[:200], "a BMP cut after its header"),
    ImageKind("truncated_tiff", "truncated.tif", lambda seed: encode(good_image(seed), ".tiff")[:100], "a TIFF cut after its header"),
    ImageKind(
        "html_as_jpeg",
        "page.jpg",
        lambda seed: b"<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1></body></html>\n",
        "an HTML error page saved as .jpg",
    ),
    ImageKind("text_as_png", "notes.png", lambda seed: b"these are not pixels\n" * 10, "a text file named .png"),
    ImageKind("pdf_as_jpeg", "document.jpg", lambda seed: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "a PDF named .jpg"),
    ImageKind("zip_as_png", "archive.png", lambda seed: b"PK\x03\x04" + bytes(26) + b"PK\x05\x06" + bytes(18), "a zip file named .png"),
    ImageKind("random_bytes", "noise.jpg", lambda seed: np.random.default_rng(seed).bytes(4096), "4 KB of random bytes"),
    ImageKind("jpeg_header_only", "header_only.jpg", lambda seed: encode(good_image(seed), ".jpg")[:20], "a JPEG's first 20 bytes"),
    ImageKind("png_signature_only", "signature_only.png", lambda seed: b"\x89PNG\r\n\x1a\n", "a PNG signature alone"),
    ImageKind(
        "header_20000_png",
        "header_20000.png",
        lambda seed: png_with_header(20000, 20000, rows=2),
        "a PNG header saying 20000x20000 over two rows of data",
    ),
    ImageKind(
        "header_1x1_garbage",
        "header_1x1.png",
        lambda seed: png_with_header(1, 1)[:33] + _png_chunk(b"IDAT", b"not zlib") + _png_chunk(b"IEND", b""),
        "a 1x1 PNG header over corrupt data",
    ),
    ImageKind(
        "decompression_bomb", "bomb.png", lambda seed: png_with_header(20000, 20000), "a real 20000x20000 PNG (400 megapixels) in 400 KB"
    ),
    ImageKind(
        "svg_as_png",
        "drawing.png",
        lambda seed: b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        "an SVG named .png",
    ),
)

ODD_IMAGES: tuple[ImageKind, ...] = (
    ImageKind("one_pixel_png", "one_pixel.png", lambda seed: encode(good_image(seed)[:1, :1], ".png"), "a 1x1 PNG"),
    ImageKind("one_pixel_jpeg", "one_pixel.jpg", lambda seed: encode(good_image(seed)[:1, :1], ".jpg"), "a 1x1 JPEG"),
    ImageKind("cmyk_jpeg", "cmyk.jpg", lambda seed: pillow_bytes(_rgb(seed).convert("CMYK"), "JPEG"), "a CMYK JPEG"),
    ImageKind("sixteen_bit_png", "sixteen_bit.png", lambda seed: encode(good_image(seed).astype(np.uint16) * 257, ".png"), "a 16-bit PNG"),
    ImageKind("palette_png", "palette.png", lambda seed: pillow_bytes(_rgb(seed).convert("P"), "PNG"), "a palette PNG"),
    ImageKind("grey_jpeg", "grey.jpg", lambda seed: pillow_bytes(_rgb(seed).convert("L"), "JPEG"), "a greyscale JPEG"),
    ImageKind("grey_png", "grey.png", lambda seed: pillow_bytes(_rgb(seed).convert("L"), "PNG"), "a greyscale PNG"),
    ImageKind("alpha_png", "alpha.png", lambda seed: pillow_bytes(_rgb(seed).convert("RGBA"), "PNG"), "an RGBA PNG"),
    ImageKind("grey_alpha_png", "grey_alpha.png", lambda seed: pillow_bytes(_rgb(seed).convert("LA"), "PNG"), "a greyscale PNG with alpha"),
    ImageKind("exif_rotated", "rotated.jpg", _exif_rotated, "a JPEG with EXIF orientation 6"),
    ImageKind("animated_gif", "animated.gif", _animated_gif, "a 3-frame animated GIF"),
    ImageKind(
        "progressive_jpeg",
        "progressive.jpg",
        lambda seed: encode(good_image(seed), ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        "a progressive JPEG",
    ),
    ImageKind("png_named_jpeg", "really_a_png.jpg", lambda seed: encode(good_image(seed), ".png"), "a PNG named .jpg"),
    ImageKind("upper_case_extension", "SHOUT.JPG", lambda seed: encode(good_image(seed), ".jpg"), "a .JPG extension"),
    ImageKind("unicode_name", "robe_été_日本.jpg", lambda seed: encode(good_image(seed), ".jpg"), "a unicode file name"),
    ImageKind(
        "spaces_in_name",
        "  a photo  with spaces .jpg",
        lambda seed: encode(good_image(seed), ".jpg"),
        "a name with spaces around and inside",
    ),
    ImageKind("one_by_two_thousand", "tall.png", lambda seed: encode(cv2.resize(good_image(seed), (1, 2000)), ".png"), "a 1x2000 PNG"),
    ImageKind("webp", "lossless.webp", lambda seed: encode(good_image(seed), ".webp", cv2.IMWRITE_WEBP_QUALITY, 101), "a lossless WebP"),
    ImageKind("bmp", "plain.bmp", lambda seed: encode(good_image(seed), ".bmp"), "a BMP"),
    ImageKind("tiff", "plain.tiff", lambda seed: encode(good_image(seed), ".tiff"), "a TIFF"),
    ImageKind(
        "damaged_jpeg_body",
        "damaged_body.jpg",
        lambda seed: _corrupt_middle(encode(good_image(seed), ".jpg"), seed),
        "a JPEG with 20 bytes changed in its scan data (read with artefacts, or skipped)",
        maybe_readable=True,
    ),
)


def hash_tree(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (not following symbolic links): file -> SHA-256, folder -> "dir",
    link -> its target. Two equal results mean nothing was added, removed, renamed or changed."""
    root = Path(root)
    if not root.exists() and not root.is_symlink():
        return {}
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    found: dict[str, str] = {}
    for folder, directories, files in os.walk(root):
        for name in directories + files:
            path = Path(folder) / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                found[relative] = f"-> {os.readlink(path)}"
            elif path.is_dir():
                found[relative] = "dir"
            elif path.is_file():
                try:
                    found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError as error:
                    found[relative] = f"unreadable: {error.strerror}"
            else:
                found[relative] = "special"
    return found


def make_dataset(root: Path, per_combination: int = 4, combinations: tuple[str, ...] = COMBINATIONS, seed: int = 0) -> Path:
    """A small labelled folder of good demo photos: ``root/<combination>/NNNN.jpg``."""
    for number, combination in enumerate(combinations):
        folder = root / combination
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_combination):
            image = good_image(seed * 10_000 + number * 100 + index, combination)
            (folder / f"{index:04d}.jpg").write_bytes(encode(image, ".jpg"))
    return root


def write_image(folder: Path, kind: ImageKind, seed: int = 0) -> Path:
    """Write one ``kind`` into ``folder`` under its file name; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / kind.filename
    path.write_bytes(kind.make(seed))
    return path


# Folder layouts: each builder gets a fresh good data set (`make_dataset`) and changes it. ``expect``:
# the exit codes of train.py, evaluate.py and classify.py (given the folder) on it; ``names``: what a
# warning or the error must name.
@dataclass(frozen=True)
class Layout:
    name: str
    build: Callable[[Path], None]
    expect: dict[str, tuple[int, ...]]
    names: str = ""
    what: str = ""


TRAINS = {"train.py": (0,), "evaluate.py": (0,), "classify.py": (0,)}
REFUSED = {"train.py": (2,), "evaluate.py": (2,), "classify.py": (2,)}


def _empty_label_folder(dataset: Path) -> None:
    (dataset / "green_hat").mkdir()


def _folder_of_bad_images(dataset: Path) -> None:
    for kind in BAD_IMAGES[:6]:
        write_image(dataset / "green_hat", kind)


def _folder_named_like_an_image(dataset: Path) -> None:
    (dataset / "red_dress" / "x.jpg").mkdir()


def _symlink_loop(dataset: Path) -> None:
    (dataset / "red_dress" / "loop").symlink_to("..", target_is_directory=True)


def _dangling_symlink(dataset: Path) -> None:
    (dataset / "red_dress" / "gone.jpg").symlink_to("nowhere/missing.jpg")


def _image_at_top(dataset: Path) -> None:
    (dataset / "stray.jpg").write_bytes(encode(good_image(1), ".jpg"))


def _clutter(dataset: Path) -> None:
    (dataset / "red_dress" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
    (dataset / "red_dress" / "._0000.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(80))  # AppleDouble
    (dataset / "red_dress" / "Thumbs.db").write_bytes(bytes(512))
    (dataset / "red_dress" / "notes.txt").write_text("shot on a phone\n")


def _unreadable_file(dataset: Path) -> None:
    path = dataset / "red_dress" / "locked.jpg"
    path.write_bytes(encode(good_image(2), ".jpg"))
    path.chmod(0)


def _every_image_bad(dataset: Path) -> None:
    for path in list(dataset.rglob("*.jpg")):
        path.write_bytes(b"<html>not an image</html>")


def _no_images(dataset: Path) -> None:
    for path in list(dataset.rglob("*.jpg")):
        path.unlink()


def _one_folder(dataset: Path) -> None:
    for folder in list(dataset.iterdir()):
        if folder.name != "red_dress":
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()


LAYOUTS: tuple[Layout, ...] = (
    Layout("empty_label_folder", _empty_label_folder, TRAINS, what="an empty label folder (green_hat/)"),
    Layout(
        "folder_of_only_bad_images",
        _folder_of_bad_images,
        {**TRAINS, "classify.py": (1,)},
        "green_hat",
        "a label folder holding only unreadable files",
    ),
    Layout("folder_named_x_jpg", _folder_named_like_an_image, TRAINS, what="a folder named x.jpg"),
    Layout("symlink_loop", _symlink_loop, TRAINS, what="a symbolic link to its own parent folder"),
    Layout("dangling_symlink", _dangling_symlink, TRAINS, what="a symbolic link .jpg to nothing"),
    Layout("image_outside_label_folders", _image_at_top, TRAINS, "stray.jpg", "an image directly in the data set folder"),
    Layout("clutter", _clutter, TRAINS, what=".DS_Store, AppleDouble ._ files, Thumbs.db, notes.txt"),
    Layout("unreadable_permissions", _unreadable_file, TRAINS, what="an image with mode 000 (readable anyway by root)"),
    Layout("every_image_bad", _every_image_bad, REFUSED, "dataset", "a data set of only unreadable files"),
    Layout("no_images", _no_images, REFUSED, "dataset", "label folders without a single image"),
    Layout("one_label_folder", _one_folder, {**TRAINS, "train.py": (2,)}, "dataset", "a single label folder (nothing to tell apart)"),
)


def write_manifests(folder: Path, images: Path) -> dict[str, tuple[Path, str]]:
    """Bad manifests for train.py --dataset, over the good images of ``images`` (a `make_dataset`
    folder): name -> (manifest, what its error must name)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = sorted(images.rglob("*.jpg"))
    rows = [f"{path},{path.parent.name}" for path in good]
    (images / "red_dress" / "broken.jpg").write_bytes(b"<html>gone</html>")
    cases = {
        "manifest_missing_file": ("path,labels\n" + "\n".join(rows + ["/nowhere/missing.jpg,red_dress"]) + "\n", "missing.jpg"),
        "manifest_row_without_labels": ("path,labels\n" + "\n".join(rows[:-1] + [f"{good[-1]},"]) + "\n", "row"),
        "manifest_without_labels_column": ("path,colour\n" + "\n".join(rows) + "\n", "labels"),
        "manifest_header_only": ("path,labels\n", "manifest"),
        "manifest_with_an_unreadable_image": (
            "path,labels\n" + "\n".join(rows + [f"{images / 'red_dress' / 'broken.jpg'},red_dress"]) + "\n",
            "broken.jpg",
        ),
        "manifest_jsonl_bad_line": (
            "\n".join([f'{{"path": "{path}", "labels": ["{path.parent.name}"]}}' for path in good] + ["{path: not json"]) + "\n",
            "line",
        ),
        "manifest_jsonl_labels_not_a_list": (f'{{"path": "{good[0]}", "labels": 3}}\n', "labels"),
        "manifest_binary_garbage": (None, "manifest"),
    }
    written = {}
    for name, (text, names) in cases.items():
        path = folder / f"{name}.{'jsonl' if 'jsonl' in name else 'csv'}"
        if text is None:
            path.write_bytes(b"\xff\xfe\x00garbage\x00" * 20)
        else:
            path.write_text(text)
        written[name] = (path, names if name != "manifest_header_only" else path.name)
    written["manifest_binary_garbage"] = (written["manifest_binary_garbage"][0], written["manifest_binary_garbage"][0].name)
    return written


def write_feature_tables(folder: Path, seed: int = 0) -> dict[str, tuple[Path, str]]:
    """Bad feature tables for train.py --arch mlp --dataset: name -> (table, what its error must name)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    header = "f0,f1,f2,labels"
    rows = [
        f"{a:.3f},{b:.3f},{c:.3f},{'red_dress' if index % 2 else 'blue_jeans'}" for index, (a, b, c) in enumerate(rng.normal(size=(40, 3)))
    ]

    def table(*replacements: tuple[int, str]) -> str:
        lines = list(rows)
        for index, line in replacements:
            lines[index] = line
        return header + "\n" + "\n".join(lines) + "\n"

    cases = {
        "table_with_nan": (table((5, "nan,0.1,0.2,red_dress")), "row"),
        "table_with_infinity": (table((7, "0.1,inf,0.2,blue_jeans")), "row"),
        "table_with_text_cell": (table((3, "0.1,heavy,0.2,red_dress")), "line"),
        "table_with_ragged_row": (table((9, "0.1,0.2,red_dress")), "line"),
        "table_without_label_column": ("f0,f1,f2,colour\n" + "\n".join(rows) + "\n", "labels"),
        "table_empty": ("", "table_empty"),
        "table_row_without_label": (table((2, "0.1,0.2,0.3,")), "row"),
    }
    written = {}
    for name, (text, names) in cases.items():
        path = folder / f"{name}.csv"
        path.write_text(text)
        written[name] = (path, names)
    pickled = folder / "table_pickled_objects.npy"
    np.save(pickled, np.array([{"f0": 1.0}, {"f0": 2.0}], dtype=object), allow_pickle=True)
    written["table_pickled_objects"] = (pickled, "pickle")
    return written


def write_model_files(folder: Path, model: Path, seed: int = 0, cuts: int = 3) -> dict[str, tuple[Path, str]]:
    """Bad files given as --model, made from a good ``model`` file written by train.py: truncated at
    ``cuts`` random points (seeded), empty, an image, a folder, missing; and ONNX files that are not
    ONNX. name -> (path, what the error must name)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = model.read_bytes()
    rng = np.random.default_rng(seed)
    written = {}
    for number, cut in enumerate(sorted(int(point) for point in rng.integers(1, len(data) - 1, cuts)), start=1):
        path = folder / f"cut_at_{cut}_of_{len(data)}.model"
        path.write_bytes(data[:cut])
        written[f"model_truncated_{number}"] = (path, path.name)
    (folder / "empty.model").write_bytes(b"")
    (folder / "photo.model").write_bytes(encode(good_image(seed), ".jpg"))
    (folder / "folder.model").mkdir(exist_ok=True)
    (folder / "garbage.onnx").write_bytes(np.random.default_rng(seed).bytes(2048))
    onnx = model.with_suffix(".onnx")
    if onnx.is_file():
        onnx_data = onnx.read_bytes()
        (folder / "truncated.onnx").write_bytes(onnx_data[: len(onnx_data) // 2])
        written["onnx_truncated"] = (folder / "truncated.onnx", "truncated.onnx")
    # A good model file beside an export that is not ONNX: classify.py given the model looks for it.
    beside = folder / "beside"
    beside.mkdir(exist_ok=True)
    (beside / "fashion.model").write_bytes(data)
    (beside / "fashion.onnx").write_bytes(b"this is not ONNX\n" * 64)
    written.update(
        {
            "model_empty": (folder / "empty.model", "empty.model"),
            "model_is_a_jpeg": (folder / "photo.model", "photo.model"),
            "model_is_a_folder": (folder / "folder.model", "folder.model"),
            "model_missing": (folder / "missing.model", "missing.model"),
            "onnx_not_onnx": (folder / "garbage.onnx", "garbage.onnx"),
            "model_beside_a_broken_export": (beside / "fashion.model", "fashion.onnx"),
        }
    )
    return written


def write_labelbins(folder: Path, marker: Path, labelbin: Path) -> dict[str, tuple[Path, str]]:
    """Bad files given as --labelbin, from a good ``labelbin``; the hostile pickle would create
    ``marker`` if it were ever unpickled. name -> (path, what the error must name)."""
    from pyimagesearch.data.labels import fit_binarizer
    from pyimagesearch.inference.model_io import save_labelbin

    folder.mkdir(parents=True, exist_ok=True)
    save_labelbin(fit_binarizer([("cat",), ("dog",), ("cat", "small")]), folder / "other_run.pickle")
    (folder / "hostile.pickle").write_bytes(_hostile_pickle(marker))
    data = labelbin.read_bytes()
    (folder / "truncated.pickle").write_bytes(data[: len(data) // 2])
    (folder / "empty.pickle").write_bytes(b"")
    (folder / "dict.pickle").write_bytes(pickle.dumps({"classes_": ["red", "blue"]}))
    (folder / "folder.pickle").mkdir(exist_ok=True)
    (folder / "photo.pickle").write_bytes(encode(good_image(0), ".jpg"))
    return {
        "labelbin_from_another_run": (folder / "other_run.pickle", "--labelbin"),
        "labelbin_hostile_pickle": (folder / "hostile.pickle", "hostile.pickle"),
        "labelbin_truncated": (folder / "truncated.pickle", "truncated.pickle"),
        "labelbin_empty": (folder / "empty.pickle", "empty.pickle"),
        "labelbin_a_pickled_dict": (folder / "dict.pickle", "dict.pickle"),
        "labelbin_is_a_folder": (folder / "folder.pickle", "folder.pickle"),
        "labelbin_is_a_jpeg": (folder / "photo.pickle", "photo.pickle"),
    }


# Values out of range, per CLI: (script, flag, value). Each must be refused naming the flag.
FLAGS: tuple[tuple[str, str, str], ...] = (
    ("train.py", "--epochs", "0"),
    ("train.py", "--epochs", "-3"),
    ("train.py", "--image-size", "0"),
    ("train.py", "--image-size", "4"),
    ("train.py", "--val-split", "0"),
    ("train.py", "--val-split", "1"),
    ("train.py", "--val-split", "1.5"),
    ("train.py", "--lr", "0"),
    ("train.py", "--lr", "nan"),
    ("train.py", "--batch-size", "0"),
    ("train.py", "--batch-size", "many"),
    ("train.py", "--patience", "-1"),
    ("train.py", "--folds", "1"),
    ("train.py", "--duplicate-radius", "-1"),
    ("train.py", "--fine-tune-epochs", "-1"),
    ("train.py", "--alpha", "0"),
    ("train.py", "--arch", "resnet9000"),
    ("classify.py", "--threshold", "1.5"),
    ("classify.py", "--threshold", "-0.1"),
    ("classify.py", "--threshold", "nan"),
    ("classify.py", "--top-k", "0"),
    ("classify.py", "--top-k", "99"),
    ("classify.py", "--unknown-threshold", "1.5"),
    ("classify.py", "--unknown-threshold", "-1"),
    ("evaluate.py", "--threshold", "2"),
    ("evaluate.py", "--top-k", "0"),
    ("evaluate.py", "--gallery", "-1"),
    ("export.py", "--tolerance", "-0.1"),
    ("export.py", "--tolerance", "1.5"),
    ("export.py", "--quantize", "int4"),
    ("search_bing_api.py", "--max-results", "0"),
    ("search_bing_api.py", "--timeout", "0"),
    ("search_bing_api.py", "--timeout", "-1"),
    ("search_bing_api.py", "--workers", "0"),
    ("search_bing_api.py", "--max-bytes", "0"),
    ("search_bing_api.py", "--retries", "-1"),
)


# Lines a CLI may print on stderr besides its own: our warnings, its notes and errors
# (``classify.py: ...``), argparse's usage, and progress bars.
_OWN_LINE_PREFIXES = ("warning: ", "usage: ", " " * 8, "loading images", "downloading")
TEMPORARY_MARK = ".part"


@dataclass
class Run:
    """One CLI run on one bad input, and what it must do.

    Attributes:
        case: The kind of bad input.
        script: The CLI (``train.py``, ...).
        args: Its arguments.
        expect: The exit codes it may end with.
        names: What stderr must name (a file name or a flag), or "" for nothing.
        inputs: Files and folders it reads, which must stay exactly as they were.
        stdout_has: A text its stdout must hold (e.g. ``"1 skipped"``), or "".
    """

    case: str
    script: str
    args: list[str]
    expect: tuple[int, ...]
    names: str = ""
    inputs: list[Path] = field(default_factory=list)
    stdout_has: str = ""


@dataclass
class Verdict:
    """What one `Run` did, and each way it broke a promise (``problems``, empty when it kept them all)."""

    case: str
    script: str
    args: list[str]
    returncode: int
    seconds: float
    traceback: bool
    damaged: list[str]
    changed_inputs: list[str]
    foreign_lines: list[str]
    problems: list[str]
    error_line: str
    warning_lines: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _complete(path: Path) -> bool:
    """Whether a file a CLI wrote is a whole one of its kind (read back), not half of one."""
    import json
    import zipfile

    if path.stat().st_size == 0:
        return False
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg", ".png"):
        return cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED) is not None
    if suffix == ".json":
        try:
            json.loads(path.read_text())
        except ValueError:
            return False
        return True
    if suffix in (".model", ".keras"):
        return zipfile.is_zipfile(path)
    if suffix == ".pickle":
        from pyimagesearch.inference.labelbin import unpickle_labelbin

        try:
            unpickle_labelbin(path)
        except ValueError:
            return False
    return True


def judge(run: Run, completed, seconds: float, before_inputs: dict, after_inputs: dict, before_outputs: dict, cwd: Path) -> Verdict:
    """Check a finished run against its promises (see the module docstring)."""
    stderr = completed.stderr
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    own = (f"{run.script}: ",)
    error_lines = [line for line in lines if line.startswith(f"{run.script}: error:")]
    foreign = [line for line in lines if not line.startswith(_OWN_LINE_PREFIXES + own)]
    problems = []
    traceback = "Traceback (most recent call last)" in stderr
    if traceback:
        problems.append("traceback")
    if completed.returncode not in run.expect:
        problems.append(f"exit code {completed.returncode}, expected {' or '.join(map(str, run.expect))}")
    # Exit code 2 (and any other failure) ends on one error line; 1 may instead mean "done, but some
    # files were skipped", said by warnings.
    if completed.returncode not in (0, 1) or (completed.returncode == 1 and error_lines):
        if len(error_lines) != 1 or lines[-1] != error_lines[0]:
            problems.append("not a one-line error at the end of stderr")
    if run.names and run.names not in stderr:
        problems.append(f"stderr does not name {run.names!r}")
    if run.stdout_has and run.stdout_has not in completed.stdout:
        problems.append(f"stdout lacks {run.stdout_has!r}")
    changed = sorted(name for name in set(before_inputs) | set(after_inputs) if before_inputs.get(name) != after_inputs.get(name))
    if changed:
        problems.append(f"input changed: {', '.join(changed[:5])}")
    damaged = []
    after_outputs = hash_tree(cwd)
    for name, digest in before_outputs.items():
        path = cwd / name
        if after_outputs.get(name) == digest:
            continue
        if name not in after_outputs:
            damaged.append(f"{name}: removed")
        elif completed.returncode != 0 and digest != "dir":
            damaged.append(f"{name}: changed by a failed run")
        elif path.is_file() and not _complete(path):
            damaged.append(f"{name}: incomplete")
    damaged += [f"{name}: temporary file left" for name in after_outputs if TEMPORARY_MARK in Path(name).name]
    if damaged:
        problems.append(f"outputs damaged: {', '.join(damaged[:5])}")
    return Verdict(
        run.case,
        run.script,
        [str(arg) for arg in run.args],
        completed.returncode,
        round(seconds, 2),
        traceback,
        damaged,
        changed,
        foreign,
        problems,
        error_lines[-1] if error_lines else "",
        [line for line in lines if line.startswith("warning: ")],
    )


def hash_inputs(paths: list[Path]) -> dict[str, str]:
    """`hash_tree` of each input, keyed by its path."""
    digests = {}
    for path in paths:
        for name, digest in hash_tree(path).items():
            digests[f"{path}/{name}"] = digest
    return digests


def seed_outputs(cwd: Path, trained: Path) -> None:
    """Fill ``cwd`` with the outputs of an earlier run, at the places a CLI run there writes: the
    model, export, labelbin, plot and metrics of ``trained``, an annotated copy and an evaluation."""
    import shutil

    cwd.mkdir(parents=True, exist_ok=True)
    for name in ("fashion.model", "fashion.onnx", "mlb.pickle", "plot.png", "fashion.metrics.csv"):
        if (trained / name).is_file():
            shutil.copyfile(trained / name, cwd / name)
    (cwd / "output").mkdir(exist_ok=True)
    (cwd / "output" / "earlier.jpg").write_bytes(encode(good_image(99), ".jpg"))
    (cwd / "evaluation").mkdir(exist_ok=True)
    (cwd / "evaluation" / "report.json").write_text('{"images": 0}\n')


def run_and_judge(
    run: Run, cwd: Path, trained: Path, command: Callable[[str, list[str]], list[str]], env: dict[str, str], timeout: float
) -> Verdict:
    """Run ``run`` as a real subprocess in a fresh ``cwd`` seeded with earlier outputs, and judge it.

    Args:
        command: Turns a script and its arguments into the command line to start.
    """
    import subprocess
    import time

    seed_outputs(cwd, trained)
    before_outputs = hash_tree(cwd)
    before_inputs = hash_inputs(run.inputs)
    start = time.perf_counter()
    completed = subprocess.run(
        command(run.script, [str(arg) for arg in run.args]), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
    seconds = time.perf_counter() - start
    return judge(run, completed, seconds, before_inputs, hash_inputs(run.inputs), before_outputs, cwd)


# train.py's flags for a corpus training: tiny and quick (SmallerVGGNet: one phase, no weights to
# load), no export unless export is the point. Reading the data does not depend on the network.
TRAINING_FLAGS = ("--arch", "smallervggnet", "--epochs", "1", "--image-size", str(IMAGE_SIZE), "--no-export", "--seed", "0")


def campaign_runs(
    root: Path,
    trained: Path,
    groups: tuple[str, ...] = ("images", "layouts", "models", "labelbins", "manifests", "tables", "flags"),
    training: bool = True,
) -> list[Run]:
    """Build every case under ``root`` and list its runs through each CLI it reaches.

    Args:
        root: An empty folder for the cases' files.
        trained: A folder with ``fashion.model``, ``fashion.onnx`` and ``mlb.pickle`` of one train.py run
            on the corpus' labels (black, blue, dress, jeans, red, shirt).
        groups: The kinds of case to build.
        training: Include the runs of train.py on image folders (seconds each).
    """
    model, labelbin = trained / "fashion.model", trained / "mlb.pickle"
    classifier = ["--model", model, "--labelbin", labelbin]
    good = write_image(root / "good", ImageKind("good", "good.jpg", lambda seed: encode(good_image(seed), ".jpg")))
    base = make_dataset(root / "base", per_combination=3)
    runs: list[Run] = []
    if "images" in groups:
        for bad, kinds in ((True, BAD_IMAGES), (False, ODD_IMAGES)):
            for number, kind in enumerate(kinds):
                dataset = make_dataset(root / kind.name / "dataset", per_combination=3, seed=number + 1)
                path = write_image(dataset / "red_dress", kind, seed=number)
                names = kind.filename if bad else ""
                if training:
                    runs.append(
                        Run(
                            kind.name,
                            "train.py",
                            ["--dataset", dataset, *TRAINING_FLAGS],
                            (0,),
                            names,
                            [dataset],
                            "loaded, " if kind.maybe_readable else f"loaded, {int(bad)} skipped",
                        )
                    )
                runs.append(
                    Run(
                        kind.name,
                        "evaluate.py",
                        [*classifier, "--dataset", dataset],
                        (0,),
                        names,
                        [dataset, trained],
                        "unreadable: 1 files" if bad else "",
                    )
                )
                runs.append(
                    Run(
                        kind.name,
                        "classify.py",
                        [*classifier, "--image", path],
                        (2,) if bad else (0, 2) if kind.maybe_readable else (0,),
                        names,
                        [dataset, trained],
                    )
                )
    if "layouts" in groups:
        for number, layout in enumerate(LAYOUTS):
            dataset = make_dataset(root / layout.name / "dataset", per_combination=3, seed=100 + number)
            layout.build(dataset)
            names = layout.names
            if training:
                runs.append(
                    Run(layout.name, "train.py", ["--dataset", dataset, *TRAINING_FLAGS], layout.expect["train.py"], names, [dataset])
                )
            runs.append(
                Run(
                    layout.name,
                    "evaluate.py",
                    [*classifier, "--dataset", dataset],
                    layout.expect["evaluate.py"],
                    names if layout.expect["evaluate.py"] != (0,) else "",
                    [dataset, trained],
                )
            )
            runs.append(
                Run(
                    layout.name,
                    "classify.py",
                    [*classifier, "--image", dataset, "--no-annotate"],
                    layout.expect["classify.py"],
                    names if layout.expect["classify.py"] != (0,) else "",
                    [dataset, trained],
                )
            )
    if "models" in groups:
        for name, (path, names) in write_model_files(root / "models", model).items():
            inputs = [path.parent, good.parent]
            beside = name == "model_beside_a_broken_export"
            runs.append(
                Run(
                    name,
                    "classify.py",
                    ["--model", path, "--labelbin", labelbin, "--image", good],
                    (0, 2) if beside else (2,),
                    names,
                    [*inputs, labelbin],
                )
            )
            runs.append(
                Run(
                    name,
                    "evaluate.py",
                    ["--model", path, "--labelbin", labelbin, "--dataset", base],
                    (0, 2) if beside else (2,),
                    names,
                    [*inputs, labelbin, base],
                )
            )
            runs.append(
                Run(
                    name,
                    "export.py",
                    ["--model", path, "--output", "exported.onnx"],
                    (0,) if beside else (2,),
                    "" if beside else names,
                    inputs,
                )
            )
    if "labelbins" in groups:
        for name, (path, names) in write_labelbins(root / "labelbins", root / "labelbins" / "PWNED", labelbin).items():
            inputs = [path.parent, trained, good.parent]
            runs.append(Run(name, "classify.py", ["--model", model, "--labelbin", path, "--image", good], (2,), names, inputs))
            runs.append(Run(name, "evaluate.py", ["--model", model, "--labelbin", path, "--dataset", base], (2,), names, [*inputs, base]))
    if "manifests" in groups:
        images = make_dataset(root / "manifest_images", per_combination=3)
        for name, (path, names) in write_manifests(root / "manifests", images).items():
            expect = (0, 2) if name == "manifest_with_an_unreadable_image" else (2,)
            runs.append(Run(name, "train.py", ["--dataset", path, *TRAINING_FLAGS], expect, names, [path.parent, images]))
    if "tables" in groups:
        for name, (path, names) in write_feature_tables(root / "tables").items():
            runs.append(
                Run(name, "train.py", ["--dataset", path, "--arch", "mlp", "--epochs", "1", "--seed", "0"], (2,), names, [path.parent])
            )
    if "flags" in groups:
        urls = root / "urls.txt"
        urls.write_text("http://127.0.0.1:9/never-fetched.jpg\n")
        common = {
            "train.py": ["--dataset", base, *TRAINING_FLAGS],
            "classify.py": [*classifier, "--image", good],
            "evaluate.py": [*classifier, "--dataset", base],
            "export.py": ["--model", model, "--output", "exported.onnx", "--quantize", "int8", "--dataset", base],
            "search_bing_api.py": ["--urls", urls, "--output", "downloaded/red_dress"],
        }
        for script, flag, value in FLAGS:
            args = list(common[script])
            if flag in args:  # the flag under test replaces the common one
                index = args.index(flag)
                del args[index : index + 2]
            runs.append(Run(f"flag {script} {flag} {value}", script, [*args, flag, value], (2,), flag, [base, trained, good.parent, urls]))
    return runs
