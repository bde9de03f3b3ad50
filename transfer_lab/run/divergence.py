"""A diverged run stops: a NaN or infinite training loss raises TrainingDiverged within N steps.

Each step's loss is copied into a small buffer on the device (no sync); every N steps
(trainer.log_every_n_steps) the buffer is read back once, so the check costs one device sync per N
steps. Lightning's EarlyStopping(check_finite=True) does not do this: it checks only when a
validation or an epoch ends, and stops the run as if it had completed (result.json, exit 0).
"""

import copy
import math

import pytorch_lightning as pl
import torch

from transfer_lab.errors import TrainingDiverged


class StopOnDivergence(pl.Callback):
    """Raises TrainingDiverged at the first check that finds a non-finite training loss.

    lr and precision: the run's settings, to name the fixes to try (a lower lr; fp32 unless already).
    """

    def __init__(self, every_n_steps: int, lr: float | None = None, precision: str | None = None):
        self.every_n_steps = max(1, every_n_steps)
        self.suggestions = [
            f"a lower lr (recipe.optimizer.lr={lr / 10:g}, now {lr:g})" if lr else "a lower recipe.optimizer.lr"
        ]
        if precision is not None and not str(precision).startswith("32"):
            self.suggestions.append(f"trainer.precision=32-true (now {precision})")
        self.losses: torch.Tensor | None = None
        self.pending = 0  # losses in the buffer not yet checked
        self.last_finite: tuple[int, float] | None = None  # (step, loss) of the last finite loss checked

    def fresh(self) -> "StopOnDivergence":
        """A check with these settings and nothing buffered (one per network of a fused group). Not a deepcopy:
        Lightning gives a callback its module's log methods, and a deepcopy would copy the module."""
        check = copy.copy(self)
        check.losses, check.pending, check.last_finite = None, 0, None
        return check

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self.add(loss, trainer.global_step)

    def add(self, loss: torch.Tensor, step: int) -> None:
        """Buffer the loss of `step` (no sync); check the buffer when it holds N losses."""
        if self.losses is None or self.losses.device != loss.device:
            self.losses = torch.empty(self.every_n_steps, device=loss.device)
        self.losses[self.pending] = loss.detach()
        self.pending += 1
        if self.pending == self.every_n_steps:
            self.check(step)

    def on_train_end(self, trainer, pl_module) -> None:
        self.check(trainer.global_step)  # the last steps of a run shorter than a multiple of N

    def check(self, step: int) -> None:
        """Read the buffered losses (steps step-pending+1 .. step) back from the device: one sync."""
        values, first = self.losses[: self.pending].tolist() if self.pending else [], step - self.pending + 1
        self.pending = 0
        for at, value in enumerate(values, start=first):
            if not math.isfinite(value):
                raise TrainingDiverged(at, value, self.last_finite, step, self.suggestions)
            self.last_finite = (at, value)
