"""`bench --study [overrides]`: the device-hours of a sweep (e.g. +exp=grid), from its jobs timed here.

The jobs are planned as the sweep plans them (sweep/sweeper.py: the cartesian product of
hydra.sweeper.params and the command line's overrides, frozen transfers that differ only in k fused
into one job when hydra.sweeper.fuse_frozen). Each distinct kind of job (a base, a fine-tuned
transfer, a random-filters run, each fused group of frozen transfers by its ks) is built as the run
builds it (run/build.py, run/fused.py) and timed for N steps through a run's Trainer (its logger
and checkpoints, in a throw-away folder). A job's hours: the steps it trains at the recipe's
schedule (a scarce run keeps the full half's, data/scarcity.py) x the seconds per step of its kind.
Training steps only: the validation of the final weights (a few % of a run) is not priced.
"""

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from transfer_lab.bench.rates import measure_module
from transfer_lab.compose import compose_config
from transfer_lab.data.registry import training_half
from transfer_lab.data.scarcity import full_half_schedule
from transfer_lab.errors import ConfigError
from transfer_lab.kinds import kind_of
from transfer_lab.run.build import build_module
from transfer_lab.run.fused import fused_module
from transfer_lab.spec import RunSpec, spec_from_config
from transfer_lab.sweep.sweeper import fuse_frozen, fuse_key, job_overrides, launcher_workers

PRICED_KINDS = ("base", "fine-tuned", "frozen", "random")


@dataclass
class JobKind:
    """Jobs that train alike: one of them is timed, each is priced at its own number of steps."""

    name: str
    specs: list[RunSpec]  # the networks of the first job (several: a fused group)
    steps: list[int] = field(default_factory=list)  # per job: training steps at the recipe's schedule


def plan_jobs(overrides: list[str]) -> tuple[list[dict], bool, int]:
    """The sweep's jobs of `overrides` (each: overrides, spec, fuse_key), whether it fuses frozen
    transfers, and how many jobs it runs at once."""
    hydra = compose_config(overrides, hydra=True).hydra
    sweeper = hydra.sweeper
    params = OmegaConf.to_container(sweeper.params, resolve=True) if sweeper.get("params") else {}
    params = [f"{key}={value}" for key, value in params.items()]
    jobs = []
    for job in job_overrides([*params, *overrides]):
        spec = spec_from_config(compose_config(job))
        if kind_of(spec).job_kind(spec) not in PRICED_KINDS:
            raise ConfigError(
                f"bench --study prices networks trained by SGD ({', '.join(PRICED_KINDS)}): "
                f"job {' '.join(job)} is a {spec.kind} job"
            )
        jobs.append(
            {
                "overrides": job,
                "spec": spec,
                "run_dir": spec.run_name,
                "k": spec.k,
                "config_hash": spec.config_hash,
                "fuse_key": fuse_key(spec),
            }
        )
    return jobs, bool(sweeper.get("fuse_frozen", True)), launcher_workers(hydra.launcher)


def kind_name(job: dict) -> str:
    members = [job["k"], *(other["k"] for other in job.get("fused_with", []))]
    name = kind_of(job["spec"]).job_kind(job["spec"])
    return f"{name} k={','.join(map(str, members))} (fused)" if len(members) > 1 else name


def job_kinds(overrides: list[str]) -> tuple[list[JobKind], int]:
    """The launched jobs of the sweep grouped by kind, with each job's steps; how many run at once."""
    jobs, fuse, workers = plan_jobs(overrides)
    by_run = {job["run_dir"]: job["spec"] for job in jobs}
    kinds: dict[str, JobKind] = {}
    for job in fuse_frozen(jobs) if fuse else jobs:
        name = kind_name(job)
        if name not in kinds:
            fused = [by_run[other["run_dir"]] for other in job.get("fused_with", [])]
            kinds[name] = JobKind(name, [job["spec"], *fused])
        _, _, _, fields = training_half(job["spec"])
        kinds[name].steps.append(full_half_schedule(job["spec"].recipe, fields["n_train_images_full"])["max_steps"])
    return list(kinds.values()), workers


def build(kind: JobKind, half, folder: Path) -> pl.LightningModule:
    """The module the kind's job trains (the weights of copied layers do not matter for its speed); a fused
    group's networks keep their records in `folder`."""
    on_gpu = torch.cuda.is_available()
    if len(kind.specs) > 1:
        members = [(spec, folder / spec.network) for spec in kind.specs]
        return fused_module(members, len(half.classes), half.mean_image(), None, on_gpu)
    (spec,) = kind.specs
    pl.seed_everything(spec.rng_seed, workers=True, verbose=False)  # as fit() seeds it
    return build_module(spec, len(half.classes), half.mean_image(), on_gpu=on_gpu)


def price_study(kinds: list[JobKind], workers: int, warmup: int, steps: int, rounds: int = 1) -> dict:
    """Each kind of job of a sweep (job_kinds) timed, and the sweep's device-hours (wall hours: with
    `workers` jobs at once, each on a device of its own: a GPU, or on a CPU its share of the cores)."""
    rows = []
    for kind in kinds:
        spec = kind.specs[0]
        _, _, half, _ = training_half(spec)
        folder = Path(tempfile.mkdtemp(prefix="bench-study-"))
        try:
            rates = measure_module(build(kind, half, folder), spec, half, warmup, steps, folder, rounds)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        seconds_per_step = rates["batch_size"] / rates["full_path_images_per_s"]
        rows.append(
            {
                "kind": kind.name,
                "jobs": len(kind.steps),
                "networks_per_job": len(kind.specs),
                "steps": sum(kind.steps),
                "seconds_per_step": round(seconds_per_step, 6),
                "device_hours": sum(kind.steps) * seconds_per_step / 3600,
                **rates,
            }
        )
    return {
        "rows": rows,
        "jobs": sum(row["jobs"] for row in rows),
        "networks": sum(row["jobs"] * row["networks_per_job"] for row in rows),
        "device_hours": sum(row["device_hours"] for row in rows),
        "jobs_at_once": workers,
        "wall_hours": sum(row["device_hours"] for row in rows) / workers,
    }


def study_table(study: dict, device: str) -> str:
    first = study["rows"][0]
    lines = [
        f"{first['model']} on {first['dataset']}, batch {first['batch_size']}, {first['precision']}, on {device}: "
        f"{study['jobs']} jobs training {study['networks']} networks, {study['jobs_at_once']} at a time",
        f"{'job kind':<30} {'jobs':>4} {'nets':>4} {'steps':>9} {'model-only img/s':>16} {'full path img/s':>15} "
        f"{'ratio':>6} {'MFU':>6} {'device-hours':>12}",
    ]
    for row in study["rows"]:
        mfu = "n/a" if row["mfu"] is None else f"{row['mfu']:.1%}"
        lines.append(
            f"{row['kind']:<30} {row['jobs']:>4} {row['networks_per_job']:>4} {row['steps']:>9,} "
            f"{row['model_only_images_per_s']:>16,.1f} {row['full_path_images_per_s']:>15,.1f} {row['ratio']:>6.3f} "
            f"{mfu:>6} {row['device_hours']:>12.4f}"
        )
    lines.append(
        f"{'total':<30} {study['jobs']:>4} {study['networks']:>4} {'':>9} {'':>16} {'':>15} {'':>6} {'':>6} "
        f"{study['device_hours']:>12.4f}"
    )
    lines.append(
        f"{study['jobs_at_once']} jobs at a time: about {study['wall_hours']:.4f} hours of wall time "
        f"({study['wall_hours'] * 60:.1f} min); validation and the first step's setup not included"
    )
    return "\n".join(lines)
