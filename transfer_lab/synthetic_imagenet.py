"""`python -m transfer_lab.synthetic_imagenet DIR --classes 10 --per-class 20`: an ImageNet-shaped
tree of real JPEG files, so that prepare, the benchmark and the tests run without ImageNet.

Wnids are random n######## ids (their sorted order is the class order, as in ImageNet); images
vary in size and aspect. Like natural images, classes share colours and textures: a class is told
only by the shape and fill pattern of its figure (6 shapes x 4 fills; classes past 24 draw 2, 3, ...
figures), not by any colour, so a network has to learn features to separate them. `--layout kaggle`
writes ILSVRC/Data/CLS-LOC/ with a flat val/ and LOC_val_solution.csv. `--quirks` adds the odd files
real ImageNet has to class 0's training images: a CMYK JPEG, a grayscale JPEG, a PNG named .JPEG, and
one file no decoder can read.
"""

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

from transfer_lab.data.imagenet import KAGGLE_DIR, VAL_SOLUTION

# Class = (shape, fill) of the figure; colours, texture, position, size and rotation are drawn per
# image from pools every class shares, so no single colour or pixel statistic tells a class.
SHAPES = ("disc", "square", "triangle", "cross", "ring", "diamond")
FILLS = ("solid", "horizontal stripes", "vertical stripes", "checks")
PALETTE = np.array(
    [
        [230, 60, 50],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [250, 190, 190],
        [0, 128, 128],
        [170, 110, 40],
        [128, 128, 128],
    ],
    dtype=np.float32,
)


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside `shape` at coordinates (u, v) in units of the figure's radius, centred at 0."""
    radius = np.hypot(u, v)
    return {
        "disc": radius <= 1,
        "square": np.maximum(abs(u), abs(v)) <= 0.8,
        "triangle": (v <= 0.8) & (abs(u) <= (v + 0.8) * 0.6),
        "cross": ((abs(u) <= 0.3) & (abs(v) <= 0.95)) | ((abs(v) <= 0.3) & (abs(u) <= 0.95)),
        "ring": (radius <= 1) & (radius >= 0.55),
        "diamond": abs(u) + abs(v) <= 1,
    }[shape]


def fill_mask(fill: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Where a figure shows its first colour (elsewhere its second), in the figure's own frame."""
    return {
        "solid": np.ones_like(u, dtype=bool),
        "horizontal stripes": np.sin(v * 7) > 0,
        "vertical stripes": np.sin(u * 7) > 0,
        "checks": np.sin(u * 6) * np.sin(v * 6) > 0,
    }[fill]


def synthetic_image(rng: np.random.Generator, label: int, size: int) -> Image.Image:
    """A textured background and 1 + label // 24 figures of the class's shape and fill (24 pairs)."""
    height, width = (int(size * f) for f in rng.uniform(0.75, 1.25, 2))
    shape, fill = SHAPES[label % len(SHAPES)], FILLS[(label // len(SHAPES)) % len(FILLS)]
    background, first, second = PALETTE[rng.choice(len(PALETTE), 3, replace=False)]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(3, 12)
    texture = np.sin((x * np.cos(angle) + y * np.sin(angle)) / period)[..., None] * 30
    image = background + texture
    copies = 1 + label // (len(SHAPES) * len(FILLS))
    for _ in range(copies):
        radius = min(height, width) * rng.uniform(0.22, 0.38) / np.sqrt(copies)
        cy, cx = rng.uniform(radius, height - radius), rng.uniform(radius, width - radius)
        turn = rng.uniform(-0.35, 0.35)  # up to 20 degrees: the fill's stripes stay horizontal or vertical
        u = ((x - cx) * np.cos(turn) + (y - cy) * np.sin(turn)) / radius
        v = (-(x - cx) * np.sin(turn) + (y - cy) * np.cos(turn)) / radius
        inside = shape_mask(shape, u, v)
        image[inside] = np.where(fill_mask(fill, u, v)[inside][:, None], first, second)
    image += rng.normal(0, 20, image.shape)
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def write_tree(
    root: str | Path,
    classes: int = 10,
    per_class: int = 20,
    val_per_class: int = 5,
    size: int = 96,
    layout: str = "folders",
    quirks: bool = False,
    seed: int = 0,
) -> list[str]:
    """Write the tree under `root`; return its wnids in class order."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    wnids = sorted(f"n{n:08d}" for n in rng.choice(10**8, classes, replace=False))
    base = root if layout == "folders" else root / KAGGLE_DIR
    solution = []
    for label, wnid in enumerate(wnids):
        (base / "train" / wnid).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            synthetic_image(rng, label, size).save(base / "train" / wnid / f"{wnid}_{i}.JPEG", quality=90)
        for i in range(val_per_class):
            image_id = f"ILSVRC2012_val_{label * val_per_class + i + 1:08d}"
            folder = base / "val" / (wnid if layout == "folders" else "")
            folder.mkdir(parents=True, exist_ok=True)
            synthetic_image(rng, label, size).save(folder / f"{image_id}.JPEG", quality=90)
            solution.append((image_id, f"{wnid} 0 0 {size // 2} {size // 2}"))
    if layout == "kaggle":
        with open(root / VAL_SOLUTION, "w", newline="") as f:
            csv.writer(f).writerows([("ImageId", "PredictionString"), *sorted(solution)])
    if quirks:
        write_quirks(base / "train" / wnids[0], synthetic_image(rng, 0, size))
    return wnids


def write_quirks(folder: Path, image: Image.Image) -> None:
    image.convert("CMYK").save(folder / "quirk_cmyk.JPEG", "JPEG")
    image.convert("L").save(folder / "quirk_gray.JPEG", "JPEG")
    image.save(folder / "quirk_png.JPEG", "PNG")
    (folder / "quirk_unreadable.JPEG").write_bytes(b"\xff\xd8 this is not an image")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m transfer_lab.synthetic_imagenet", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("root", help="folder to write (data.root for prepare)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=20, help="training images per class")
    parser.add_argument("--val-per-class", type=int, default=5)
    parser.add_argument("--size", type=int, default=96, help="typical side in pixels (each image varies by +-25%%)")
    parser.add_argument("--layout", choices=("folders", "kaggle"), default="folders")
    parser.add_argument(
        "--quirks", action="store_true", help="add a CMYK, a grayscale, a PNG-named-.JPEG and an unreadable file"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    wnids = write_tree(
        args.root, args.classes, args.per_class, args.val_per_class, args.size, args.layout, args.quirks, args.seed
    )
    print(
        f"{args.root}: {len(wnids)} classes x ({args.per_class} train + {args.val_per_class} val) JPEGs, "
        f"{args.layout} layout"
    )


if __name__ == "__main__":
    main()
