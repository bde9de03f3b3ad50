"""In-memory (or memory-mapped) uint8 images of a whole dataset, and the half of it a run trains on."""

from dataclasses import dataclass

import numpy as np
import torch

from transfer_lab.data.splits import relabel


@dataclass
class ClassImages:
    """All classes of a dataset. Images are uint8, N x C x H x W; labels are original class indices.

    train_class_sums (K x C x H x W): per-class sums of the training pixels, so that any half's mean
    image costs no pass over its images. Datasets too large for memory store them (the ImageNet
    cache); for the others they are computed here.
    """

    name: str
    class_names: list[str]
    natural: np.ndarray
    train_images: "np.ndarray | Rows"
    train_labels: np.ndarray
    val_images: "np.ndarray | Rows"
    val_labels: np.ndarray
    train_class_sums: np.ndarray | None = None

    def __post_init__(self):
        if self.train_class_sums is None:
            self.train_class_sums = class_sums(self.train_images, self.train_labels, len(self.class_names))

    def half(self, classes: tuple[int, ...]) -> "HalfImages":
        """The images of `classes` only (a view, nothing copied), relabelled 0..n-1 in ascending original
        class index."""
        train = np.flatnonzero(np.isin(self.train_labels, classes))
        val = np.flatnonzero(np.isin(self.val_labels, classes))
        return HalfImages(
            classes=classes,
            train_images=all_rows(self.train_images).subset(train),
            train_labels=relabel(self.train_labels[train], classes),
            val_images=all_rows(self.val_images).subset(val),
            val_labels=relabel(self.val_labels[val], classes),
            train_class_sums=self.train_class_sums,
        )


@dataclass
class HalfImages:
    classes: tuple[int, ...]
    train_images: "Rows"
    train_labels: np.ndarray
    val_images: "Rows"
    val_labels: np.ndarray
    train_class_sums: np.ndarray  # of the whole dataset, indexed by original class

    def mean_image(self) -> torch.Tensor:
        """Per-pixel mean of the training images (C x H x W, float32): the paper's mean image."""
        total = self.train_class_sums[list(self.classes)].sum(axis=0, dtype=np.float64)
        return torch.from_numpy((total / len(self.train_labels)).astype(np.float32))


class Rows:
    """Rows `rows` (ascending) of an N x ... image array, read only when taken.

    A half of a memory-mapped dataset is a Rows, not a copy; ascending rows keep sorted batch
    indices sorted, so reads from a memory map stay in file order.
    """

    def __init__(self, array: np.ndarray, rows: np.ndarray):
        self.array, self.rows = array, np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.array.shape[1:])

    def __getitem__(self, indices) -> np.ndarray:
        return self.take(indices)

    def subset(self, indices: np.ndarray) -> "Rows":
        """Rows `indices` (ascending) of these, still unread."""
        return Rows(self.array, self.rows[indices])

    def take(self, indices: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The images at `indices`, read into `out` if given (one copy; the GIL is released meanwhile)."""
        # mode="clip": the rows are valid by construction, and "raise" would gather via a temporary buffer.
        return np.asarray(np.take(self.array, self.rows[indices], axis=0, out=out, mode="clip"))


def class_sums(images: "np.ndarray | Rows", labels: np.ndarray, classes: int) -> np.ndarray:
    """Per-class pixel sums (classes x C x H x W, int64) of images labelled 0..classes-1."""
    return np.stack([images[labels == c].sum(axis=0, dtype=np.int64) for c in range(classes)])


def all_rows(images: "np.ndarray | Rows") -> Rows:
    """`images` as a Rows: an array as all of its rows, a Rows as it is (a Rows never wraps another)."""
    return images if isinstance(images, Rows) else Rows(images, np.arange(len(images)))
