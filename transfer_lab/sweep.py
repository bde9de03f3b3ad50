"""Sweeps (Hydra multiruns) of the study: checked up front, one line per finished job, and a report.

A Hydra callback expands the sweep's jobs exactly as Hydra's basic sweeper does, checks every job's
config and inputs before the first job starts (bad input stops the sweep before any training) and
writes the sweep's job list (a manifest) that each job reads to print its line (name, top-1,
seconds, the sweep's progress and ETA) and that the end-of-sweep report covers. Jobs whose
result.json already exists for the same config finish at once ("already done"), so re-running a
sweep resumes it. The ETA comes from the measured time per network of each kind (base, frozen,
fine-tuned), which each job that trained appends to the manifest's times file.
"""

import json
import os
import statistics
import sys
import time
from pathlib import Path

from hydra import compose
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from transfer_lab.console import outcome
from transfer_lab.devices import PARALLEL_JOBS_ENV
from transfer_lab.errors import ConfigError
from transfer_lab.io import owner_alive, read_json, write_json, write_owner
from transfer_lab.loggers import study_group
from transfer_lab.similarity import SIMILARITY_FILE
from transfer_lab.spec import spec_from_config, stable_hash

MANIFEST_ENV = "TRANSFER_LAB_SWEEP_MANIFEST"


def expand_jobs(config: DictConfig) -> list[list[str]]:
    """The override lists of every job of this multirun, as Hydra's basic sweeper expands them."""
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.params or {}).items()]
    overrides = OverridesParser.create().parse_overrides([*params, *config.hydra.overrides.task])
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def plan_sweep(config: DictConfig) -> Path:
    """Check every job's config and inputs (one line and exit 2 on the first bad one) and write the
    sweep's manifest: each job's overrides and run folder."""
    from transfer_lab.cli import fail
    from transfer_lab.train import check_inputs

    jobs, checked = [], set()
    for overrides in expand_jobs(config):
        try:
            cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
            spec = spec_from_config(cfg)
            inputs = stable_hash([spec.data, spec.split, spec.target, spec.source])
            if inputs not in checked:
                check_inputs(spec)
                checked.add(inputs)
        except (ConfigError, HydraException) as err:
            fail(f"job {' '.join(overrides)}: {str(err).splitlines()[0]}")
        run_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
        jobs.append({"overrides": overrides, "run_dir": str(run_dir.absolute()), "series": spec.series, "k": spec.k,
                     "network": network_kind(spec), "wandb_group": study_group(spec)})
    workers = int(config.hydra.launcher.get("n_jobs") or config.hydra.launcher.get("array_parallelism") or 1)
    manifest = Path(str(config.paths.root)) / "sweeps" / f"{time.strftime('%Y%m%d-%H%M%S')}-{stable_hash(jobs)[:8]}.json"
    write_json(manifest, {"jobs": jobs, "workers": workers, "started": time.time()})
    return manifest


def job_state(run_dir: Path) -> str:
    """done, failed, running or left: from the files a run leaves in its folder."""
    if (run_dir / "result.json").exists() or (run_dir / SIMILARITY_FILE).exists():
        return "done"
    if (run_dir / "failed.json").exists():
        return "failed"
    marker = run_dir / "running.json"
    if marker.exists():
        try:
            return "running" if owner_alive(read_json(marker)) else "left"
        except (OSError, ValueError):
            return "left"
    return "left"


def network_kind(spec) -> str:
    """What a job trains, for the ETA: networks of one kind take about as long as each other."""
    if spec.kind != "transfer":
        return spec.kind
    return "frozen" if spec.freeze else "fine-tuned"


def times_path(manifest_path: str | Path) -> Path:
    return Path(manifest_path).with_suffix(".times.jsonl")


def measured_times(manifest_path: str | Path) -> list[dict]:
    path = times_path(manifest_path)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def progress_line(manifest: dict, times: list[dict]) -> str:
    """done / failed / left (running ones count as left), and the time left if any job has been measured."""
    states = [job_state(Path(job["run_dir"])) for job in manifest["jobs"]]
    left = states.count("left") + states.count("running")
    line = f"{states.count('done')} done, {states.count('failed')} failed, {left} left"
    seconds = time_left(manifest, states, times)
    return line + (f"; about {_duration(seconds)} left" if left and seconds is not None else "")


def time_left(manifest: dict, states: list[str], times: list[dict]) -> float | None:
    """The jobs left at the mean measured time of their kind of network (of all kinds where not yet
    measured), minus what running jobs have already spent, over the parallel workers."""
    if not times:
        return None
    per_kind = {kind: statistics.fmean(t["seconds"] for t in times if t["network"] == kind) for kind in {t["network"] for t in times}}
    overall = statistics.fmean(t["seconds"] for t in times)
    total = 0.0
    for job, state in zip(manifest["jobs"], states):
        if state in ("left", "running"):
            expected = per_kind.get(job.get("network"), overall)
            total += max(0.0, expected - _running_for(Path(job["run_dir"]))) if state == "running" else expected
    return total / manifest["workers"]


def _running_for(run_dir: Path) -> float:
    try:
        return time.time() - float(read_json(run_dir / "running.json")["started"])
    except (OSError, ValueError, KeyError):
        return 0.0


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def current_manifest() -> dict | None:
    path = os.environ.get(MANIFEST_ENV)
    return read_json(path) if path and Path(path).exists() else None


class RunMarker:
    """running.json in the run folder while the job runs; in a sweep, the job's line when it ends:
    its name, top-1 (set `result` on the marker) or error, seconds, and the sweep's progress."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / "running.json"
        self.result: dict | None = None
        self.error: str | None = None

    def __enter__(self):
        write_owner(self.path)
        self.started = time.time()
        return self

    def __exit__(self, exc_type, exc, traceback):
        self.path.unlink(missing_ok=True)
        manifest = current_manifest()
        if manifest is None:
            return
        manifest_path, seconds = os.environ[MANIFEST_ENV], time.time() - self.started
        job = next((j for j in manifest["jobs"] if Path(j["run_dir"]) == self.path.parent.absolute()), None)
        name = f"{job['series']}_k{job['k']}" if job and job["k"] else (job["series"] if job else self.path.parent.name)
        if self.result is not None and self.result.get("finished_at", 0) >= self.started:  # trained here, not "already done"
            with open(times_path(manifest_path), "a") as f:  # one short line per job: appends do not interleave
                f.write(json.dumps({"network": job.get("network") if job else None, "seconds": seconds}) + "\n")
        if self.result is not None:
            line = outcome(self.result)
        else:
            line = f"failed: {self.error or (exc_type.__name__ if exc_type else 'unknown error')}"
        print(f"{name}: {line}, {seconds:.0f} s | {progress_line(manifest, measured_times(manifest_path))}", file=sys.stderr)


class StudySweep(Callback):
    """Before a multirun: every job checked, manifest written. After it: the report, and a non-zero
    exit status if any job failed."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        manifest = plan_sweep(config)
        jobs = read_json(manifest)
        # Inherited by the jobs (in this process or launcher workers).
        os.environ[MANIFEST_ENV] = str(manifest)
        os.environ[PARALLEL_JOBS_ENV] = str(jobs["workers"])
        print(f"sweep of {len(jobs['jobs'])} jobs, {jobs['workers']} at a time ({manifest}): {progress_line(jobs, [])}", file=sys.stderr)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from transfer_lab.report import log_to_wandb, write_report

        manifest = current_manifest()
        if manifest is None:
            return
        run_dirs = [Path(job["run_dir"]) for job in manifest["jobs"]]
        out = Path(str(config.report_dir))
        try:
            report = write_report([d for d in run_dirs if d.exists()], out)
            if str(config.logger.get("_target_", "")).endswith("WandbLogger"):
                log_to_wandb(out, config.logger.project, manifest["jobs"][0]["wandb_group"])
            print(f"sweep finished: {progress_line(manifest, [])}; report: {report}", file=sys.stderr)
        except ConfigError as err:
            print(f"sweep finished: {progress_line(manifest, [])}; no report: {err}", file=sys.stderr)
        failed = [job for job in manifest["jobs"] if job_state(Path(job["run_dir"])) == "failed"]
        if failed:
            for job in failed:
                error = read_json(Path(job["run_dir"]) / "failed.json")["error"]
                print(f"failed: {' '.join(job['overrides'])}: {error}", file=sys.stderr)
            print(f"{len(failed)} of {len(run_dirs)} jobs failed; re-run the same command to retry them", file=sys.stderr)
            sys.exit(1)
