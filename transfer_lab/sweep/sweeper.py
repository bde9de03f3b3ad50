"""A sweep (Hydra multirun) of the study, run by our own Hydra sweeper (conf/hydra/sweeper/study.yaml).

Before the first job starts, every job is expanded (the cartesian product of the sweep's overrides,
as Hydra's basic sweeper makes it) and checked, config and inputs: bad input stops the sweep before
any training. The job list (a manifest) is written for the jobs to print their progress line from.
Jobs whose run already completed are dropped before anything is launched, so re-running a finished
sweep only rewrites its report. At the end: the report, and a non-zero exit status if a job failed.
"""

import itertools
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext
from omegaconf import DictConfig

from transfer_lab.console import check_writable, fail
from transfer_lab.devices import PARALLEL_JOBS_ENV
from transfer_lab.errors import ConfigError
from transfer_lab.io import read_json, write_json
from transfer_lab.kinds import kind_of
from transfer_lab.layout import FAILED_FILE, SWEEPS
from transfer_lab.report import log_to_wandb, write_report
from transfer_lab.run.inputs import check_inputs
from transfer_lab.spec import RunSpec, spec_from_config, stable_hash
from transfer_lab.sweep.progress import MANIFEST_ENV, job_state, progress_line


def job_overrides(arguments: list[str]) -> list[list[str]]:
    """The override list of every job: the cartesian product of the sweep overrides, in the order
    given; a key given twice takes its last values (the command line's over hydra.sweeper.params)."""
    choices: dict[str, list[str]] = {}
    for override in OverridesParser.create().parse_overrides(arguments):
        key = override.get_key_element()
        if override.is_sweep_override():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*choices.values())]


def plan(config: DictConfig, hydra_context: HydraContext, jobs_overrides: list[list[str]]) -> list[dict]:
    """Every job's config checked (one line and exit 2 on the first bad one): its overrides, run folder and name."""
    jobs, checked = [], set()
    for overrides in jobs_overrides:
        try:
            cfg = hydra_context.config_loader.load_sweep_config(config, overrides)
            spec = spec_from_config(cfg)
            # What check_inputs reads: the data, halves and a kind's own settings (probe.*, similarity.*).
            inputs = stable_hash([spec.data, spec.split, spec.target, spec.source, spec.kind, spec.options])
            if inputs not in checked:  # each distinct check once per sweep, not once per job
                check_inputs(spec)
                checked.add(inputs)
        except (ConfigError, HydraException) as err:
            fail(f"job {' '.join(overrides)}: {str(err).splitlines()[0]}")
        run_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
        kind = kind_of(spec)
        jobs.append(
            {
                "overrides": overrides,
                "run_dir": str(run_dir.absolute()),
                "series": spec.series,
                "k": spec.k,
                "network": kind.job_kind(spec),
                "wandb_group": spec.study.wandb_group,
                "config_hash": spec.config_hash,
                "fuse_key": fuse_key(spec),
            }
        )
    return jobs


def launcher_workers(launcher: DictConfig) -> int:
    """How many jobs the launcher runs at once (joblib's n_jobs, submitit's array_parallelism)."""
    return int(launcher.get("n_jobs") or launcher.get("array_parallelism") or 1)


def fuse_key(spec: RunSpec) -> str | None:
    """Frozen transfers with the same key differ only in k: fuse_frozen trains them as one job."""
    return stable_hash(replace(spec, k=0).as_dict()) if kind_of(spec).fuses(spec) else None


def fuse_frozen(pending: list[dict]) -> list[dict]:
    """The jobs to launch: frozen transfers that differ only in k become one job, their first, which
    trains them all side by side (run/fused.py); its manifest entry lists the others under fused_with."""
    groups: dict[str, list[dict]] = {}
    for job in pending:
        if job["fuse_key"] is not None:
            groups.setdefault(job["fuse_key"], []).append(job)
    launched = []
    for job in pending:
        group = groups.get(job["fuse_key"], [job])
        if job is group[0]:
            if len(group) > 1:
                job["fused_with"] = [
                    {key: other[key] for key in ("k", "run_dir", "config_hash")} for other in group[1:]
                ]
            launched.append(job)
    return launched


def sweep(
    config: DictConfig, hydra_context: HydraContext, launcher: Launcher, arguments: list[str], fuse: bool = True
) -> list:
    """Check, launch what is not done yet (frozen transfers from one base as one job if `fuse`), report;
    exits 1 if any job failed."""
    check_writable(str(config.paths.root))
    jobs = plan(config, hydra_context, job_overrides(arguments))
    workers = launcher_workers(config.hydra.launcher)
    pending = [job for job in jobs if job_state(Path(job["run_dir"])) != "done"]
    launched = fuse_frozen(pending) if fuse else pending
    manifest_path = (
        Path(str(config.paths.root)) / SWEEPS / f"{time.strftime('%Y%m%d-%H%M%S')}-{stable_hash(jobs)[:8]}.json"
    )
    manifest = {"jobs": jobs, "workers": workers, "started": time.time()}
    write_json(manifest_path, manifest)
    # Inherited by the jobs (in this process or launcher workers).
    os.environ[MANIFEST_ENV] = str(manifest_path)
    os.environ[PARALLEL_JOBS_ENV] = str(workers)

    returns = []
    if pending:
        already = f", {len(jobs) - len(pending)} already done" if len(pending) < len(jobs) else ""
        fused = f", {len(pending) - len(launched)} trained alongside another" if len(launched) < len(pending) else ""
        print(
            f"sweep of {len(jobs)} jobs{already}{fused}, {workers} at a time ({manifest_path}): "
            f"{progress_line(manifest, [])}",
            file=sys.stderr,
        )
        returns = launcher.launch([job["overrides"] for job in launched], initial_job_idx=0)
    else:
        print(f"{len(jobs)} of {len(jobs)} runs already done ({manifest_path})", file=sys.stderr)
    report(config, manifest)
    return returns


def report(config: DictConfig, manifest: dict) -> None:
    """The sweep's report and, for failed jobs, their errors and exit status 1."""
    run_dirs = [Path(job["run_dir"]) for job in manifest["jobs"]]
    out = Path(str(config.report_dir))
    try:
        path = write_report([d for d in run_dirs if d.exists()], out)
        if str(config.logger.get("_target_", "")).endswith("WandbLogger"):
            log_to_wandb(out, config.logger.project, manifest["jobs"][0]["wandb_group"])
        print(f"sweep finished: {progress_line(manifest, [])}; report: {path}", file=sys.stderr)
    except ConfigError as err:
        print(f"sweep finished: {progress_line(manifest, [])}; no report: {err}", file=sys.stderr)
    failed = [job for job in manifest["jobs"] if job_state(Path(job["run_dir"])) == "failed"]
    if failed:
        for job in failed:
            print(
                f"failed: {' '.join(job['overrides'])}: {read_json(Path(job['run_dir']) / FAILED_FILE)['error']}",
                file=sys.stderr,
            )
        print(f"{len(failed)} of {len(run_dirs)} jobs failed; re-run the same command to retry them", file=sys.stderr)
        sys.exit(1)
