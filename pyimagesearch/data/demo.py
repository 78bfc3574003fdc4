"""A synthetic clothing data set: dresses, jeans and shirts in black, blue and red.

Mirrors the tutorial's folders (black_jeans, blue_dress, blue_jeans, blue_shirt, red_dress,
red_shirt), so black_dress and black_shirt never appear in training, and writes the tutorial's
seven example photos, ``example_07.jpg`` being a black dress: the left-out combination.

    python -m pyimagesearch.data.demo --dataset dataset --examples examples

Each folder is generated only if it does not exist yet: a user's files are never touched.
"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

# The tutorial's six folders; black only on jeans.
COMBINATIONS = ("black_jeans", "blue_dress", "blue_jeans", "blue_shirt", "red_dress", "red_shirt")
# The tutorial's example photos, in its order.
EXAMPLES = ("red_dress", "blue_dress", "red_shirt", "blue_shirt", "blue_jeans", "black_jeans", "black_dress")
IMAGES_PER_COMBINATION = 80
IMAGE_SIZE = 128
SEED = 42


def _garment_colour(colour: str, rng: np.random.Generator) -> np.ndarray:
    """A BGR shade of ``colour`` sampled in HSV, so each colour spans many real-world shades."""
    if colour == "black":
        hsv = (rng.integers(0, 180), rng.integers(0, 90), rng.integers(12, 60))
    elif colour == "blue":
        hsv = (rng.integers(100, 126), rng.integers(120, 256), rng.integers(90, 235))
    else:
        hsv = ((rng.integers(172, 188)) % 180, rng.integers(150, 256), rng.integers(110, 240))
    pixel = np.uint8([[hsv]])
    return cv2.cvtColor(pixel, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _outline(garment: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Polygons of a garment in a unit box (x right, y down), with random proportions."""
    jitter = lambda scale: rng.uniform(-scale, scale)  # noqa: E731
    if garment == "dress":
        waist = 0.42 + jitter(0.06)
        hem = rng.uniform(0.05, 0.25)
        shoulder = 0.3 + jitter(0.05)
        body = np.array(
            [
                [shoulder, 0.05],
                [1 - shoulder, 0.05],
                [0.64 + jitter(0.03), waist],
                [1 - hem, 0.97],
                [hem, 0.97],
                [0.36 + jitter(0.03), waist],
            ]
        )
        straps = [
            np.array([[shoulder, 0.05], [shoulder + 0.05, 0.05], [shoulder + 0.08, -0.05], [shoulder + 0.03, -0.05]]),
            np.array([[1 - shoulder, 0.05], [1 - shoulder - 0.05, 0.05], [1 - shoulder - 0.08, -0.05], [1 - shoulder - 0.03, -0.05]]),
        ]
        return [body, *straps]
    if garment == "jeans":
        gap = 0.5 + jitter(0.02)
        flare = rng.uniform(-0.04, 0.06)
        left = np.array([[0.22, 0.12], [gap, 0.12], [gap - 0.03, 0.32], [0.5 - 0.06 + flare, 0.98], [0.2 - flare, 0.98]])
        right = np.array([[gap, 0.12], [0.78, 0.12], [0.8 + flare, 0.98], [0.5 + 0.06 - flare, 0.98], [gap + 0.03, 0.32]])
        waistband = np.array([[0.21, 0.04], [0.79, 0.04], [0.79, 0.13], [0.21, 0.13]])
        return [left, right, waistband]
    sleeve = 0.3 + jitter(0.08)
    torso = np.array([[0.28, 0.12], [0.42, 0.08], [0.5, 0.2], [0.58, 0.08], [0.72, 0.12], [0.72, 0.95], [0.28, 0.95]])
    sleeves = [
        np.array([[0.28, 0.12], [0.28, 0.38], [0.28 - sleeve * 0.5, 0.12 + sleeve], [0.05, 0.12 + sleeve - 0.12]]),
        np.array([[0.72, 0.12], [0.72, 0.38], [0.72 + sleeve * 0.5, 0.12 + sleeve], [0.95, 0.12 + sleeve - 0.12]]),
    ]
    return [torso, *sleeves]


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A gradient between two random mostly light colours, as product and street photos have."""
    start, end = rng.uniform(110, 255, size=3), rng.uniform(110, 255, size=3)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size] / size
    ramp = np.cos(angle) * xs + np.sin(angle) * ys
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    return (start * (1 - ramp[..., None]) + end * ramp[..., None]).astype(np.float32)


def render(colour: str, garment: str, rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """One BGR uint8 image of a ``colour`` ``garment`` with random placement, shading and noise."""
    image = _background(size, rng)
    scale = rng.uniform(0.55, 0.9) * size
    centre = rng.uniform(0.4, 0.6, size=2) * size
    angle = np.deg2rad(rng.uniform(-15, 15))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mask = np.zeros((size, size), dtype=np.uint8)
    for polygon in _outline(garment, rng):
        points = ((polygon - 0.5) * scale) @ rotation.T + centre
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    # Light falls from one side; folds are darker strokes across the cloth.
    ys, xs = np.mgrid[0:size, 0:size] / size
    light_angle = rng.uniform(0, 2 * np.pi)
    shading = 0.75 + 0.35 * (np.cos(light_angle) * (xs - 0.5) + np.sin(light_angle) * (ys - 0.5) + 0.5)
    folds = np.ones((size, size), dtype=np.float32)
    for _ in range(rng.integers(2, 6)):
        x0, x1 = rng.uniform(0, size, size=2)
        cv2.line(folds, (int(x0), 0), (int(x1), size), float(rng.uniform(0.7, 0.9)), int(rng.integers(1, 4)))
    folds = cv2.GaussianBlur(folds, (0, 0), 1.5)
    cloth = _garment_colour(colour, rng)[None, None, :] * (shading * folds)[..., None]
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 0.8)[..., None]
    image = image * (1 - alpha) + cloth * alpha
    image += rng.normal(0, rng.uniform(2, 10), size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def generate(
    dataset_dir: str | os.PathLike | None,
    examples_dir: str | os.PathLike | None = None,
    images_per_combination: int = IMAGES_PER_COMBINATION,
    size: int = IMAGE_SIZE,
    seed: int = SEED,
) -> None:
    """Write the demo data set (``<color>_<type>/NNNN.jpg``) and/or the seven example photos.

    Each folder is written whole under a temporary name and then renamed into place, so an
    interrupted run leaves nothing half-made. Deterministic for a given seed.

    Args:
        dataset_dir: Folder to create for the data set, or ``None`` for none.
        examples_dir: Folder to create for ``example_01.jpg`` ... ``example_07.jpg``, or ``None``.
        images_per_combination: Images in each of the six folders. Defaults to 80.
        size: Side of each training image in pixels (examples are twice as large). Defaults to 128.
        seed: Random seed. Defaults to 42.

    Raises:
        ValueError: If a target folder already exists (a user's files are never overwritten),
            or for a non-positive count or a size under 16.
    """
    if images_per_combination < 1 or size < 16:
        raise ValueError(f"Need at least 1 image per combination and 16 pixels. Received: {images_per_combination}, {size}")
    for target in (dataset_dir, examples_dir):
        if target is not None and Path(target).exists():
            raise ValueError(f"{target} already exists; the demo data is only written where nothing is.")

    def write_folder(target: Path, files: dict[str, np.ndarray]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            for relative, image in files.items():
                (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(staging / relative), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def rng_for(*keys: int) -> np.random.Generator:
        return np.random.default_rng([seed, *keys])

    if dataset_dir is not None:
        write_folder(
            Path(dataset_dir),
            {
                f"{combination}/{index:04d}.jpg": render(*combination.split("_"), rng_for(0, number, index), size)
                for number, combination in enumerate(COMBINATIONS)
                for index in range(images_per_combination)
            },
        )
    if examples_dir is not None:
        write_folder(
            Path(examples_dir),
            {
                f"example_{number:02d}.jpg": render(*combination.split("_"), rng_for(1, number), size * 2)
                for number, combination in enumerate(EXAMPLES, start=1)
            },
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate the synthetic clothing demo data; existing folders are left as they are.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--dataset", help="folder to create for the data set")
    parser.add_argument("--examples", help="folder to create for the seven example photos")
    parser.add_argument("--per-combination", type=int, default=IMAGES_PER_COMBINATION, help="images per folder")
    parser.add_argument("--size", type=int, default=IMAGE_SIZE, help="side of each image in pixels")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    if args.dataset is None and args.examples is None:
        parser.error("nothing to do: pass --dataset DIR and/or --examples DIR")
    targets = {}
    for name, folder in (("dataset", args.dataset), ("examples", args.examples)):
        if folder is not None and Path(folder).exists():
            print(f"{folder} exists: left as it is")
        elif folder is not None:
            targets[name] = folder
    try:
        generate(targets.get("dataset"), targets.get("examples"), args.per_combination, args.size, args.seed)
    except ValueError as error:
        parser.exit(2, f"demo_data: error: {error}\n")
    if "dataset" in targets:
        print(f"wrote {len(COMBINATIONS) * args.per_combination} images to {targets['dataset']}")
    if "examples" in targets:
        print(f"wrote {len(EXAMPLES)} example photos to {targets['examples']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
