"""The README's cluster command end to end on a real SLURM (scripts/slurm_local.sh starts a one-node one):
a grid submitted as a job array finishes with its report; jobs signalled as SLURM signals them before a
time limit (or a preemption) save, are requeued once and end bit for bit as jobs never interrupted; a
job cancelled outright resumes when the same command is submitted again."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import start_cli

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# Long enough to be signalled mid-run (a checkpoint every 5 steps; 240 steps train in ~5-10 s on one CPU
# per job: at 60, a job could end before a signal sent ~1 s after its first checkpoint reached it).
STEPS = 240
LONG = [
    "recipe.max_epochs=-1",
    f"recipe.max_steps={STEPS}",
    "recipe.checkpoint_every_n_steps=5",
    f"recipe.val_check_interval={STEPS}",
    "trainer.limit_val_batches=2",
]
GRID = ["-m", "+exp=grid", "run=baseA,baseB", *LONG]


@pytest.fixture(scope="module")
def slurm() -> list[str]:
    """The launcher overrides of the README's command for this SLURM's partition (skipped where none runs)."""
    sinfo = ["sinfo", "-h", "-o", "%P %t"]
    state = subprocess.run(sinfo, capture_output=True, text=True, check=False) if shutil.which("sinfo") else None
    ready = [line.split() for line in (state.stdout.splitlines() if state and state.returncode == 0 else [])]
    ready = [partition.rstrip("*") for partition, node in ready if node in ("idle", "mix", "alloc")]
    if not ready:
        reason = "no SLURM running here: start one with scripts/slurm_local.sh (as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)  # CI starts one (.ci/run): these tests must run there
        pytest.skip(reason)
    return [
        "hydra/launcher=slurm",
        f"hydra.launcher.partition={ready[0]}",
        "hydra.launcher.gpus_per_task=0",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=2",
    ]


def job_ids(root: Path) -> list[str]:
    """The SLURM ids of the jobs submitted from `root` that are still known to SLURM (array tasks as 12_0)."""
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %o"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if str(root) in line]


def wait_for_checkpoints(root: Path, count: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while len(list(root.glob("runs/**/checkpoints/last.ckpt"))) < count:
        assert time.time() < deadline and proc.poll() is None, "the jobs ended before their first checkpoints"
        time.sleep(0.5)


def signal_each_job_once_checkpointed(root: Path, proc: subprocess.Popen, timeout: float = 300) -> list[str]:
    """Sends each job of the sweep under `root` what --signal=USR2@90 sends 90 s before the time limit (and a
    preemption sends) as soon as its own run has written a checkpoint: mid-run, however far apart the jobs
    started (SLURM may start one only when another's CPU is free). Returns the tasks signalled."""
    deadline, signalled = time.time() + timeout, {}
    while len(signalled) < 2:
        assert time.time() < deadline and proc.poll() is None, "the jobs ended before their first checkpoints"
        for task in set(job_ids(root)) - set(signalled.values()):
            log = "".join(path.read_text(errors="replace") for path in root.glob(f"runs/.submitit/{task}/*_log.err"))
            run = re.search(r"^training (\w+) ", log, flags=re.MULTILINE)
            if run and list(root.glob(f"runs/**/{run[1]}/*/checkpoints/last.ckpt")):
                subprocess.run(["scancel", "--signal=USR2", task], check=True)
                signalled[run[1]] = task
        time.sleep(0.2)
    return sorted(signalled.values())


def job_logs(root: Path) -> str:
    """The jobs' stderr and stdout (submitit logs to stdout)."""
    return "".join(path.read_text(errors="replace") for path in sorted(root.glob("runs/.submitit/**/*_log.*")))


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    _, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr[-3000:]
    return stderr


def bases(root: Path) -> dict[str, tuple[dict, dict]]:
    """series -> (result record, base weights) of the bases trained under root."""
    out = {}
    for path in root.glob("runs/**/result.json"):
        result = json.loads(path.read_text())
        base = torch.load(result["base_checkpoint"], map_location="cpu", weights_only=False)
        out[result["series"]] = (result, base["net"])
    return out


def test_a_grid_signalled_before_its_time_limit_is_requeued_once_and_ends_as_if_never_interrupted(slurm, tmp_path):
    whole, signalled = tmp_path / "whole", tmp_path / "signalled"
    reference = start_cli(*GRID, *slurm, root=whole)
    sweep = start_cli(*GRID, *slurm, root=signalled)
    tasks = signal_each_job_once_checkpointed(signalled, sweep)
    assert all(re.fullmatch(r"\d+_[01]", task) for task in tasks), tasks  # one array, two tasks
    finish(reference)
    stderr = finish(sweep)

    assert "sweep finished: 2 done, 0 failed, 0 left; report:" in stderr
    assert (signalled / "reports").exists()
    logs = job_logs(signalled)
    for series in ("baseA", "baseB"):
        requeued = re.findall(rf"^{series}: requeued: preempted at step (\d+)", logs, flags=re.MULTILINE)
        assert len(requeued) == 1, logs[-3000:]  # requeued once, by submitit alone
        assert 0 < int(requeued[0]) < STEPS
        assert len(re.findall(rf"^resuming {series} from .*last\.ckpt$", logs, flags=re.MULTILINE)) == 1
    assert "failed" not in re.sub(r"\d+ failed", "", logs)
    assert sorted(set(re.findall(r"Requeued job (\d+_[01])", logs))) == sorted(tasks)  # submitit requeued each task

    expected, got = bases(whole), bases(signalled)
    assert sorted(expected) == sorted(got) == ["baseA", "baseB"]
    for series, (result, weights) in got.items():
        assert result["steps"] == STEPS and result["cpu_threads"] == 1
        assert result["val_top1"] == expected[series][0]["val_top1"]
        assert all(torch.equal(weights[key], expected[series][1][key]) for key in weights), series


def test_a_job_cancelled_outright_resumes_when_the_same_command_is_submitted_again(slurm, tmp_path):
    command = ["-m", "+exp=grid", "run=baseB", *LONG, *slurm]
    sweep = start_cli(*command, root=tmp_path)
    wait_for_checkpoints(tmp_path, 1, sweep)
    (task,) = job_ids(tmp_path)
    subprocess.run(["scancel", task], check=True)  # SIGTERM to the job: it ends its step, saves and exits
    deadline = time.time() + 120
    while job_ids(tmp_path):
        assert time.time() < deadline, "the cancelled job did not end"
        time.sleep(0.5)
    sweep.kill()  # without an accounting database the launcher cannot learn that the job was cancelled
    sweep.communicate()
    # "at step N" unless the signal came while that step's checkpoint was written (after StopOnSignal's check):
    # Lightning then stops at the same step's end itself, its last.ckpt complete, and the line cannot name the step.
    assert re.search(r"^baseB: stopped by SIGTERM( at step \d+)?;", job_logs(tmp_path), flags=re.MULTILINE)
    assert not list(tmp_path.glob("runs/**/result.json"))

    again = finish(start_cli(*command, root=tmp_path))
    assert "sweep finished: 1 done, 0 failed, 0 left" in again
    assert re.search(r"^resuming baseB from .*last\.ckpt$", job_logs(tmp_path), flags=re.MULTILINE)
    (result,) = bases(tmp_path).values()
    assert result[0]["steps"] == STEPS
