"""Build AnimalFashion-20, the embedded default dataset, from its two MIT-licensed sources.

    pip download --no-deps animal-mnist==0.4 -d /tmp/am      # PyPI, MIT (never imported: it pulls tensorflow)
    apt-get install dataset-fashion-mnist                     # Debian, MIT
    python scripts/build_animalfashion.py --animal-mnist /tmp/am/animal_mnist-0.4-py3-none-any.whl

Writes transfer_lab/data/animalfashion20.npz (~7 MB). The output is a pure function of the two
inputs: classes 0-9 are the Animal-MNIST silhouettes (natural) with exact duplicate images removed,
classes 10-19 the first 1000 training images per Fashion-MNIST class (man-made), and a fixed,
stratified held-out validation set of VAL_PER_CLASS images per class.
"""

import argparse
import gzip
import hashlib
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

ANIMAL_CLASSES = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]
FASHION_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
FASHION_PER_CLASS = 1000
VAL_PER_CLASS = 200
VAL_SEED = 2014
ANIMAL_MEMBERS = {
    "data": "animal_mnist/data/Animal_MNIST/animal_data_version_3.gz",
    "label": "animal_mnist/data/Animal_MNIST/animal_label_version_3.gz",
}
OUT = Path(__file__).resolve().parents[1] / "transfer_lab" / "data" / "animalfashion20.npz"


def read_animal_member(source: Path, member: str) -> np.ndarray:
    """A gzip-pickled array from the animal-mnist wheel (or its unpacked folder)."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            raw = wheel.read(member)
    else:
        raw = (source / member).read_bytes()
    return np.asarray(pickle.load(gzip.GzipFile(fileobj=io.BytesIO(raw))))


def load_animals(source: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_animal_member(source, ANIMAL_MEMBERS["data"]).astype(np.uint8)
    labels = read_animal_member(source, ANIMAL_MEMBERS["label"]).astype(np.int64)
    # 284 images appear twice (always within one class): keep the first copy of each.
    _, first = np.unique(images.reshape(len(images), -1), axis=0, return_index=True)
    keep = np.sort(first)
    print(f"animal-mnist: {len(images)} images, {len(images) - len(keep)} exact duplicates removed")
    return images[keep], labels[keep]


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as file:
        raw = file.read()
    ndim = raw[3]
    shape = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(folder / "train-images-idx3-ubyte.gz")
    labels = read_idx(folder / "train-labels-idx1-ubyte.gz").astype(np.int64)
    keep = np.concatenate([np.flatnonzero(labels == c)[:FASHION_PER_CLASS] for c in range(10)])
    keep.sort()
    return images[keep], labels[keep]


def stratified_val_mask(labels: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(VAL_SEED)
    is_val = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        is_val[rng.choice(members, VAL_PER_CLASS, replace=False)] = True
    return is_val


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--animal-mnist", type=Path, required=True, help="animal_mnist-0.4 wheel or unpacked folder")
    parser.add_argument("--fashion-mnist", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    animal_x, animal_y = load_animals(args.animal_mnist)
    fashion_x, fashion_y = load_fashion(args.fashion_mnist)
    images = np.concatenate([animal_x, fashion_x])
    labels = np.concatenate([animal_y, fashion_y + 10])
    is_val = stratified_val_mask(labels)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        train_images=images[~is_val],
        train_labels=labels[~is_val].astype(np.int16),
        val_images=images[is_val],
        val_labels=labels[is_val].astype(np.int16),
        class_names=np.array(ANIMAL_CLASSES + FASHION_CLASSES),
        natural=np.array([True] * 10 + [False] * 10),
    )
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:16]
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, sha256 {digest})")
    print("train per class:", np.bincount(labels[~is_val]).tolist())


if __name__ == "__main__":
    main()
