"""Checkpoints that survive kill -9, SIGTERM and preemption, and resume exactly.

Every checkpoint is written to a temporary name and renamed (AtomicCheckpointIO), so last.ckpt is
always a complete file. ModelCheckpoint keeps last.ckpt current every epoch and, if the recipe asks,
every N steps. A signal to stop (SIGTERM: `kill`, `scancel`; the cluster's preemption signal, see
StopOnSignal) ends the fit after the step it arrived in, with last.ckpt written at that step's end.
Checkpoints are only written between steps: with the training order's position and the random
streams they carry (data/datamodule.py, models/module.py), a re-run of the same command resumes from
last.ckpt (run/fit.py) and ends with the weights of the uninterrupted run, bit for bit on the CPU.
"""

import os
import signal
import threading
from pathlib import Path

from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from transfer_lab.io import save_torch

# The signal submitit asks SLURM to send before a job's time limit (and that a preemption sends): its
# handler requeues the job (conf/hydra/launcher/slurm.yaml).
PREEMPT_SIGNAL = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        save_torch(Path(path), checkpoint)


class Interrupted(SIGTERMException):
    """The fit stopped on a signal after a step, last.ckpt written. requeue: the handler the preemption
    signal had before the fit (submitit's: requeues the SLURM job and exits), None for SIGTERM."""

    def __init__(self, step: int, requeue=None):
        super().__init__(step)
        self.step, self.requeue = step, requeue


class StopOnSignal(Callback):
    """Stops the fit at the end of the step in which SIGTERM (Lightning notes it) or PREEMPT_SIGNAL arrived,
    after writing last.ckpt there: a checkpoint taken inside a signal handler (Lightning's SLURM
    auto-requeue) or on the exception a handler raises (submitit's) holds a step half done."""

    def __init__(self, last: Path):
        self.last = last
        self.preempted = False
        self.requeue = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if threading.current_thread() is threading.main_thread():  # the only thread that may set handlers
            self.requeue = signal.getsignal(PREEMPT_SIGNAL)
            signal.signal(PREEMPT_SIGNAL, self.note_preemption)

    def note_preemption(self, signum, frame) -> None:
        self.preempted = True

    def on_train_batch_end(self, trainer, *args) -> None:
        if self.preempted or trainer.received_sigterm:
            trainer.save_checkpoint(self.last)
            requeue = self.requeue if self.preempted and callable(self.requeue) else None
            raise Interrupted(trainer.global_step, requeue)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if signal.getsignal(PREEMPT_SIGNAL) == self.note_preemption:
            signal.signal(PREEMPT_SIGNAL, self.requeue if self.requeue is not None else signal.SIG_DFL)


def checkpoint_callbacks(folder: Path, every_n_steps: int | None) -> list[Callback]:
    """last.ckpt in `folder`: every epoch, every `every_n_steps` steps if set, and when a signal stops the fit."""
    # All write last.ckpt, the file a re-run resumes from: filename="last" and no version counter, so
    # that the two schedules overwrite one file instead of adding last-v1.ckpt.
    last = {"dirpath": folder, "save_last": True, "save_top_k": 0, "enable_version_counter": False}
    callbacks = [ModelCheckpoint(**last, filename="last", every_n_epochs=1), StopOnSignal(folder / "last.ckpt")]
    if every_n_steps:
        callbacks.append(ModelCheckpoint(**last, every_n_train_steps=every_n_steps))
    return callbacks
