"""The LightningDataModule of one half: uint8 batches of its train and val images, on the trainer's device."""

import pytorch_lightning as pl

from transfer_lab.data.images import HalfImages
from transfer_lab.data.loader import BatchLoader


class HalfDataModule(pl.LightningDataModule):
    def __init__(self, half: HalfImages, batch_size: int, loader_threads: int = 1):
        super().__init__()
        self.half = half
        self.batch_size = batch_size
        self.loader_threads = loader_threads

    def _loader(self, images, labels, train: bool) -> BatchLoader:
        device = self.trainer.strategy.root_device if self.trainer is not None else "cpu"
        return BatchLoader(images, labels, self.batch_size, shuffle=train, threads=self.loader_threads, device=device)

    def train_dataloader(self) -> BatchLoader:
        return self._loader(self.half.train_images, self.half.train_labels, train=True)

    def val_dataloader(self) -> BatchLoader:
        return self._loader(self.half.val_images, self.half.val_labels, train=False)
