"""The bench's clocks and its measurements of a training step: model-only, plain loop, input-only, full path."""

import itertools
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from transfer_lab.compose import compose_config
from transfer_lab.data.datamodule import HalfDataModule
from transfer_lab.data.loader import BatchLoader
from transfer_lab.run.build import build_trainer, divergence_stop, make_trainer
from transfer_lab.run.loggers import finish_logger, make_logger
from transfer_lab.spec import RunSpec, spec_from_config

AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def spec_for(k: int, overrides: list[str]) -> RunSpec:
    """k = 0: base network of half B; k > 0: a frozen transfer into half B (the weights do not matter for speed)."""
    preset = ["+exp=base", "half=B"] if k == 0 else ["+exp=transfer", "source=A", "target=B", f"k={k}", "freeze=true"]
    return spec_from_config(compose_config([*preset, *overrides]))


class Clock:
    """Of the steps between start() and stop(): wall time (synchronised with the device), the main
    thread's CPU time, and on a GPU the device time between CUDA events around each step."""

    def __init__(self, device: torch.device):
        self.device, self.events = device, []

    def start(self) -> None:
        self.wall, self.cpu = synchronized_time(self.device), time.thread_time()

    def step_begins(self) -> None:
        if self.device.type == "cuda":
            self.events.append([cuda_event()])

    def step_ends(self) -> None:
        if self.device.type == "cuda":
            self.events[-1].append(cuda_event())

    def stop(self, steps: int) -> dict:
        cpu = time.thread_time() - self.cpu  # before the final sync, which may spin the CPU
        wall = synchronized_time(self.device) - self.wall
        device = sum(begin.elapsed_time(end) for begin, end in self.events) / steps if self.events else None
        return {"seconds": wall, "host_ms_per_step": cpu * 1e3 / steps, "device_ms_per_step": device}


def cuda_event() -> torch.cuda.Event:
    event = torch.cuda.Event(enable_timing=True)
    event.record()
    return event


class StepTimer(pl.Callback):
    """A Clock over the training batches after the first `warmup`, and the epochs they ran in."""

    def __init__(self, warmup: int, steps: int):
        self.warmup, self.steps, self.batches, self.clock, self.timing = warmup, steps, 0, None, None
        self.epochs = 0

    def on_train_epoch_start(self, trainer, module):
        self.epochs += 1

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if self.clock is not None:
            self.clock.step_begins()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.batches += 1
        if self.batches == self.warmup:
            self.clock = Clock(module.device)
            self.clock.start()
        elif self.batches > self.warmup:
            self.clock.step_ends()
            if self.batches == self.warmup + self.steps:
                self.timing = self.clock.stop(self.steps)


def synchronized_time(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def model_only(module, spec: RunSpec, images, labels, device, warmup: int, steps: int) -> dict:
    """Clock of forward + backward + SGD step on one batch already on the device and cropped."""
    module.train()
    crops = module.augment(images, train=True)
    return loop(module, spec, itertools.repeat((crops, labels)), device, warmup, steps, as_a_run=False)


def plain_loop(module, spec: RunSpec, half, batch_size: int, threads: int, device, warmup: int, steps: int) -> dict:
    """Clock of a plain PyTorch loop around the same step: the run's loader, crops and lr schedule, no Lightning."""
    return loop(module, spec, training_batches(half, batch_size, threads, device), device, warmup, steps, as_a_run=True)


def training_batches(half, batch_size: int, threads: int, device):
    """The half's training batches as the run's loader serves them, epoch after epoch (a small half has fewer
    batches than the bench's steps)."""
    loader = BatchLoader(half.train_images, half.train_labels, batch_size, shuffle=True, threads=threads, device=device)
    return itertools.chain.from_iterable(itertools.repeat(loader))


def loop(module, spec: RunSpec, batches, device, warmup: int, steps: int, as_a_run: bool) -> dict:
    """Clock of `steps` training steps after `warmup` on `batches`, outside Lightning (the loss checked as a
    run's). as_a_run: each batch cropped and the lr schedule stepped, as in a run; else batches of crops."""
    module.train()
    solver = module.solver(module.parameter_groups(), total_steps=warmup + steps)
    optimizer, schedule = (
        (solver["optimizer"], solver["lr_scheduler"]["scheduler"]) if isinstance(solver, dict) else (solver, None)
    )
    dtype = AUTOCAST.get(str(spec.trainer.get("precision")))
    divergence = divergence_stop(spec)
    clock = Clock(device)
    for number, (images, labels) in enumerate(itertools.islice(batches, warmup + steps), start=1):
        if number == warmup + 1:
            clock.start()
        if number > warmup:
            clock.step_begins()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = module.training_loss(module.augment(images, train=True) if as_a_run else images, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if as_a_run and schedule is not None:
            schedule.step()
        divergence.add(loss, number)
        if number > warmup:
            clock.step_ends()
    timing = clock.stop(steps)
    divergence.check(warmup + steps)
    return timing


def input_only(module, half, batch_size: int, threads: int, device, warmup: int, steps: int) -> dict:
    """Clock of training batches read from the dataset, moved to the device and augmented, no network."""
    clock = Clock(device)
    epochs = training_batches(half, batch_size, threads, device)
    for batch, (images, _) in enumerate(itertools.islice(epochs, warmup + steps), start=1):
        module.augment(images, train=True)
        if batch == warmup:
            clock.start()
    return clock.stop(steps)


def full_path(
    module, spec: RunSpec, half, batch_size: int, threads: int, warmup: int, steps: int, run_dir: Path | None = None
) -> dict:
    """Clock of training steps inside the Lightning loop, fed from the dataset (the cache for ImageNet),
    with whether the optimizer step was fused and the number of epoch boundaries they crossed.
    run_dir: the Trainer of a run (run/build.make_trainer: its logger and checkpoints written there,
    on a GPU of its own if there is one); None: no logger, no checkpoints. No validation either way."""
    timer = StepTimer(warmup, steps)
    schedule = {"max_steps": warmup + steps, "max_epochs": -1}
    if run_dir is None:
        trainer = build_trainer(
            spec,
            [timer],
            **schedule,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            logger=False,
            enable_checkpointing=False,
        )
    else:
        gpu = 0 if torch.cuda.is_available() else None
        trainer = make_trainer(
            spec,
            run_dir,
            make_logger(spec, run_dir),
            gpu,
            {**schedule, "val_check_interval": None},
            callbacks=[timer],
            limit_val_batches=0,
        )
    try:
        trainer.fit(module, datamodule=HalfDataModule(half, batch_size, threads))
    finally:
        finish_logger(trainer.logger)
    # Read from the optimizer that ran: after fit the module is back on the CPU, where fused_step() says no.
    fused = bool(trainer.optimizers[0].defaults.get("fused"))
    return {**timer.timing, "fused_optimizer": fused, "epoch_boundaries_crossed": timer.epochs - 1}
