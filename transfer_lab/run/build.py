"""The network, Lightning module and Trainer of a RunSpec: what fit() trains and the bench times."""

from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from pytorch_lightning.callbacks import ProgressBar
from pytorch_lightning.plugins.environments import SLURMEnvironment

from transfer_lab.data.augment import DeviceAugment
from transfer_lab.devices import jobs_side_by_side, on_gpu
from transfer_lab.layout import checkpoint_dir, last_checkpoint
from transfer_lab.models.module import TransferModule
from transfer_lab.models.surgery import copy_layers
from transfer_lab.run.checkpoints import AtomicCheckpointIO, checkpoint_callbacks
from transfer_lab.run.divergence import StopOnDivergence
from transfer_lab.run.store import BaseNetwork
from transfer_lab.spec import RunSpec


def build_module(
    spec: RunSpec, num_classes: int, mean_image, base: BaseNetwork | None = None, on_gpu: bool = False
) -> TransferModule:
    """The network of `spec` (layers 1..k copied from `base` if given), its device input pipeline and
    solver; on_gpu: whether it will train on a GPU (model.compile=auto compiles only there)."""
    net = instantiate(spec.model["net"], num_classes=num_classes)
    if base is not None:
        copy_layers(net, base.net_state, spec.k)
    recipe = spec.recipe
    compile = compile_enabled(spec, on_gpu)
    return TransferModule(
        net=net,
        augment=DeviceAugment(
            mean_image,
            spec.model["pixel_scale"],
            spec.data["crop_size"],
            spec.data["pad"],
            seed=spec.data_seed,
            compile=compile,
        ),
        optimizer=instantiate(recipe["optimizer"]),
        scheduler=instantiate(recipe["scheduler"]) if recipe.get("scheduler") else None,
        bias_lr_mult=recipe["bias_lr_mult"],
        frozen_layers=spec.k if spec.freeze else 0,
        compile=compile,
        compile_mode=spec.model.get("compile_mode"),
    )


# Compiling CaffeNet takes about a minute and saves 2.7-5.3 ms of a 7.7-16 ms step on an H100 (k=5 / k=0,
# python -m transfer_lab.bench): it pays back after 11-22k steps, so model.compile=auto compiles recipes of
# 20k steps or more.
COMPILE_MIN_STEPS = 20_000


def compile_enabled(spec: RunSpec, on_gpu: bool) -> bool:
    """model.compile: true, false, or auto (on a GPU, for recipes of at least COMPILE_MIN_STEPS steps)."""
    setting = spec.model.get("compile", False)
    if setting == "auto":
        return on_gpu and spec.recipe["max_steps"] >= COMPILE_MIN_STEPS
    return bool(setting)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """last.ckpt, the one checkpoint a run resumes from: always written between two steps (run/checkpoints.py).
    (Lightning's SLURM requeue, now off, saved hpc_ckpt_*.ckpt inside its signal handler: not resumed from.)"""
    last = last_checkpoint(run_dir)
    return last if last.exists() else None


def make_trainer(
    spec: RunSpec,
    run_dir: Path,
    logger,
    gpu: int | None,
    schedule: dict | None = None,
    callbacks: list[pl.Callback] = (),
    **arguments,
) -> pl.Trainer:
    """schedule: max_epochs, max_steps and val_check_interval; the recipe's unless a scarce run counts them in
    full-half steps. callbacks and arguments: more callbacks and Trainer arguments (the bench's clock; no
    validation)."""
    schedule = schedule or spec.recipe
    placement = {"accelerator": "gpu", "devices": [gpu]} if on_gpu(gpu) else {}
    return build_trainer(
        spec,
        [*callbacks, *checkpoint_callbacks(checkpoint_dir(run_dir), spec.recipe.get("checkpoint_every_n_steps"))],
        **placement,
        default_root_dir=str(run_dir),
        logger=logger,
        plugins=[AtomicCheckpointIO(), *slurm_environment()],
        max_epochs=schedule["max_epochs"],
        max_steps=schedule["max_steps"],
        **{**validation_schedule(schedule), **arguments},
    )


def slurm_environment() -> list[SLURMEnvironment]:
    """In a SLURM job: Lightning's SLURM environment without its automatic requeue. submitit requeues
    (conf/hydra/launcher/slurm.yaml) once the step that the signal arrived in has ended and last.ckpt is
    written (run/checkpoints.StopOnSignal); Lightning's would save a step half done and requeue a second time."""
    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def validation_schedule(schedule: dict) -> dict:
    """The Trainer's arguments for the recipe's val_check_interval: a fraction of an epoch, a number of
    steps (counted across epoch boundaries, as the paper's every 1000 iterations), or null: the final
    weights only (all the report reads; each validation of the embedded data costs ~8% of an epoch)."""
    every = schedule["val_check_interval"]
    if every is None:
        if schedule["max_epochs"] > 0:
            return {"val_check_interval": 1.0, "check_val_every_n_epoch": schedule["max_epochs"]}
        every = schedule["max_steps"]
    return {"val_check_interval": every, "check_val_every_n_epoch": None if isinstance(every, int) else 1}


def build_trainer(spec: RunSpec, callbacks: list[pl.Callback], **arguments) -> pl.Trainer:
    """spec.trainer as a Trainer with `callbacks`, the config's callbacks (conf/callbacks) and
    `arguments`, stopped by a non-finite training loss (checked every trainer.log_every_n_steps steps)."""
    configured = [instantiate(c) for c in spec.callbacks.values() if c]
    shown = progress_bar_shown(spec)
    if not shown:  # Lightning refuses a progress bar it is told not to show
        configured = [c for c in configured if not isinstance(c, ProgressBar)]
    return instantiate(
        spec.trainer, callbacks=[*callbacks, *configured, divergence_stop(spec)], enable_progress_bar=shown, **arguments
    )


def progress_bar_shown(spec: RunSpec) -> bool:
    """trainer.enable_progress_bar, and off in a job of a sweep that runs jobs side by side (a base a
    similarity or probe sweep trains, too): their bars would interleave, and the sweep prints a line per job."""
    return bool(spec.trainer.get("enable_progress_bar", True)) and jobs_side_by_side() < 2


def divergence_stop(spec: RunSpec) -> StopOnDivergence:
    """Checks the training loss every trainer.log_every_n_steps steps (Lightning's default: 50)."""
    settings = spec.trainer
    return StopOnDivergence(
        settings.get("log_every_n_steps", 50), spec.recipe["optimizer"].get("lr"), settings.get("precision")
    )
