"""The LightningDataModule of one half: uint8 batches of its train and val images, on the trainer's device."""

import pytorch_lightning as pl
import torch

from transfer_lab.data.images import HalfImages
from transfer_lab.data.loader import BatchLoader


class HalfDataModule(pl.LightningDataModule):
    """order_seed: seeds the training order (RunSpec.data_seed); None: torch's global RNG."""

    def __init__(self, half: HalfImages, batch_size: int, loader_threads: int = 1, order_seed: int | None = None):
        super().__init__()
        self.half = half
        self.batch_size = batch_size
        self.loader_threads = loader_threads
        self.order_seed = order_seed

    def _loader(self, images, labels, train: bool) -> BatchLoader:
        device = self.trainer.strategy.root_device if self.trainer is not None else "cpu"
        generator = torch.Generator().manual_seed(self.order_seed) if train and self.order_seed is not None else None
        return BatchLoader(images, labels, self.batch_size, shuffle=train, threads=self.loader_threads, device=device, generator=generator)

    def train_dataloader(self) -> BatchLoader:
        return self._loader(self.half.train_images, self.half.train_labels, train=True)

    def val_dataloader(self) -> BatchLoader:
        return self._loader(self.half.val_images, self.half.val_labels, train=False)
