"""One module (a network, or a fused group of frozen transfers) timed three ways: its row of the bench."""

import platform
from pathlib import Path

import numpy as np
import torch

from transfer_lab.bench.flops import peak_bf16_tflops, training_gflop_per_image, utilisation
from transfer_lab.bench.timing import full_path, input_only, model_only, plain_loop
from transfer_lab.data.loader import BatchLoader
from transfer_lab.spec import RunSpec


def measure_module(
    module, spec: RunSpec, half, warmup: int, steps: int, run_dir: Path | None = None, rounds: int = 1
) -> dict:
    """model-only, plain-loop, input-only and full-path rates of `module` (built for `spec` on the CPU), in images
    (batch rows) per second; run_dir: the full path runs a run's Trainer there (logger, checkpoints). rounds:
    model-only, plain loop and full path are timed in turn this many times, and each rate is its best round: a
    step's own speed, without what other programs on the machine took (the rounds are in the record)."""
    batch_size = min(spec.recipe["batch_size"], len(half.train_labels))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = module.to(device)
    images, labels = (t.to(device) for t in half_batch(half, batch_size))
    # The Trainer sets the cuDNN autotuner from its config when it is built; the model-only steps run before that.
    torch.backends.cudnn.benchmark = bool(spec.trainer.get("benchmark", False))
    threads = spec.data["loader_threads"]
    gflop = training_gflop_per_image(module, spec.data["channels"], spec.data["crop_size"])
    peak = peak_bf16_tflops(device_name())
    # One module for all measurements: when compiled, it is compiled once, here.
    timed = {"model_only": [], "plain_loop": [], "full_path": []}
    for _ in range(rounds):
        timed["model_only"].append(model_only(module, spec, images, labels, device, warmup, steps))
        timed["plain_loop"].append(plain_loop(module, spec, half, batch_size, threads, device, warmup, steps))
        timed["full_path"].append(full_path(module, spec, half, batch_size, threads, warmup, steps, run_dir))
    feed = input_only(module, half, batch_size, threads, device, warmup, steps)
    rates = {name: [steps * batch_size / timing["seconds"] for timing in runs] for name, runs in timed.items()}
    best = {name: max(range(rounds), key=rates[name].__getitem__) for name in timed}  # each one's fastest round
    fast, real = timed["model_only"][best["model_only"]], timed["full_path"][best["full_path"]]
    fast_rate, plain_rate, real_rate = (rates[name][best[name]] for name in timed)
    return {
        "batch_size": batch_size,
        "model_only_images_per_s": round(fast_rate, 1),
        "plain_loop_images_per_s": round(plain_rate, 1),
        "input_only_images_per_s": round(steps * batch_size / feed["seconds"], 1),
        "full_path_images_per_s": round(real_rate, 1),
        "ratio": round(real_rate / fast_rate, 3),
        "ratio_to_plain_loop": round(real_rate / plain_rate, 3),
        "rounds": {f"{name}_images_per_s": [round(rate, 1) for rate in runs] for name, runs in rates.items()},
        "host_ms_per_step": rounded(real["host_ms_per_step"]),
        "device_ms_per_step": rounded(real["device_ms_per_step"]),
        "model_only_host_ms_per_step": rounded(fast["host_ms_per_step"]),
        "model_only_device_ms_per_step": rounded(fast["device_ms_per_step"]),
        "epoch_boundaries_crossed": real["epoch_boundaries_crossed"],
        "train_gflop_per_image": round(gflop, 4),
        "peak_bf16_tflops": peak,
        "mfu": utilisation(real_rate, gflop, peak),
        "model_only_mfu": utilisation(fast_rate, gflop, peak),
        "precision": str(spec.trainer.get("precision")),
        "channels_last": getattr(module, "members", [module])[0].memory_format == torch.channels_last,
        "compile": bool(getattr(module, "compiled", False)),
        "compile_mode": spec.model.get("compile_mode"),
        "fused_optimizer": real["fused_optimizer"],
        "progress_bar": progress_bar(spec),
        "loader_threads": threads,
        "dataset": spec.data["name"],
        "image_size": spec.data.get("image_size"),
        "crop_size": spec.data["crop_size"],
        "model": spec.model["name"],
        "n_train_images": len(half.train_labels),
    }


def progress_bar(spec: RunSpec) -> str:
    bar = spec.callbacks.get("progress_bar")
    return f"every {bar['refresh_rate']} steps" if bar and spec.trainer.get("enable_progress_bar", True) else "off"


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def half_batch(half, batch_size: int):
    """The first training batch of the half, as the loader serves it."""
    return BatchLoader(half.train_images, half.train_labels, batch_size, shuffle=False).gather(np.arange(batch_size))


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
