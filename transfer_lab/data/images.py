"""In-memory (or memory-mapped) uint8 images of a whole dataset, and the half of it a run trains on."""

from dataclasses import dataclass

import numpy as np
import torch

from transfer_lab.splits import relabel


@dataclass
class ClassImages:
    """All classes of a dataset. Images are uint8, N x C x H x W; labels are original class indices."""

    name: str
    class_names: list[str]
    natural: np.ndarray
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray

    def half(self, classes: tuple[int, ...]) -> "HalfImages":
        """The images of `classes` only, relabelled 0..n-1 in ascending original class index."""
        train = np.isin(self.train_labels, classes)
        val = np.isin(self.val_labels, classes)
        return HalfImages(
            classes=classes,
            train_images=self.train_images[train],
            train_labels=relabel(self.train_labels[train], classes),
            val_images=self.val_images[val],
            val_labels=relabel(self.val_labels[val], classes),
        )


@dataclass
class HalfImages:
    classes: tuple[int, ...]
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray

    def mean_image(self) -> torch.Tensor:
        """Per-pixel mean of the training images (C x H x W, float32): the paper's mean image."""
        return torch.from_numpy(self.train_images.mean(axis=0, dtype=np.float64).astype(np.float32))


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
