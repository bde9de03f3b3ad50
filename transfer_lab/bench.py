"""`python -m transfer_lab.bench [--ks 0,5] [overrides]`: training throughput on whatever device there is.

For each k (0 = a base network, k > 0 = layers 1..k frozen) it measures, in images per second:
  model-only  the training step alone (forward, backward, SGD step) on one batch already on the
              device and already cropped: what the model can eat
  input-only  cache -> BatchLoader -> device -> crop/mirror/mean subtraction, no network: what the
              input pipeline can deliver (it must exceed model-only for a ratio near 1)
  full path   the two together inside the Lightning loop, exactly as a run trains, over epoch
              boundaries (200 timed steps by default; a half of fewer batches is crossed)
  ratio       full path / model-only: 1.0 means the input pipeline and the loop cost nothing
and, per step of the full path, the main thread's CPU time (host ms/step: above the device time,
the host is the limit), the device time between CUDA events around each step (device ms/step; n/a
on the CPU), and the model FLOP utilisation: training GFLOP per image (forward through every layer,
backward 2x forward through the trainable ones, no input gradient for the first trainable layer) x images/s over the device's dense bf16
peak (PEAK_BF16_TFLOPS; n/a where the device is not in the table).
A training loss that turns NaN or infinite stops the bench with one line, as it stops a run.
Same network, precision, memory format, compile and progress-bar settings as a run with the same
overrides (e.g. data=imagenet data.root=PATH model.compile=false trainer.enable_progress_bar=false);
validation, logging and checkpoints are off.
Prints a table and writes it as JSON (--out, default <paths.root>/bench/).
"""

import argparse
import itertools
import multiprocessing
import platform
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from transfer_lab.cli import command_line, fail
from transfer_lab.compose import compose_config
from transfer_lab.data.datamodule import HalfDataModule
from transfer_lab.data.loader import BatchLoader
from transfer_lab.data.registry import load_dataset
from transfer_lab.devices import prepare_cpu
from transfer_lab.divergence import TrainingDiverged
from transfer_lab.errors import ConfigError
from transfer_lab.io import write_json
from transfer_lab.spec import NUM_LAYERS, RunSpec, spec_from_config
from transfer_lab.train import build_module, build_trainer, divergence_stop, target_half

AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
# Dense bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s; the first name found in the
# device's name wins (H100 PCIe before H100 SXM's "H100").
PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "A100": 312.0}


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


def spec_for(k: int, overrides: list[str]) -> RunSpec:
    """k = 0: base network of half B; k > 0: a frozen transfer into half B (the weights do not matter for speed)."""
    preset = ["+exp=base", "half=B"] if k == 0 else ["+exp=transfer", "source=A", "target=B", f"k={k}", "freeze=true"]
    return spec_from_config(compose_config([*preset, *overrides]))


def model_only(module, spec: RunSpec, images, labels, device, warmup: int, steps: int) -> dict:
    """Clock of forward + backward + SGD step on one batch already on the device (its loss checked as a run's)."""
    module.train()
    crops = module.augment(images, train=True)
    optimizer = module.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    dtype = AUTOCAST.get(str(spec.trainer.get("precision")))
    divergence = divergence_stop(spec)

    def step(number: int):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(module(crops), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        divergence.add(loss, number)

    for number in range(1, warmup + 1):
        step(number)
    clock = Clock(device)
    clock.start()
    for number in range(warmup + 1, warmup + steps + 1):
        clock.step_begins()
        step(number)
        clock.step_ends()
    timing = clock.stop(steps)
    divergence.check(warmup + steps)
    return timing


def input_only(module, half, batch_size: int, threads: int, device, warmup: int, steps: int) -> dict:
    """Clock of training batches read from the dataset, moved to the device and augmented, no network."""
    loader = BatchLoader(half.train_images, half.train_labels, batch_size, shuffle=True, threads=threads, device=device)
    epochs = itertools.chain.from_iterable(itertools.repeat(loader))  # a small half has fewer batches than warmup + steps
    clock = Clock(device)
    for batch, (images, _) in enumerate(itertools.islice(epochs, warmup + steps), start=1):
        module.augment(images, train=True)
        if batch == warmup:
            clock.start()
    return clock.stop(steps)


def full_path(module, spec: RunSpec, half, batch_size: int, threads: int, warmup: int, steps: int) -> tuple[dict, int]:
    """Clock of training steps inside the Lightning loop, fed from the dataset (the cache for ImageNet),
    and the number of epoch boundaries they crossed."""
    timer = StepTimer(warmup, steps)
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
    return timer.timing, timer.epochs - 1


def training_gflop_per_image(module, channels: int, crop_size: int) -> float:
    """GFLOP of one training step per image: forward through every layer, backward (weight and input
    gradients, 2x forward) through the trainable ones, less the input gradient of the first trainable
    layer (nothing below it needs one). Each layer's forward is counted by torch's FlopCounterMode on
    one image; its backward count is not used, as it counts grouped convolutions' gradients twice."""
    x = torch.zeros(1, channels, crop_size, crop_size, device=next(module.net.parameters()).device)
    forward = []
    with torch.no_grad():
        for layer in module.net.children():
            counter = FlopCounterMode(display=False)
            with counter:
                x = layer(x)
            forward.append(counter.get_total_flops())
    trainable = forward[module.frozen_layers :]
    return (sum(forward) + 2 * sum(trainable) - trainable[0]) / 1e9


def peak_bf16_tflops(name: str) -> float | None:
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)


def utilisation(images_per_s: float, gflop_per_image: float, peak_tflops: float | None) -> float | None:
    return round(images_per_s * gflop_per_image / (peak_tflops * 1e3), 4) if peak_tflops else None


def measure(k: int, overrides: list[str], warmup: int, steps: int) -> dict:
    spec = spec_for(k, overrides)
    _, _, half = target_half(spec)
    batch_size = min(spec.recipe["batch_size"], len(half.train_labels))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = build_module(spec, len(half.classes), half.mean_image(), on_gpu=device.type == "cuda").to(device)
    images, labels = (t.to(device) for t in half_batch(half, batch_size))
    precision = str(spec.trainer.get("precision"))
    # The Trainer sets the cuDNN autotuner from its config when it is built; the model-only steps run before that.
    torch.backends.cudnn.benchmark = bool(spec.trainer.get("benchmark", False))
    # One module for all three measurements: when compiled, it is compiled once, here.
    threads = spec.data.get("loader_threads", 1)
    gflop = training_gflop_per_image(module, spec.data["channels"], spec.data["crop_size"])
    peak = peak_bf16_tflops(device_name())
    fast = model_only(module, spec, images, labels, device, warmup, steps)
    feed = input_only(module, half, batch_size, threads, device, warmup, steps)
    real, epochs = full_path(module, spec, half, batch_size, threads, warmup, steps)
    fast_rate, real_rate = (steps * batch_size / timing["seconds"] for timing in (fast, real))
    return {
        "k": k,
        "frozen_layers": module.frozen_layers,
        "batch_size": batch_size,
        "model_only_images_per_s": round(fast_rate, 1),
        "input_only_images_per_s": round(steps * batch_size / feed["seconds"], 1),
        "full_path_images_per_s": round(real_rate, 1),
        "ratio": round(real_rate / fast_rate, 3),
        "host_ms_per_step": rounded(real["host_ms_per_step"]),
        "device_ms_per_step": rounded(real["device_ms_per_step"]),
        "model_only_host_ms_per_step": rounded(fast["host_ms_per_step"]),
        "model_only_device_ms_per_step": rounded(fast["device_ms_per_step"]),
        "epoch_boundaries_crossed": epochs,
        "train_gflop_per_image": round(gflop, 4),
        "peak_bf16_tflops": peak,
        "mfu": utilisation(real_rate, gflop, peak),
        "model_only_mfu": utilisation(fast_rate, gflop, peak),
        "precision": precision,
        "channels_last": module.memory_format == torch.channels_last,
        "compile": module.compiled,
        "compile_mode": spec.model.get("compile_mode"),
        "fused_optimizer": bool({**spec.recipe["optimizer"], **module.fused_step()}.get("fused")),
        "progress_bar": f"every {spec.trainer.get('progress_bar_refresh_steps', 1)} steps" if spec.trainer.get("enable_progress_bar", True) else "off",
        "loader_threads": threads,
        "dataset": spec.data["name"],
        "image_size": spec.data.get("image_size"),
        "crop_size": spec.data["crop_size"],
        "model": spec.model["name"],
        "n_train_images": len(half.train_labels),
    }


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def loader_job(overrides: list[str], steps: int, ready, results) -> None:
    """One input-only loader as a run's process has it (host side: gather from the cache into batches);
    after all jobs are ready, put (start, stop, images) on `results`."""
    spec = spec_for(0, overrides)
    _, _, half = target_half(spec)
    loader = BatchLoader(half.train_images, half.train_labels, spec.recipe["batch_size"], shuffle=True,
                         threads=spec.data.get("loader_threads", 1))
    batches = itertools.islice(itertools.chain.from_iterable(itertools.repeat(loader)), steps)
    ready.wait()
    start = time.perf_counter()
    images = sum(len(labels) for _, labels in batches)
    results.put((start, time.perf_counter(), images))


def loader_jobs(jobs: int, overrides: list[str], steps: int) -> dict:
    """`jobs` input-only loaders at once in separate processes, reading one cache (one page cache), as
    the jobs of a multi-GPU host would: their aggregate images/s (CLOCK_MONOTONIC is shared across processes)."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(jobs), context.Queue()
    processes = [context.Process(target=loader_job, args=(overrides, steps, ready, results)) for _ in range(jobs)]
    for process in processes:
        process.start()
    runs = [results.get() for _ in processes]
    for process in processes:
        process.join()
    seconds = max(stop for _, stop, _ in runs) - min(start for start, _, _ in runs)
    per_job = [images / (stop - start) for start, stop, images in runs]
    return {"jobs": jobs, "steps": steps, "aggregate_images_per_s": round(sum(i for _, _, i in runs) / seconds, 1),
            "slowest_job_images_per_s": round(min(per_job), 1)}


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
        f"compile={first['compile']}{' (' + first['compile_mode'] + ')' if first['compile_mode'] else ''}, "
        f"fused SGD={first['fused_optimizer']}, progress bar {first['progress_bar']}, {first['loader_threads']} loader threads",
        f"{'k':>3} {'frozen':>6} {'model-only img/s':>17} {'input-only img/s':>17} {'full path img/s':>16} {'ratio':>6} "
        f"{'host ms/step':>12} {'device ms/step':>14} {'GFLOP/img':>9} {'MFU':>6}",
    ]
    for row in rows:
        device = "n/a" if row["device_ms_per_step"] is None else f"{row['device_ms_per_step']:.2f}"
        mfu = "n/a" if row["mfu"] is None else f"{row['mfu']:.1%}"
        lines.append(
            f"{row['k']:>3} {row['frozen_layers']:>6} {row['model_only_images_per_s']:>17,.1f} {row['input_only_images_per_s']:>17,.1f} "
            f"{row['full_path_images_per_s']:>16,.1f} {row['ratio']:>6.3f} {row['host_ms_per_step']:>12.2f} {device:>14} "
            f"{row['train_gflop_per_image']:>9.3f} {mfu:>6}"
        )
    return "\n".join(lines)


def layer_counts(text: str) -> list[int]:
    return [int(k) for k in text.split(",")]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m transfer_lab.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", type=layer_counts, default=[0, 5], help="layers frozen, comma-separated (default 0,5); 0 = a base network")
    parser.add_argument("--warmup", type=int, default=5, help="steps before timing (cudnn autotuning, compilation)")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per measurement (default 200: the full path crosses epoch boundaries)")
    parser.add_argument("--loader-jobs", type=int, default=0, metavar="N",
                        help="instead: N input-only loaders at once in N processes (the jobs of an N-GPU host), aggregate img/s")
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
    record = {
        "command": command_line("python -m transfer_lab.bench", argv),
        "device": device_name(),
        "torch": torch.__version__,
        "time": datetime.now().isoformat(timespec="seconds"),
    }
    if args.loader_jobs:
        record["loader_jobs"] = loader_jobs(args.loader_jobs, args.overrides, args.steps)
        print(f"{args.loader_jobs} input-only loaders at once, {args.steps} batches each: "
              f"{record['loader_jobs']['aggregate_images_per_s']:,.0f} img/s in aggregate "
              f"(slowest loader {record['loader_jobs']['slowest_job_images_per_s']:,.0f} img/s)")
    else:
        try:
            rows = [measure(k, args.overrides, args.warmup, args.steps) for k in args.ks]
        except TrainingDiverged as err:
            fail(f"{err}: the bench's step rates would not be those of a run, which stops here")
        print(table(rows))
        record.update(warmup_steps=args.warmup, timed_steps=args.steps, rows=rows)
    out = Path(args.out) if args.out else Path(spec.root) / "bench" / f"bench-{datetime.now():%Y%m%d-%H%M%S}.json"
    write_json(out, record)
    print(f"written: {out}")
    return record


if __name__ == "__main__":
    main()
