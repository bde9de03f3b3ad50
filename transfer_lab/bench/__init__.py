"""`python -m transfer_lab.bench [--ks 0,5] [overrides]`: training throughput on whatever device there is.

For each k (0 = a base network, k > 0 = layers 1..k frozen) it measures, in images per second:
  model-only  the training step alone (forward, backward, SGD step) on one batch already on the
              device and already cropped: what the model can eat
  plain loop  the same step in a plain PyTorch loop around it: batches from the run's loader, cropped,
              and the lr schedule stepped, no Lightning
  input-only  cache -> BatchLoader -> device -> crop/mirror/mean subtraction, no network: what the
              input pipeline can deliver (it must exceed model-only for a ratio near 1)
  full path   the two together inside the Lightning loop, exactly as a run trains, over epoch
              boundaries (200 timed steps by default; a half of fewer batches is crossed)
  ratio       full path / model-only: 1.0 means the input pipeline and the loop cost nothing
  /plain      full path / plain loop: what Lightning's loop costs beyond a plain one
Model-only, plain loop and full path are timed in turn --rounds times (default 3), each rate its best round.
and, per step of the full path, the main thread's CPU time (host ms/step: above the device time,
the host is the limit), the device time between CUDA events around each step (device ms/step; n/a
on the CPU), and the model FLOP utilisation: training GFLOP per image (forward through every layer,
backward 2x forward through the trainable ones, no input gradient for the first trainable layer)
x images/s over the device's dense bf16 peak (PEAK_BF16_TFLOPS; n/a where the device is not in the table).
A training loss that turns NaN or infinite stops the bench with one line, as it stops a run.
Same network, precision, memory format and compile settings as a run with the same overrides (e.g.
data=imagenet data.root=PATH model.compile=false); no progress bar unless trainer.enable_progress_bar=true;
validation, logging and checkpoints are off.
`--study [overrides]` (e.g. +exp=grid) instead prices a sweep: bench/study.py.
Prints a table and writes it as JSON (--out, default <paths.root>/bench/).
"""

import argparse
import os
from datetime import datetime
from pathlib import Path

import pytorch_lightning as pl
import torch

from transfer_lab.bench.loaders import loader_jobs
from transfer_lab.bench.rates import device_name, measure_module
from transfer_lab.bench.study import job_kinds, price_study, study_table
from transfer_lab.bench.timing import spec_for
from transfer_lab.console import command_line, fail, quiet_libraries
from transfer_lab.data.registry import load_dataset, target_half
from transfer_lab.devices import PARALLEL_JOBS_ENV, prepare_cpu
from transfer_lab.errors import ConfigError, TrainingDiverged
from transfer_lab.io import write_json
from transfer_lab.run.build import build_module
from transfer_lab.spec import NUM_LAYERS


def measure(k: int, overrides: list[str], warmup: int, steps: int, rounds: int) -> dict:
    spec = spec_for(k, overrides)
    _, _, half = target_half(spec)
    on_gpu = torch.cuda.is_available()
    module = build_module(spec, len(half.classes), half.mean_image(), on_gpu=on_gpu)
    return {
        "k": k,
        "frozen_layers": module.frozen_layers,
        **measure_module(module, spec, half, warmup, steps, rounds=rounds),
    }


def table(rows: list[dict]) -> str:
    first = rows[0]
    lines = [
        f"{first['model']} on {first['dataset']}: {first['crop_size']} px crops of {first['image_size']} px, "
        f"batch {first['batch_size']}, {first['precision']}, channels_last={first['channels_last']}, "
        f"compile={first['compile']}{' (' + first['compile_mode'] + ')' if first['compile_mode'] else ''}, "
        f"fused SGD={first['fused_optimizer']}, progress bar {first['progress_bar']}, "
        f"{first['loader_threads']} loader threads",
        f"{'k':>3} {'frozen':>6} {'model-only img/s':>17} {'plain loop img/s':>17} {'input-only img/s':>17} "
        f"{'full path img/s':>16} {'ratio':>6} {'/plain':>6} "
        f"{'host ms/step':>12} {'device ms/step':>14} {'GFLOP/img':>9} {'MFU':>6}",
    ]
    for row in rows:
        device = "n/a" if row["device_ms_per_step"] is None else f"{row['device_ms_per_step']:.2f}"
        mfu = "n/a" if row["mfu"] is None else f"{row['mfu']:.1%}"
        lines.append(
            f"{row['k']:>3} {row['frozen_layers']:>6} {row['model_only_images_per_s']:>17,.1f} "
            f"{row['plain_loop_images_per_s']:>17,.1f} {row['input_only_images_per_s']:>17,.1f} "
            f"{row['full_path_images_per_s']:>16,.1f} {row['ratio']:>6.3f} {row['ratio_to_plain_loop']:>6.3f} "
            f"{row['host_ms_per_step']:>12.2f} {device:>14} "
            f"{row['train_gflop_per_image']:>9.3f} {mfu:>6}"
        )
    return "\n".join(lines)


def layer_counts(text: str) -> list[int]:
    return [int(k) for k in text.split(",")]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m transfer_lab.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ks",
        type=layer_counts,
        default=[0, 5],
        help="layers frozen, comma-separated (default 0,5); 0 = a base network",
    )
    parser.add_argument("--warmup", type=int, default=5, help="steps before timing (cudnn autotuning, compilation)")
    parser.add_argument(
        "--steps",
        type=int,
        default=200,
        help="timed steps per measurement (default 200: the full path crosses epoch boundaries)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="model-only, plain loop and full path timed in turn this many times; each rate is its best round "
        "(default 3)",
    )
    parser.add_argument(
        "--loader-jobs",
        type=int,
        default=0,
        metavar="N",
        help="instead: N input-only loaders at once in N processes (the jobs of an N-GPU host), aggregate img/s",
    )
    parser.add_argument(
        "--study",
        action="store_true",
        help="instead: the device-hours of the sweep the overrides describe (e.g. +exp=grid), "
        "each kind of its jobs timed",
    )
    parser.add_argument("--out", help="JSON file to write (default <paths.root>/bench/bench-<time>.json)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. data=imagenet data.root=PATH")
    args = parser.parse_intermixed_args(argv)  # options may follow the overrides (scripts/gpu_check.sh)
    # The bench prints its table: no progress bar (trainer.enable_progress_bar=true after it shows one), no notices.
    args.overrides = ["trainer.enable_progress_bar=false", *args.overrides]
    if "verbose=true" not in args.overrides:
        quiet_libraries()
    pl.seed_everything(0, verbose=False)
    try:
        bad = [k for k in args.ks if not 0 <= k <= NUM_LAYERS - 1]
        if bad or min(args.warmup, args.steps, args.rounds) < 1:
            raise ConfigError(
                f"--ks {bad} / --warmup {args.warmup} / --steps {args.steps} / --rounds {args.rounds}: "
                f"use ks in 0..{NUM_LAYERS - 1}, warmup, steps and rounds >= 1"
            )
        # Bad overrides or a missing cache stop here, before any work.
        kinds, workers = job_kinds(args.overrides) if args.study else (None, 1)
        spec = kinds[0].specs[0] if args.study else spec_for(args.ks[0], args.overrides)
        load_dataset(spec.data)
    except ConfigError as err:
        fail(str(err))
    if args.study:
        os.environ[PARALLEL_JOBS_ENV] = str(workers)  # as the sweep sets it: a CPU job's share of the cores
    if not torch.cuda.is_available():
        prepare_cpu()  # as a run does: before the first parallel op
    record = {
        "command": command_line("python -m transfer_lab.bench", argv),
        "device": device_name(),
        "torch": torch.__version__,
        "time": datetime.now().isoformat(timespec="seconds"),
    }
    if args.loader_jobs:
        record["loader_jobs"] = loader_jobs(args.loader_jobs, args.overrides, args.steps)
        print(
            f"{args.loader_jobs} input-only loaders at once, {args.steps} batches each: "
            f"{record['loader_jobs']['aggregate_images_per_s']:,.0f} img/s in aggregate "
            f"(slowest loader {record['loader_jobs']['slowest_job_images_per_s']:,.0f} img/s)"
        )
    else:
        try:
            if args.study:
                study = price_study(kinds, workers, args.warmup, args.steps, args.rounds)
            else:
                rows = [measure(k, args.overrides, args.warmup, args.steps, args.rounds) for k in args.ks]
        except TrainingDiverged as err:
            fail(f"{err}: the bench's step rates would not be those of a run, which stops here")
        print(study_table(study, record["device"]) if args.study else table(rows))
        record.update(
            warmup_steps=args.warmup,
            timed_steps=args.steps,
            rounds=args.rounds,
            **({"study": study} if args.study else {"rows": rows}),
        )
    out = Path(args.out) if args.out else Path(spec.root) / "bench" / f"bench-{datetime.now():%Y%m%d-%H%M%S}.json"
    write_json(out, record)
    print(f"written: {out}")
    return record


if __name__ == "__main__":
    main()
