"""Checkpoints that survive kill -9 and preemption.

Every checkpoint is written to a temporary name and renamed (AtomicCheckpointIO), so last.ckpt is
always a complete file. ModelCheckpoint keeps last.ckpt current every epoch and, if the recipe
asks, every N steps; when a fit stops on an exception (SIGTERM, what SLURM sends before
preemption, raises one after the current step) it writes last.ckpt once more. A re-run of the
same command resumes from it (run/fit.py).
"""

from pathlib import Path

from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO

from transfer_lab.io import save_torch


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        save_torch(Path(path), checkpoint)


def checkpoint_callbacks(folder: Path, every_n_steps: int | None) -> list[Callback]:
    """last.ckpt in `folder`: every epoch, every `every_n_steps` steps if set, and when a fit stops on an exception."""
    # All three write last.ckpt, the file a re-run resumes from: filename="last" for the one saved on an
    # exception, no version counter so that the two schedules overwrite one file instead of adding last-v1.ckpt.
    last = {"dirpath": folder, "save_last": True, "save_top_k": 0, "enable_version_counter": False}
    callbacks = [ModelCheckpoint(**last, filename="last", every_n_epochs=1, save_on_exception=True)]
    if every_n_steps:
        callbacks.append(ModelCheckpoint(**last, every_n_train_steps=every_n_steps))
    return callbacks
