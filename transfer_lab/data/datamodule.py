"""The LightningDataModule of one half: uint8 batches of its train and val images, on the trainer's device."""

import pytorch_lightning as pl
import torch

from transfer_lab.data.images import HalfImages
from transfer_lab.data.loader import BatchLoader


class HalfDataModule(pl.LightningDataModule):
    """order_seed: seeds the training order (RunSpec.data_seed); None: torch's global RNG.

    Its state in a checkpoint is the training order's position (BatchLoader.position): a run resumed
    from any checkpoint, mid-epoch too, goes on with the batches the uninterrupted run would have seen.
    Here, not as the loader's own state_dict, because Lightning restores a loader's state only when
    resuming mid-epoch, and the generator must be restored at an epoch's end as well."""

    def __init__(self, half: HalfImages, batch_size: int, loader_threads: int = 1, order_seed: int | None = None):
        super().__init__()
        self.half = half
        self.batch_size = batch_size
        self.loader_threads = loader_threads
        self.order_seed = order_seed
        self.train_loader: BatchLoader | None = None
        self.resumed_position: dict | None = None

    def _loader(self, images, labels, train: bool) -> BatchLoader:
        device = self.trainer.strategy.root_device if self.trainer is not None else "cpu"
        generator = torch.Generator().manual_seed(self.order_seed) if train and self.order_seed is not None else None
        return BatchLoader(
            images,
            labels,
            self.batch_size,
            shuffle=train,
            threads=self.loader_threads,
            device=device,
            generator=generator,
        )

    def train_dataloader(self) -> BatchLoader:
        self.train_loader = self._loader(self.half.train_images, self.half.train_labels, train=True)
        if self.resumed_position is not None:
            self.train_loader.resume_at(self.resumed_position)
            self.resumed_position = None
        return self.train_loader

    def val_dataloader(self) -> BatchLoader:
        return self._loader(self.half.val_images, self.half.val_labels, train=False)

    def state_dict(self) -> dict:
        if self.train_loader is None or self.train_loader.generator is None:
            return {}
        position = self.train_loader.position()
        if self.trainer is not None and position["served"] >= self.trainer.num_training_batches:
            position["served"] = len(self.train_loader)  # the epoch ended there (trainer.limit_train_batches)
        return {"train_order": position}

    def load_state_dict(self, state_dict: dict) -> None:
        self.resumed_position = state_dict.get("train_order")
