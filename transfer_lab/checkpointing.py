"""Checkpoints that survive kill -9 and preemption.

Every checkpoint is written to a temporary name and renamed (AtomicCheckpointIO), so last.ckpt is
always a complete file. ModelCheckpoint keeps last.ckpt current every epoch and, if the recipe
asks, every N steps; on SIGTERM (what SLURM sends before preemption) Lightning stops after the
current step and SaveOnSigterm writes last.ckpt once more. A re-run of the same command resumes
from it (train.py).
"""

import sys
from pathlib import Path

from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from transfer_lab.io import save_torch


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        save_torch(Path(path), checkpoint)


class SaveOnSigterm(Callback):
    def __init__(self, path: Path):
        self.path = path

    def on_exception(self, trainer, pl_module, exception) -> None:
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path)
            print(f"SIGTERM: saved {self.path} at step {trainer.global_step}; re-run the same command to resume", file=sys.stderr)


def checkpoint_callbacks(folder: Path, every_n_steps: int | None) -> list[Callback]:
    """last.ckpt in `folder`: every epoch, every `every_n_steps` steps if set, and on SIGTERM."""
    callbacks = [ModelCheckpoint(dirpath=folder, save_last=True, save_top_k=0, every_n_epochs=1)]
    if every_n_steps:
        callbacks.append(ModelCheckpoint(dirpath=folder, save_last=True, save_top_k=0, every_n_train_steps=every_n_steps))
    return [*callbacks, SaveOnSigterm(folder / "last.ckpt")]
