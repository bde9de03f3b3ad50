"""Frozen transfers from one base network, trained side by side in one process.

AnB (or BnB) at k = 1..7 share the base's frozen layers: per batch, one forward pass computes the
shared layers' outputs once and each network trains its own layers from its layer k (for k >= 6
from fc6's output before dropout, as dropout is each network's own). The networks see the same
batches, crops and mirrors (RunSpec.data_seed) and each draws its init and dropout from its own
seed (RunSpec.rng_seed), so on the CPU each ends with the same weights, bit for bit, as when
trained alone (tests/run/test_fused.py). Each network keeps its own run folder and result.json;
the checkpoints and logs of the group live in the first network's folder, under fused_k<ks>/.
The networks run eager (model.compile compiles a network trained alone); their shared crops are
compiled as a network's are (data/augment.py).

A network whose loss becomes NaN or infinite fails alone: each network's loss is checked as a run's
(run/divergence.py: every trainer.log_every_n_steps steps), a diverged one gets its failed.json and
leaves the group, and the others train on; their losses and gradients never mix with its own, so
they end as they would have without it (tests/run/test_fused.py). Only when every network has
diverged does the group fail.
"""

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from transfer_lab.devices import job_device, on_gpu
from transfer_lab.errors import TrainingDiverged
from transfer_lab.io import write_json
from transfer_lab.layout import RESULT_FILE
from transfer_lab.models.module import (
    TransferModule,
    carry_step_count,
    log_training_loss,
    optimize,
    rng_state,
    set_rng_state,
)
from transfer_lab.run.build import build_module, make_trainer
from transfer_lab.run.divergence import StopOnDivergence
from transfer_lab.run.fit import datamodule, result_record, train_and_validate, training_data
from transfer_lab.run.loggers import logger_location, make_logger
from transfer_lab.run.record import record_failure
from transfer_lab.run.store import BaseNetwork
from transfer_lab.spec import RunSpec

# Layers whose outputs the networks share: conv1-5 and fc6 up to its dropout, the first random draw.
SHARED_LAYERS = 6


def group_folder(members: list[tuple[RunSpec, Path]]) -> Path:
    """Where the group's checkpoints and logs live: a re-run of the same group resumes from them."""
    return members[0][1] / ("fused_k" + "-".join(str(spec.k) for spec, _ in members))


def fit_fused(members: list[tuple[RunSpec, Path]], base: BaseNetwork) -> list[dict]:
    """Train the frozen transfers `members` ((spec, run folder), specs differing only in k) from `base`
    on one device; writes and returns each one's result record."""
    with job_device() as gpu:
        return train_fused(members, base, gpu)


def fused_module(
    members: list[tuple[RunSpec, Path]], num_classes: int, mean_image, base: BaseNetwork | None, on_gpu: bool
) -> "FusedFrozen":
    """The networks of `members` (spec, run folder), each built as it is alone, side by side (the bench's too)."""
    modules, streams = [], []
    for spec, _ in members:
        pl.seed_everything(spec.rng_seed, workers=True, verbose=False)  # as fit() seeds a network trained alone
        modules.append(build_module(spec, num_classes, mean_image, base, on_gpu=on_gpu))
        streams.append(rng_state())  # what the network's dropout draws from, as when trained alone
    return FusedFrozen(modules, streams, members)


def train_fused(members: list[tuple[RunSpec, Path]], base: BaseNetwork, gpu: int | None) -> list[dict]:
    lead, folder = members[0][0], group_folder(members)
    prepared = [training_data(spec, run_dir) for spec, run_dir in members]  # split.json in every run folder
    half, half_fields, schedule = prepared[0]
    fused = fused_module(members, len(half.classes), base.mean_image, base, on_gpu(gpu))
    logger = make_logger(lead, folder)
    logged_at = logger_location(logger)
    trainer = make_trainer(lead, folder, logger, gpu, schedule)
    name = "+".join(spec.network for spec, _ in members)
    started_at, seconds = train_and_validate(name, trainer, fused, datamodule(lead, half), folder, logger)
    results = []
    for i, ((spec, run_dir), module) in enumerate(zip(members, fused.members)):
        if i in fused.diverged:
            continue
        result = result_record(
            spec, module, trainer, half_fields, started_at, seconds / len(members), base, run_dir, gpu
        )
        result |= logged_at
        result["trained_with"] = [other.network for other, _ in members if other is not spec]
        if fused.diverged:
            result["diverged_alongside"] = [members[j][0].network for j in sorted(fused.diverged)]
        write_json(run_dir / RESULT_FILE, result)
        results.append(result)
    return results


class FusedFrozen(pl.LightningModule):
    """Networks (TransferModules with frozen layers 1..k, copied from one base) trained side by side:
    the shared layers run once per batch, then each network's own layers and loss. The loss trained
    is their sum: the networks share no trainable parameter, so each gets its own loss's gradient."""

    def __init__(self, members: list[TransferModule], streams: list, runs: list[tuple[RunSpec, Path]]):
        super().__init__()
        self.automatic_optimization = False  # training_step steps the optimizer: optimize()
        self.members = nn.ModuleList(members)
        self.runs = runs  # (spec, run folder) of each network: where a diverged one's failed.json goes
        self.diverged: set[int] = set()  # networks that left the group
        self.checks: list[StopOnDivergence] = []  # each network's divergence check (on_fit_start)
        self.streams = streams  # per network: its RNG state, swapped in while it draws dropout
        self.starts = [min(member.frozen_layers, SHARED_LAYERS) for member in members]
        self.trunk = max(range(len(members)), key=lambda i: members[i].frozen_layers)  # holds every shared layer
        self.validated_at_step = -1

    def shared(self, images: torch.Tensor) -> list[torch.Tensor]:
        """[input, signal of layer 1, ..., of layer max(starts)]: the frozen layers, computed once."""
        x = images.contiguous(memory_format=self.members[0].memory_format)
        outputs, layers = [x], list(self.members[self.trunk].net.children())
        with torch.no_grad():
            for layer in layers[: max(self.starts)]:
                outputs.append(layer.signal(outputs[-1]))  # layers 1-5 have no noise; fc6's is each network's
        return outputs

    def member_logits(self, i: int, outputs: list[torch.Tensor]) -> torch.Tensor:
        set_rng_state(self.streams[i])
        logits = self.members[i].layers(outputs[self.starts[i]], self.starts[i])
        self.streams[i] = rng_state()
        return logits

    @property
    def augment(self):
        """The input pipeline: the networks see the same crops (their data_seed is the same)."""
        return self.members[0].augment

    def active(self) -> list[int]:
        """The networks still training (not diverged)."""
        return [i for i in range(len(self.members)) if i not in self.diverged]

    def member_losses(self, crops: torch.Tensor, labels: torch.Tensor) -> dict[int, torch.Tensor]:
        outputs = self.shared(crops)
        return {i: F.cross_entropy(self.member_logits(i, outputs), labels) for i in self.active()}

    def training_loss(self, crops: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss a training step minimises (the bench's model-only step): the sum of the networks' losses,
        so each network's gradient is its own loss's."""
        return torch.stack(list(self.member_losses(crops, labels).values())).sum()

    def on_fit_start(self):
        # The Trainer's divergence check would stop the group on any network's loss: each network gets its own.
        stop = next(callback for callback in self.trainer.callbacks if isinstance(callback, StopOnDivergence))
        self.trainer.callbacks.remove(stop)
        self.checks = [stop.fresh() for _ in self.members]

    def training_step(self, batch, batch_idx):
        images, labels = batch
        self.step_losses = self.member_losses(self.augment(images, train=True), labels)
        losses = torch.stack(list(self.step_losses.values()))
        log_training_loss(self, losses.mean())
        total = losses.sum()
        optimize(self, total)
        return total

    def on_train_batch_end(self, outputs, batch, batch_idx):
        for i, loss in self.step_losses.items():
            self.check(i, lambda stop, loss=loss: stop.add(loss, self.trainer.global_step))

    def on_train_end(self):
        for i in self.active():
            self.check(i, lambda stop: stop.check(self.trainer.global_step))

    def check(self, i: int, read) -> None:
        """Network i's divergence check (`read`: buffer its loss, or read the buffer back); a diverged
        network gets its failed.json and leaves the group, unless it was the last one training."""
        try:
            read(self.checks[i])
        except TrainingDiverged as err:
            spec, run_dir = self.runs[i]
            record_failure(spec, run_dir, err)
            self.diverged.add(i)
            if not self.active():
                raise

    def validation_step(self, batch, batch_idx):
        images, labels = batch
        outputs = self.shared(self.augment(images, train=False))
        for i in self.active():
            self.members[i].score(self.member_logits(i, outputs), labels)

    def on_validation_epoch_end(self):
        step = None if self.trainer.sanity_checking else self.trainer.global_step
        for member in map(self.members.__getitem__, self.active()):
            top1, _ = member.close_validation(step)
            self.log(f"val/top1_k{member.frozen_layers}", top1)
        if step is not None:
            self.validated_at_step = step

    def configure_optimizers(self):
        return self.solver(self.parameter_groups())

    def parameter_groups(self) -> list[dict]:
        # One optimizer over every network's parameter groups: SGD updates each parameter on its own, so
        # a step is each network's own step, and Lightning counts one step per batch.
        return [group for member in self.members for group in member.parameter_groups()]

    def solver(self, groups: list[dict], total_steps: int | None = None):
        """The recipe's optimizer and schedule (TransferModule.solver) over `groups`, by default over the run."""
        return self.members[0].solver(groups, total_steps or self.trainer.estimated_stepping_batches)

    def on_save_checkpoint(self, checkpoint):
        members = [{} for _ in self.members]
        for member, saved in zip(self.members, members):
            member.on_save_checkpoint(saved)
        checkpoint.update(
            members=members,
            streams=self.streams,
            validated_at_step=self.validated_at_step,
            diverged=sorted(self.diverged),
        )

    def on_load_checkpoint(self, checkpoint):
        carry_step_count(checkpoint)
        for member, saved in zip(self.members, checkpoint["members"]):
            member.on_load_checkpoint(saved)
        self.streams = checkpoint["streams"]
        self.validated_at_step = checkpoint["validated_at_step"]
        self.diverged = set(checkpoint.get("diverged", []))
