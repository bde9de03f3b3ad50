"""The LightningDataModule of one half: uint8 batches of its train and val images."""

import pytorch_lightning as pl
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from transfer_lab.data.images import BatchIndexed, HalfImages


class HalfDataModule(pl.LightningDataModule):
    def __init__(self, half: HalfImages, batch_size: int, num_workers: int = 0):
        super().__init__()
        self.half = half
        self.batch_size = batch_size
        self.num_workers = num_workers

    def _loader(self, images, labels, train: bool) -> DataLoader:
        dataset = BatchIndexed(images, labels)
        order = RandomSampler(dataset) if train else SequentialSampler(dataset)
        batches = BatchSampler(order, batch_size=min(self.batch_size, len(dataset)), drop_last=train)
        return DataLoader(
            dataset,
            sampler=batches,
            batch_size=None,
            num_workers=self.num_workers,
            pin_memory=self.num_workers > 0,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.half.train_images, self.half.train_labels, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.half.val_images, self.half.val_labels, train=False)
