"""One fit: a RunSpec trained in its run folder, on a device of its own, and its result record.

fit() claims a device, builds the half's data (a scarce subset if asked), the network and the
Lightning trainer (run/build.py), trains (resuming from the run's last checkpoint), validates the
final weights, publishes a base network to the store and writes result.json last (run/record.py).
run/fused.py trains several frozen transfers at once with the same pieces.
"""

import shutil
import sys
import time
from pathlib import Path

import pytorch_lightning as pl

from transfer_lab.data.datamodule import HalfDataModule
from transfer_lab.data.images import HalfImages
from transfer_lab.data.registry import training_half
from transfer_lab.data.scarcity import full_half_schedule
from transfer_lab.devices import device_fields, job_device, on_gpu
from transfer_lab.errors import ConfigError, TrainingDiverged
from transfer_lab.io import write_json
from transfer_lab.kinds import kind_of
from transfer_lab.layout import RESULT_FILE, SPLIT_FILE, checkpoint_dir
from transfer_lab.models.module import TransferModule
from transfer_lab.run.build import build_module, latest_checkpoint, make_trainer
from transfer_lab.run.loggers import finish_logger, logger_location, make_logger
from transfer_lab.run.record import completed_record, split_record
from transfer_lab.run.store import BaseNetwork, BaseStore
from transfer_lab.spec import RunSpec


def fit(spec: RunSpec, run_dir: Path, store: BaseStore, base: BaseNetwork | None = None) -> dict:
    """Train the network of `spec` in run_dir (layers 1..k from `base`) on a GPU of its own, or the CPU."""
    with job_device() as gpu:
        return train(spec, Path(run_dir), store, base, gpu)


def fit_kind(spec: RunSpec, run_dir: Path, store: BaseStore, bases: dict[str, BaseNetwork]) -> dict:
    """How a transfer or random-filters run runs (their kinds' runner): fit() from its source base, if any."""
    return fit(spec, run_dir, store, bases.get("source"))


def train(spec: RunSpec, run_dir: Path, store: BaseStore, base: BaseNetwork | None, gpu: int | None) -> dict:
    """fit() on the device it claimed (gpu: its index; None: the CPU)."""
    run_dir = Path(run_dir)
    pl.seed_everything(spec.rng_seed, workers=True, verbose=False)
    half, half_fields, schedule = training_data(spec, run_dir)
    # A transferred network keeps subtracting its source's mean image, as the paper's Caffe networks do.
    mean_image = base.mean_image if base is not None else half.mean_image()
    module = build_module(spec, len(half.classes), mean_image, base, on_gpu=on_gpu(gpu))
    logger = make_logger(spec, run_dir)
    logged_at = logger_location(logger)
    trainer = make_trainer(spec, run_dir, logger, gpu, schedule)
    started_at, seconds = train_and_validate(spec.series, trainer, module, datamodule(spec, half), run_dir, logger)
    result = result_record(spec, module, trainer, half_fields, started_at, seconds, base, run_dir, gpu) | logged_at
    if kind_of(spec).stored:
        net_state = {key: value.detach().cpu() for key, value in module.net.state_dict().items()}
        result["base_checkpoint"] = str(store.publish(spec, net_state, mean_image, result))
    write_json(run_dir / RESULT_FILE, result)
    return result


def training_data(spec: RunSpec, run_dir: Path) -> tuple[HalfImages, dict, dict]:
    """(half, fields, schedule): the images the run trains on, what its record says of them, and its
    schedule; writes split.json into run_dir."""
    dataset, split, half, half_fields = training_half(spec)
    for warning in half_fields["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    # A scarce run keeps the full half's schedule (data/scarcity.py).
    schedule = (
        spec.recipe
        if spec.target_per_class is None
        else full_half_schedule(spec.recipe, half_fields["n_train_images_full"])
    )
    if len(half.train_labels) == 0 or len(half.val_labels) == 0:
        raise ConfigError(f"half {spec.target} of split={split.name} has no training or validation images")
    write_json(run_dir / SPLIT_FILE, split_record(split, dataset.class_names, spec.target))
    return half, half_fields, schedule


def datamodule(spec: RunSpec, half: HalfImages) -> HalfDataModule:
    return HalfDataModule(half, spec.recipe["batch_size"], spec.data["loader_threads"], order_seed=spec.data_seed)


def train_and_validate(
    name: str, trainer: pl.Trainer, module: pl.LightningModule, data: HalfDataModule, run_dir: Path, logger
) -> tuple[float, float]:
    """Fit (from run_dir's last checkpoint if any), then validate the final weights unless the last
    scheduled validation did; returns (start time, seconds)."""
    last = latest_checkpoint(run_dir)
    if last is not None:
        print(f"resuming {name} from {last}", file=sys.stderr)
    started_at, start = time.time(), time.perf_counter()
    try:
        trainer.fit(module, datamodule=data, ckpt_path=last)
        if module.validated_at_step != trainer.global_step:  # the last scheduled validation was before the end
            trainer.validate(module, datamodule=data, verbose=False)
    except TrainingDiverged:
        # Checkpoints may hold the diverged weights (precision is not part of the run's hash, so a
        # retry with trainer.precision=32-true uses this folder): the retry starts from step 0.
        shutil.rmtree(checkpoint_dir(run_dir), ignore_errors=True)
        raise
    finally:
        finish_logger(logger)
    return started_at, time.perf_counter() - start


def result_record(
    spec: RunSpec,
    module: TransferModule,
    trainer: pl.Trainer,
    half_fields: dict,
    started_at: float,
    seconds: float,
    base: BaseNetwork | None,
    run_dir: Path,
    gpu: int | None,
) -> dict:
    """The result.json of a network trained by `trainer` (module: the network's own TransferModule)."""
    history = module.val_top1_history
    images_trained = trainer.global_step * min(spec.recipe["batch_size"], half_fields["n_train_images"])
    return completed_record(
        spec,
        run_dir,
        started_at,
        device_fields(trainer.strategy.root_device, gpu),  # the module is back on the CPU after fit
        rng_seed=spec.rng_seed,
        data_seed=spec.data_seed,
        **half_fields,
        val_top1=history[-1] if history else None,
        val_top1_best=max(history) if history else None,
        val_top1_best10_mean=sum(sorted(history)[-10:]) / len(history[-10:]) if history else None,
        val_top5=module.last_val_top5,
        val_evaluations=len(history),
        epochs=trainer.current_epoch,
        steps=trainer.global_step,
        train_seconds=round(seconds, 3),
        train_images_per_s=round(images_trained / seconds, 1),
        base_checkpoint=str(base.checkpoint) if base is not None else None,
        precision=str(trainer.precision),
    )
