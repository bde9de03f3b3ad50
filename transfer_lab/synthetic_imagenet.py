"""`python -m transfer_lab.synthetic_imagenet DIR --classes 10 --per-class 20`: an ImageNet-shaped
tree of real JPEG files, so that prepare, the benchmark and the tests run without ImageNet.

Wnids are random n######## ids (their sorted order is the class order, as in ImageNet); images
vary in size and aspect, and each class has its own colour and stripe pattern, so a network can
learn something. `--layout kaggle` writes ILSVRC/Data/CLS-LOC/ with a flat val/ and
LOC_val_solution.csv. `--quirks` adds the odd files real ImageNet has to class 0's training
images: a CMYK JPEG, a grayscale JPEG, a PNG named .JPEG, and one file no decoder can read.
"""

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

from transfer_lab.data.imagenet import KAGGLE_DIR, VAL_SOLUTION

QUIRKS = ("cmyk", "gray", "png", "unreadable")


def synthetic_image(rng: np.random.Generator, label: int, size: int) -> Image.Image:
    height, width = (int(size * f) for f in rng.uniform(0.75, 1.25, 2))
    colour = np.array([(label * 67) % 256, (label * 151) % 256, (label * 29 + 80) % 256], dtype=np.float32)
    stripes = np.sin(np.arange(width) * (0.2 + 0.1 * (label % 7)))[None, :, None] * 40
    noise = rng.normal(0, 25, (height, width, 3))
    return Image.fromarray(np.clip(colour + stripes + noise, 0, 255).astype(np.uint8))


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
    parser = argparse.ArgumentParser(prog="python -m transfer_lab.synthetic_imagenet", description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="folder to write (data.root for prepare)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=20, help="training images per class")
    parser.add_argument("--val-per-class", type=int, default=5)
    parser.add_argument("--size", type=int, default=96, help="typical side in pixels (each image varies by +-25%%)")
    parser.add_argument("--layout", choices=("folders", "kaggle"), default="folders")
    parser.add_argument("--quirks", action="store_true", help="add a CMYK, a grayscale, a PNG-named-.JPEG and an unreadable file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    wnids = write_tree(args.root, args.classes, args.per_class, args.val_per_class, args.size, args.layout, args.quirks, args.seed)
    print(f"{args.root}: {len(wnids)} classes x ({args.per_class} train + {args.val_per_class} val) JPEGs, {args.layout} layout")


if __name__ == "__main__":
    main()
