"""One run of the study: spec -> data + model -> Lightning trainer -> result record.

`run(spec, run_dir)` trains a base network (and publishes it to the base store) or a transfer
network (after finding, or training, the base network of its source half), and writes:
  split.json   the classes of halves A and B and the label order used
  metrics.csv  (CSV logger) / checkpoints/last.ckpt (the final checkpoint)
  result.json  the result record, written last and atomically: its presence means the run completed
"""

import shutil
import sys
import time
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from pytorch_lightning.callbacks import TQDMProgressBar

from transfer_lab.checkpointing import AtomicCheckpointIO, checkpoint_callbacks
from transfer_lab.console import outcome
from transfer_lab.data.augment import DeviceAugment
from transfer_lab.data.datamodule import HalfDataModule
from transfer_lab.data.registry import load_dataset
from transfer_lab.devices import claim_gpu, prepare_cpu
from transfer_lab.divergence import StopOnDivergence, TrainingDiverged
from transfer_lab.errors import ConfigError
from transfer_lab.io import read_json, write_json
from transfer_lab.loggers import finish_logger, make_logger
from transfer_lab.module import TransferModule
from transfer_lab.probe import check_probe, train_probe
from transfer_lab.scarcity import full_half_schedule, scarce_half
from transfer_lab.similarity import SIMILARITY_FILE
from transfer_lab.similarity.job import check_similarity, run_similarity
from transfer_lab.spec import RunSpec
from transfer_lab.splits import make_split, split_label
from transfer_lab.store import BaseNetwork, BaseStore
from transfer_lab.surgery import copy_layers


def check_inputs(spec: RunSpec) -> None:
    """Fail fast (ConfigError) on data that cannot be read or a split that leaves a half empty."""
    dataset = load_dataset(spec.data)
    split = make_split(natural=dataset.natural, **spec.split)
    split.check_target(spec.target)
    if spec.source is not None:
        split.classes(spec.source)
    if spec.kind == "similarity":
        check_similarity(spec, dataset, split)
    if spec.kind == "probe":
        check_probe(spec)


def target_half(spec: RunSpec):
    """(dataset, split, half): the images of the run's own half, all of them (before any scarce subset)."""
    dataset = load_dataset(spec.data)
    split = make_split(natural=dataset.natural, **spec.split)
    return dataset, split, dataset.half(split.classes(spec.target))


def run(spec: RunSpec, run_dir: Path, rebuild_command: str = "") -> dict:
    """Run `spec` in `run_dir` unless it already completed there; return its result record."""
    check_inputs(spec)
    done = completed_result(spec, run_dir)
    if done is not None:
        print(f"already done: {run_dir / record_name(spec)} ({outcome(done)})", file=sys.stderr)
        return done
    store = BaseStore(spec.root)
    with claim_gpu() as gpu:
        if gpu is None:
            prepare_cpu()
        if spec.kind == "base":
            store.get_or_train(spec, lambda base: train_network(base, run_dir, store, gpu=gpu), rebuild_command)
            return completed_result(spec, run_dir) or read_json(store.folder(spec) / "base.json")["result"]
        if spec.kind == "random":  # random filters: no base network, layers 1..k stay at their init
            return train_network(spec, run_dir, store, gpu=gpu)

        if spec.kind == "similarity":  # compares stored base networks, trains none of its own
            return run_similarity(spec, run_dir, partial(stored_base, store=store, gpu=gpu), rebuild_command, *target_half(spec)[:2], gpu)
        base = stored_base(spec.base_spec(spec.source), rebuild_command, store, gpu)
        if spec.kind == "probe":  # a linear classifier on cached features of layers 1..k: no network training
            return train_probe(spec, run_dir, base, target_half(spec)[2], gpu)
        return train_network(spec, run_dir, store, base, gpu)


def stored_base(base_spec: RunSpec, rebuild_command: str, store: BaseStore, gpu: int | None) -> BaseNetwork:
    """The base network of base_spec from the store; trained first, in its own run folder, if missing
    and base_spec.auto_base (otherwise an error naming rebuild_command)."""
    if base_spec.auto_base:
        base_dir = Path(base_spec.root) / "runs" / base_spec.run_name
        return store.get_or_train(base_spec, lambda b: train_network(b, base_dir, store, gpu=gpu), rebuild_command)
    base = store.find(base_spec, rebuild_command)
    if base is None:
        raise ConfigError(f"no base network {base_spec.series} in {store.dir} and auto_base=false: train it with: {rebuild_command}")
    return base


def record_name(spec: RunSpec) -> str:
    """The file whose presence means the run completed: similarity.json for a similarity run, which trains no network."""
    return SIMILARITY_FILE if spec.kind == "similarity" else "result.json"


def completed_result(spec: RunSpec, run_dir: Path) -> dict | None:
    """The result record in run_dir if it belongs to this exact config; never overwrite another."""
    path = Path(run_dir) / record_name(spec)
    if not path.exists():
        return None
    try:
        result = read_json(path)
    except ValueError as err:
        raise ConfigError(f"{path} is not valid JSON: delete it to have the run redone (from its last checkpoint)") from err
    if result.get("config_hash") != spec.config_hash:
        raise ConfigError(f"{path} holds a completed run of another config: use another run directory or paths.root")
    return result


def train_network(
    spec: RunSpec, run_dir: Path, store: BaseStore, base: BaseNetwork | None = None, gpu: int | None = None
) -> dict:
    """Train one network in run_dir (resuming from its last checkpoint if one exists); gpu: claimed index."""
    run_dir = Path(run_dir)
    rng_seed = int(spec.config_hash[:8], 16)  # distinct per run, so fresh layers never repeat the base's init
    pl.seed_everything(rng_seed, workers=True, verbose=False)

    dataset, split, half = target_half(spec)
    full_train_size, subset, schedule = len(half.train_labels), {"warnings": []}, spec.recipe
    if spec.target_per_class is not None:
        half, subset = scarce_half(half, spec.target_per_class, spec.split)
        schedule = full_half_schedule(spec.recipe, full_train_size)
        for warning in subset["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
    if len(half.train_labels) == 0 or len(half.val_labels) == 0:
        raise ConfigError(f"half {spec.target} of split={split.name} has no training or validation images")
    write_json(run_dir / "split.json", split_record(split, dataset.class_names, spec.target))

    # A transferred network keeps subtracting its source's mean image (paper_protocol.md).
    mean_image = base.mean_image if base is not None else half.mean_image()
    module = build_module(spec, len(half.classes), mean_image, base, on_gpu=gpu is not None and torch.cuda.is_available())
    recipe = spec.recipe
    datamodule = HalfDataModule(half, recipe["batch_size"], spec.data.get("loader_threads", 1))
    logger = make_logger(spec, run_dir)
    trainer = make_trainer(spec, run_dir, logger, gpu, schedule)
    last = latest_checkpoint(run_dir)
    if last is not None:
        print(f"resuming {spec.series} from {last}", file=sys.stderr)

    started_at = time.time()
    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=last)
        if module.validated_at_step != trainer.global_step:  # the last scheduled validation was before the end
            trainer.validate(module, datamodule=datamodule, verbose=False)
    except TrainingDiverged:
        # Checkpoints may hold the diverged weights (precision is not part of the run's hash, so a
        # retry with trainer.precision=32-true uses this folder): the retry starts from step 0.
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        raise
    finally:
        finish_logger(logger)
    seconds = time.perf_counter() - start

    history = module.val_top1_history
    images_trained = trainer.global_step * min(recipe["batch_size"], len(half.train_labels))
    result = {
        "exp": spec.kind,
        "series": spec.series,
        "source": spec.source,
        "target": spec.target,
        "split": split_label(spec.split),
        "split_seed": split.seed,
        "k": spec.k,
        "freeze": spec.freeze,
        "seed": spec.seed,
        "rng_seed": rng_seed,
        "dataset": spec.data["name"],
        "model": spec.model["name"],
        "recipe": recipe["name"],
        "n_classes": len(half.classes),
        "n_train_images": int(len(half.train_labels)),
        "target_per_class": spec.target_per_class,
        "n_train_images_full": full_train_size,
        **subset,
        "n_val_images": int(len(half.val_labels)),
        "val_top1": history[-1] if history else None,
        "val_top1_best": max(history) if history else None,
        "val_top1_best10_mean": sum(sorted(history)[-10:]) / len(history[-10:]) if history else None,
        "val_top5": float(trainer.callback_metrics["val/top5"]) if "val/top5" in trainer.callback_metrics else None,
        "val_evaluations": len(history),
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "train_seconds": round(seconds, 3),
        "started_at": started_at,
        "finished_at": time.time(),
        "train_images_per_s": round(images_trained / seconds, 1),
        "base_checkpoint": str(base.checkpoint) if base is not None else None,
        "device": str(trainer.strategy.root_device),  # the module is back on the CPU after fit
        "precision": str(trainer.precision),
        "cpu_threads": torch.get_num_threads(),  # a sweep's CPU jobs share the cores (devices.prepare_cpu)
        "gpu_slot": gpu,
        "config_hash": spec.config_hash,
        "run_dir": str(run_dir),
        "status": "completed",
    }
    if spec.kind == "base":
        net_state = {key: value.detach().cpu() for key, value in module.net.state_dict().items()}
        store.publish(spec, net_state, mean_image, result)
        result["base_checkpoint"] = str(store.folder(spec) / "base.pt")
    write_json(run_dir / "result.json", result)
    return result


def build_module(spec: RunSpec, num_classes: int, mean_image, base: BaseNetwork | None = None, on_gpu: bool = False) -> TransferModule:
    """The network of `spec` (layers 1..k copied from `base` if given), its device input pipeline and
    solver; on_gpu: whether it will train on a GPU (model.compile=auto compiles only there)."""
    net = instantiate(spec.model["net"], num_classes=num_classes)
    if base is not None:
        copy_layers(net, base.net_state, spec.k)
    recipe = spec.recipe
    return TransferModule(
        net=net,
        augment=DeviceAugment(mean_image, spec.model["pixel_scale"], spec.data["crop_size"], spec.data.get("pad", 0)),
        optimizer=instantiate(recipe["optimizer"]),
        scheduler=instantiate(recipe["scheduler"]) if recipe.get("scheduler") else None,
        bias_lr_mult=recipe["bias_lr_mult"],
        frozen_layers=spec.k if spec.freeze else 0,
        compile=compile_enabled(spec, on_gpu),
        compile_mode=spec.model.get("compile_mode"),
    )


# Compiling CaffeNet takes about a minute and saves 2.7-5.3 ms of a 7.7-16 ms step on an H100 (k=5 / k=0,
# gpu_anchors.md): it pays back after 11-22k steps, so model.compile=auto compiles recipes of 20k steps or more.
COMPILE_MIN_STEPS = 20_000


def compile_enabled(spec: RunSpec, on_gpu: bool) -> bool:
    """model.compile: true, false, or auto (on a GPU, for recipes of at least COMPILE_MIN_STEPS steps)."""
    setting = spec.model.get("compile", False)
    if setting == "auto":
        return on_gpu and spec.recipe["max_steps"] >= COMPILE_MIN_STEPS
    return bool(setting)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest of last.ckpt and the checkpoints Lightning's SLURM support saves before a requeue."""
    candidates = [p for p in [run_dir / "checkpoints" / "last.ckpt", *run_dir.glob("hpc_ckpt_*.ckpt")] if p.exists()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def make_trainer(spec: RunSpec, run_dir: Path, logger, gpu: int | None, schedule: dict | None = None) -> pl.Trainer:
    """schedule: max_epochs, max_steps and val_check_interval; the recipe's unless a scarce run counts them in full-half steps."""
    schedule = schedule or spec.recipe
    placement = {"accelerator": "gpu", "devices": [gpu]} if gpu is not None and torch.cuda.is_available() else {}
    return build_trainer(
        spec,
        checkpoint_callbacks(run_dir / "checkpoints", spec.recipe.get("checkpoint_every_n_steps")),
        **placement,
        default_root_dir=str(run_dir),
        logger=logger,
        plugins=[AtomicCheckpointIO()],
        max_epochs=schedule["max_epochs"],
        max_steps=schedule["max_steps"],
        **validation_schedule(schedule),
    )


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
    """spec.trainer as a Trainer with `callbacks` and `arguments`, stopped by a non-finite training loss
    (checked every trainer.log_every_n_steps steps). trainer.progress_bar_refresh_steps is
    ours, not Lightning's: each refresh of the bar reads the loss back from the GPU, a sync that stops
    the CPU from queueing the next steps, so it refreshes every N steps instead of every step."""
    settings = dict(spec.trainer)
    refresh = settings.pop("progress_bar_refresh_steps", 1)
    callbacks = [*callbacks, divergence_stop(spec)]
    if settings.get("enable_progress_bar", True):
        callbacks = [*callbacks, TQDMProgressBar(refresh_rate=refresh)]
    return instantiate(settings, callbacks=callbacks, **arguments)


def divergence_stop(spec: RunSpec) -> StopOnDivergence:
    """Checks the training loss every trainer.log_every_n_steps steps (Lightning's default: 50)."""
    settings = spec.trainer
    return StopOnDivergence(settings.get("log_every_n_steps", 50), spec.recipe["optimizer"].get("lr"), settings.get("precision"))


def split_record(split, class_names: list[str], target: str) -> dict:
    return {
        "split": split.name,
        "split_seed": split.seed,
        "target": target,
        "halves": {
            half: {"classes": list(classes), "names": [class_names[c] for c in classes]}
            for half, classes in split.halves.items()
        },
        "label_order": "within a half, label i is the half's i-th class in ascending original index",
    }
