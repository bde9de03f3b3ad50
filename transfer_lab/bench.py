"""`python -m transfer_lab.bench [--ks 0,5] [overrides]`: training throughput on whatever device there is.

For each k (0 = a base network, k > 0 = layers 1..k frozen) it measures, in images per second:
  model-only  the training step alone (forward, backward, SGD step) on one batch already on the
              device and already cropped: what the model can eat
  input-only  cache -> BatchLoader -> device -> crop/mirror/mean subtraction, no network: what the
              input pipeline can deliver (it must exceed model-only for a ratio near 1)
  full path   the two together inside the Lightning loop, exactly as a run trains
  ratio       full path / model-only: 1.0 means the input pipeline and the loop cost nothing
Same network, precision, memory format, compile and progress-bar settings as a run with the same
overrides (e.g. data=imagenet data.root=PATH model.compile=true trainer.enable_progress_bar=false);
validation, logging and checkpoints are off.
Prints a table and writes it as JSON (--out, default <paths.root>/bench/).
"""

import argparse
import itertools
import platform
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from transfer_lab.cli import command_line, fail
from transfer_lab.compose import compose_config
from transfer_lab.data.datamodule import HalfDataModule
from transfer_lab.data.loader import BatchLoader
from transfer_lab.data.registry import load_dataset
from transfer_lab.devices import prepare_cpu
from transfer_lab.errors import ConfigError
from transfer_lab.io import write_json
from transfer_lab.spec import NUM_LAYERS, RunSpec, spec_from_config
from transfer_lab.splits import make_split
from transfer_lab.train import build_module, build_trainer

AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


class StepTimer(pl.Callback):
    """Wall time of the training batches after the first `warmup`, synchronised with the device."""

    def __init__(self, warmup: int):
        self.warmup, self.batches, self.start, self.stop = warmup, 0, None, None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.batches += 1
        if self.batches == self.warmup:
            self.start = synchronized_time(module.device)
        self.stop = synchronized_time(module.device)


def synchronized_time(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def spec_for(k: int, overrides: list[str]) -> RunSpec:
    """k = 0: base network of half B; k > 0: a frozen transfer into half B (the weights do not matter for speed)."""
    preset = ["+exp=base", "half=B"] if k == 0 else ["+exp=transfer", "source=A", "target=B", f"k={k}", "freeze=true"]
    return spec_from_config(compose_config([*preset, *overrides]))


def model_only(module, images, labels, device, precision: str, warmup: int, steps: int) -> float:
    """Images/s of forward + backward + SGD step on one batch already on the device."""
    module.train()
    crops = module.augment(images, train=True)
    optimizer = module.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    dtype = AUTOCAST.get(precision)

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(module(crops), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    start = synchronized_time(device)
    for _ in range(steps):
        step()
    return steps * len(labels) / (synchronized_time(device) - start)


def input_only(module, half, batch_size: int, threads: int, device, warmup: int, steps: int) -> float:
    """Images/s of training batches read from the dataset, moved to the device and augmented, no network."""
    loader = BatchLoader(half.train_images, half.train_labels, batch_size, shuffle=True, threads=threads, device=device)
    epochs = itertools.chain.from_iterable(itertools.repeat(loader))  # a small half has fewer batches than warmup + steps
    for batch, (images, _) in enumerate(itertools.islice(epochs, warmup + steps), start=1):
        module.augment(images, train=True)
        if batch == warmup:
            start = synchronized_time(device)
    return steps * batch_size / (synchronized_time(device) - start)


def full_path(module, spec: RunSpec, half, batch_size: int, threads: int, warmup: int, steps: int) -> float:
    """Images/s of training steps inside the Lightning loop, fed from the dataset (the cache for ImageNet)."""
    timer = StepTimer(warmup)
    trainer = build_trainer(
        spec,
        [timer],
        max_steps=warmup + steps,
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
    )
    trainer.fit(module, datamodule=HalfDataModule(half, batch_size, threads))
    return steps * batch_size / (timer.stop - timer.start)


def measure(k: int, overrides: list[str], warmup: int, steps: int) -> dict:
    spec = spec_for(k, overrides)
    dataset = load_dataset(spec.data)
    half = dataset.half(make_split(spec.split["name"], spec.split["seed"], dataset.natural).classes(spec.target))
    batch_size = min(spec.recipe["batch_size"], len(half.train_labels))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = build_module(spec, len(half.classes), half.mean_image()).to(device)
    images, labels = (t.to(device) for t in half_batch(half, batch_size))
    precision = str(spec.trainer.get("precision"))
    # The Trainer sets the cuDNN autotuner from its config when it is built; the model-only steps run before that.
    torch.backends.cudnn.benchmark = bool(spec.trainer.get("benchmark", False))
    # One module for all three measurements: with model.compile=true it is compiled once, here.
    threads = spec.data.get("loader_threads", 1)
    fast = model_only(module, images, labels, device, precision, warmup, steps)
    feed = input_only(module, half, batch_size, threads, device, warmup, steps)
    real = full_path(module, spec, half, batch_size, threads, warmup, steps)
    return {
        "k": k,
        "frozen_layers": module.frozen_layers,
        "batch_size": batch_size,
        "model_only_images_per_s": round(fast, 1),
        "input_only_images_per_s": round(feed, 1),
        "full_path_images_per_s": round(real, 1),
        "ratio": round(real / fast, 3),
        "precision": precision,
        "channels_last": module.memory_format == torch.channels_last,
        "compile": bool(spec.model.get("compile", False)),
        "progress_bar": f"every {spec.trainer.get('progress_bar_refresh_steps', 1)} steps" if spec.trainer.get("enable_progress_bar", True) else "off",
        "loader_threads": threads,
        "dataset": spec.data["name"],
        "image_size": spec.data.get("image_size"),
        "crop_size": spec.data["crop_size"],
        "model": spec.model["name"],
        "n_train_images": len(half.train_labels),
    }


def half_batch(half, batch_size: int):
    """The first training batch of the half, as the loader serves it."""
    return BatchLoader(half.train_images, half.train_labels, batch_size, shuffle=False).gather(np.arange(batch_size))


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def table(rows: list[dict]) -> str:
    first = rows[0]
    lines = [
        f"{first['model']} on {first['dataset']}: {first['crop_size']} px crops of {first['image_size']} px, "
        f"batch {first['batch_size']}, {first['precision']}, channels_last={first['channels_last']}, "
        f"compile={first['compile']}, progress bar {first['progress_bar']}, {first['loader_threads']} loader threads",
        f"{'k':>3} {'frozen':>6} {'model-only img/s':>17} {'input-only img/s':>17} {'full path img/s':>16} {'ratio':>6}",
    ]
    for row in rows:
        lines.append(
            f"{row['k']:>3} {row['frozen_layers']:>6} {row['model_only_images_per_s']:>17,.1f} {row['input_only_images_per_s']:>17,.1f} "
            f"{row['full_path_images_per_s']:>16,.1f} {row['ratio']:>6.3f}"
        )
    return "\n".join(lines)


def layer_counts(text: str) -> list[int]:
    return [int(k) for k in text.split(",")]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m transfer_lab.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", type=layer_counts, default=[0, 5], help="layers frozen, comma-separated (default 0,5); 0 = a base network")
    parser.add_argument("--warmup", type=int, default=5, help="steps before timing (cudnn autotuning, compilation)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--out", help="JSON file to write (default <paths.root>/bench/bench-<time>.json)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. data=imagenet data.root=PATH")
    args = parser.parse_args(argv)
    pl.seed_everything(0, verbose=False)
    if not torch.cuda.is_available():
        prepare_cpu()  # as a run does: before the first parallel op
    try:
        bad = [k for k in args.ks if not 0 <= k <= NUM_LAYERS - 1]
        if bad or args.warmup < 1 or args.steps < 1:
            raise ConfigError(f"--ks {bad} / --warmup {args.warmup} / --steps {args.steps}: use ks in 0..{NUM_LAYERS - 1}, warmup and steps >= 1")
        spec = spec_for(args.ks[0], args.overrides)  # bad overrides or a missing cache stop here, before any work
        load_dataset(spec.data)
    except ConfigError as err:
        fail(str(err))
    rows = [measure(k, args.overrides, args.warmup, args.steps) for k in args.ks]
    print(table(rows))
    record = {
        "command": command_line("python -m transfer_lab.bench", argv),
        "device": device_name(),
        "torch": torch.__version__,
        "time": datetime.now().isoformat(timespec="seconds"),
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
        "rows": rows,
    }
    out = Path(args.out) if args.out else Path(spec.root) / "bench" / f"bench-{datetime.now():%Y%m%d-%H%M%S}.json"
    write_json(out, record)
    print(f"written: {out}")
    return record


if __name__ == "__main__":
    main()
