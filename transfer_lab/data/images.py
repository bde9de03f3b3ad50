"""In-memory (or memory-mapped) uint8 images of a whole dataset, and the half of it a run trains on."""

from dataclasses import dataclass

import numpy as np
import torch

from transfer_lab.splits import relabel


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
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    train_class_sums: np.ndarray | None = None

    def __post_init__(self):
        if self.train_class_sums is None:
            self.train_class_sums = np.stack(
                [self.train_images[self.train_labels == c].sum(axis=0, dtype=np.int64) for c in range(len(self.class_names))]
            )

    def half(self, classes: tuple[int, ...]) -> "HalfImages":
        """The images of `classes` only (a view, nothing copied), relabelled 0..n-1 in ascending original class index."""
        train = np.flatnonzero(np.isin(self.train_labels, classes))
        val = np.flatnonzero(np.isin(self.val_labels, classes))
        return HalfImages(
            classes=classes,
            train_images=Rows(self.train_images, train),
            train_labels=relabel(self.train_labels[train], classes),
            val_images=Rows(self.val_images, val),
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
    """Rows `rows` (ascending) of an N x ... image array, read only when indexed.

    A half of a memory-mapped dataset is a Rows, not a copy; ascending rows keep sorted batch
    indices sorted, so reads from a memory map stay in file order.
    """

    def __init__(self, array, rows: np.ndarray):
        self.array, self.rows = array, np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, indices) -> np.ndarray:
        return self.array[self.rows[indices]]


class BatchIndexed(torch.utils.data.Dataset):
    """Returns whole batches: dataset[list_of_indices] -> (uint8 images, int64 labels).

    Used with a BatchSampler and batch_size=None, so a batch is one fancy-index into the arrays
    instead of a Python loop over single images.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, indices):
        indices = np.sort(np.asarray(indices))  # sorted reads are kinder to memory-mapped arrays
        return torch.from_numpy(np.ascontiguousarray(self.images[indices])), torch.from_numpy(
            self.labels[indices].astype(np.int64)
        )
