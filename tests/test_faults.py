"""Faults with real processes: kill -9, SIGTERM, concurrent bases, corrupt files, a full disk."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from conftest import FAST, REPO, start_cli

# Long enough to be interrupted (~200 steps), checkpointed every 5 steps.
SLOW = ["recipe.max_epochs=-1", "recipe.max_steps=200", "recipe.checkpoint_every_n_steps=5", "recipe.val_check_interval=100", "trainer.limit_val_batches=2"]


def wait_for_checkpoint(root: Path, proc: subprocess.Popen, timeout: float = 120) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = list(root.glob("runs/**/checkpoints/last.ckpt"))
        if found:
            return found[0]
        assert proc.poll() is None, f"the run ended before its first checkpoint: {proc.communicate()[1][-2000:]}"
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


def result_of(root: Path, pattern: str) -> dict:
    (path,) = root.glob(f"runs/**/{pattern}/*/result.json")
    return json.loads(path.read_text())


def test_kill_9_then_the_process_waiting_for_the_run_takes_over_and_ends_like_an_uninterrupted_run(root):
    holder = start_cli("+exp=base", "half=A", *SLOW, root=root)
    checkpoint = wait_for_checkpoint(root, holder)
    waiting = start_cli("+exp=base", "half=A", *SLOW, root=root)  # the same command: waits for the holder
    time.sleep(5)
    assert waiting.poll() is None, waiting.communicate()[1][-3000:]
    holder.kill()  # SIGKILL: no handler runs; the OS frees the run's and the base's locks
    holder.wait()
    assert not list(root.glob("runs/**/result.json"))
    step_at_kill = torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < step_at_kill < 200

    _, stderr = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, stderr[-3000:]
    assert re.search(rf"^waiting for baseA \(.*\): process {holder.pid} on ", stderr, flags=re.MULTILINE), stderr
    assert "taking over baseA (baseA-" in stderr and f"process {holder.pid} on" in stderr  # the dead process's base-store lock
    assert "resuming baseA" in stderr
    result = result_of(root, "baseA")
    assert result["status"] == "completed" and result["steps"] == 200
    assert len(list(root.glob("bases/baseA-*/base.json"))) == 1


def test_two_processes_given_the_same_run_train_it_once_and_a_sweep_moves_past_it(cli, root):
    first = start_cli("+exp=anb", "k=3", "freeze=true", *SLOW, root=root)
    time.sleep(0.5)
    second = start_cli("+exp=anb", "k=3", "freeze=true", *SLOW, root=root)
    wait_for_checkpoint(root, first)
    sweep = cli("-m", "+exp=grid", "run=AnB_k3", *SLOW, root=root)  # launched while the run is held
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert re.search(r"^AnB_k3: skipped: AnB_k3 is being trained by process \d+ on ", sweep.stderr, flags=re.MULTILINE), sweep.stderr

    outputs = [p.communicate(timeout=300)[1] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    both = "".join(outputs)
    assert len(re.findall(r"^waiting for AnB_k3 ", both, flags=re.MULTILINE)) == 1, both
    assert both.count("already done") == 1  # the waiting one found the run completed
    (run_dir,) = root.glob("runs/**/AnB_k3/*")
    with open(run_dir / "metrics.csv") as f:
        steps = [row["step"] for row in csv.DictReader(f) if row.get("train/loss")]
    assert steps and len(steps) == len(set(steps)), "a step was logged twice: two trainers ran"


def test_sigterm_saves_a_checkpoint_and_exits_cleanly_then_resumes(cli, root):
    proc = start_cli("+exp=base", "half=B", *SLOW, root=root)
    checkpoint = wait_for_checkpoint(root, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-3000:]
    assert "SIGTERM: saved" in stderr and "Traceback" not in stderr
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < saved < 200
    assert not list(root.glob("runs/**/failed.json"))  # preemption is not a failure

    resumed = cli("+exp=base", "half=B", *SLOW, root=root)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert result_of(root, "baseB")["steps"] == 200


def test_two_processes_needing_the_same_base_train_it_once(root):
    first = start_cli("+exp=anb", "k=1", *SLOW, root=root)
    second = start_cli("+exp=anb", "k=2", *SLOW, root=root)
    outputs = [p.communicate(timeout=300)[1] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    both = "".join(outputs)
    assert both.count("training baseA") == 1
    assert len(re.findall(r"^waiting for baseA", both, flags=re.MULTILINE)) == 1  # the other one waited
    assert len(list(root.glob("runs/**/baseA/*/result.json"))) == 1
    assert len(list(root.glob("runs/**/result.json"))) == 3


def test_a_corrupt_base_is_reported_with_the_command_that_rebuilds_it(cli, root):
    assert cli("+exp=base", "half=A", root=root).returncode == 0
    (base,) = root.glob("bases/baseA-*/base.pt")
    base.write_bytes(base.read_bytes()[: base.stat().st_size // 2])
    done = cli("+exp=anb", "k=3", root=root)
    assert done.returncode == 2
    assert "corrupt" in done.stderr and "python -m transfer_lab +exp=base half=A" in done.stderr
    assert "recipe=tiny" in done.stderr.split("+exp=base")[1]  # the rebuild command keeps this run's settings
    assert done.stderr.strip().count("\n") == 0
    assert not list(root.glob("runs/**/AnB_k3/*/result.json"))


def test_a_full_disk_fails_clearly_and_leaves_completed_files_intact(cli, root):
    assert cli("+exp=base", "half=A", root=root).returncode == 0
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    # ulimit -f: writes past 100 KiB fail with EFBIG (Python ignores SIGXFSZ), like a full disk.
    cmd = f"ulimit -f 100; exec {sys.executable} -m transfer_lab +exp=base half=B paths.root={root} {' '.join(FAST)}"
    done = subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "WANDB_MODE": "offline"})
    assert done.returncode == 2, done.stderr[-3000:]
    assert "cannot write" in done.stderr and "re-run the same command" in done.stderr
    assert {p: p.read_bytes() for p in before} == before
    assert not list(root.glob("bases/baseB-*/base.json"))
    assert not [p for p in root.rglob("*.tmp")]  # no half-written file left behind


def test_a_result_that_is_not_json_is_one_clear_line(cli, root):
    assert cli("+exp=base", "half=A", root=root).returncode == 0
    (result,) = root.glob("runs/**/baseA/*/result.json")
    result.write_text("{truncated")
    done = cli("+exp=base", "half=A", root=root)
    assert done.returncode == 2 and "is not valid JSON" in done.stderr
    assert result.read_text() == "{truncated"


def test_an_override_with_a_typo_is_named_by_hydra(cli, root):
    done = cli("+exp=anb", "k=3", "recipee.batch_size=8", root=root)
    assert done.returncode != 0 and "recipee" in done.stderr
    assert not root.exists()
