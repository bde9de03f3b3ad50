"""A sweep's progress, as its jobs see it: the manifest (every job's overrides and run folder,
written by the sweeper), each job's state from the files in its folder, the progress line with the
time left, and the line each job prints when it ends.

The time left comes from the measured time per network of each kind (base, frozen, fine-tuned),
which each job that trained appends to the manifest's times file.
"""

import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from transfer_lab.io import append_jsonl, owner_alive, read_json
from transfer_lab.layout import FAILED_FILE, RUNNING_FILE
from transfer_lab.run.record import RECORD_FILES, outcome
from transfer_lab.runname import network_name
from transfer_lab.spec import RunSpec

MANIFEST_ENV = "TRANSFER_LAB_SWEEP_MANIFEST"


def job_state(run_dir: Path) -> str:
    """done, failed, running or left: from the files a run leaves in its folder."""
    if any((run_dir / name).exists() for name in RECORD_FILES):
        return "done"
    if (run_dir / FAILED_FILE).exists():
        return "failed"
    marker = run_dir / RUNNING_FILE
    if marker.exists():
        try:
            return "running" if owner_alive(read_json(marker)) else "left"
        except (OSError, ValueError):
            return "left"
    return "left"


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
    per_kind = {
        kind: statistics.fmean(t["seconds"] for t in times if t["network"] == kind)
        for kind in {t["network"] for t in times}
    }
    overall = statistics.fmean(t["seconds"] for t in times)
    total = 0.0
    for job, state in zip(manifest["jobs"], states):
        if state in ("left", "running"):
            expected = per_kind.get(job.get("network"), overall)
            total += max(0.0, expected - _running_for(Path(job["run_dir"]))) if state == "running" else expected
    return total / manifest["workers"]


def _running_for(run_dir: Path) -> float:
    try:
        return time.time() - float(read_json(run_dir / RUNNING_FILE)["started"])
    except (OSError, ValueError, KeyError):
        return 0.0


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def current_manifest() -> dict | None:
    path = os.environ.get(MANIFEST_ENV)
    return read_json(path) if path and Path(path).exists() else None


def manifest_job(manifest: dict | None, run_dir: Path) -> dict | None:
    """The manifest's entry of the job whose run folder is run_dir (None outside a sweep)."""
    run_dir = Path(run_dir).absolute()
    return next((j for j in manifest["jobs"] if Path(j["run_dir"]) == run_dir), None) if manifest else None


def fused_members(spec: RunSpec, run_dir: Path) -> list[tuple[RunSpec, Path]]:
    """This sweep job's network and those the sweeper gave it to train alongside (sweeper.fuse_frozen);
    [] if it trains alone."""
    job = manifest_job(current_manifest(), run_dir)
    if not job or not job.get("fused_with"):
        return []
    members = [(spec, Path(run_dir))]
    for other in job["fused_with"]:
        member = replace(spec, k=other["k"])  # the sweeper grouped jobs whose specs differ only in k
        if member.config_hash != other["config_hash"]:
            raise RuntimeError(
                f"the sweep's job {other['run_dir']} is not {spec.series} with k={other['k']}: re-run the sweep"
            )
        members.append((member, Path(other["run_dir"])))
    return members


class JobLine:
    """A sweep job's line when it ends: its name, top-1 (set `result`: a record, or the records of the
    networks it trained side by side), error (set `error`) or why it was skipped (set `skipped`),
    seconds, and the sweep's progress; `stopped`: a signal stopped it after saving. Outside a sweep it prints
    nothing."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir).absolute()
        self.result: dict | list[dict] | None = None
        self.error: str | None = None
        self.skipped: str | None = None
        self.stopped: str | None = None  # stopped by a signal, to resume: "requeued: ..." or "stopped by SIGTERM ..."

    def __enter__(self):
        self.started = time.time()
        return self

    def __exit__(self, exc_type, exc, traceback):
        manifest = current_manifest()
        if manifest is None:
            return
        manifest_path, seconds = os.environ[MANIFEST_ENV], time.time() - self.started
        job = manifest_job(manifest, self.run_dir)
        name = network_name(job["series"], job["k"]) if job else self.run_dir.name
        results = self.result if isinstance(self.result, list) else [self.result] if self.result is not None else []
        trained = [r for r in results if r.get("finished_at", 0) >= self.started]  # trained here, not "already done"
        if trained:
            # Networks trained side by side share the job's time.
            measured = {"network": job.get("network") if job else None, "seconds": seconds / len(trained)}
            append_jsonl(times_path(manifest_path), [measured] * len(trained))
        if len(results) > 1:
            results.sort(key=lambda r: r["k"])
            name = network_name(results[0]["series"], ",".join(str(r["k"]) for r in results))
            line = "top-1 " + " ".join(f"{r['val_top1']:.4f}" for r in results)
        elif results:
            line = outcome(results[0])
        elif self.skipped is not None:
            line = f"skipped: {self.skipped}"
        elif self.stopped is not None:
            line = self.stopped
        else:
            line = f"failed: {self.error or (exc_type.__name__ if exc_type else 'unknown error')}"
        logged = next((f", W&B {r['wandb_run']}" for r in results if r.get("wandb_run")), "")
        print(
            f"{name}: {line}, {seconds:.0f} s{logged} | {progress_line(manifest, measured_times(manifest_path))}",
            file=sys.stderr,
        )
