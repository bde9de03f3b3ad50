"""Faults with real processes: kill -9, SIGTERM, concurrent bases, corrupt files, a full disk."""

import csv
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import FAST, ONE_WORKER, run_under_file_limit, start_cli

pytestmark = pytest.mark.slow  # real processes, killed and restarted

# Long enough to be interrupted (~200 steps), checkpointed every 5 steps.
SLOW = [
    "recipe.max_epochs=-1",
    "recipe.max_steps=200",
    "recipe.checkpoint_every_n_steps=5",
    "recipe.val_check_interval=100",
    "trainer.limit_val_batches=2",
]


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


class Lines:
    """A background process's stderr, read as it comes (a thread keeps the pipe from filling)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.lines = proc, []
        self.reader = threading.Thread(target=lambda: self.lines.extend(proc.stderr), daemon=True)
        self.reader.start()

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = next((line for line in list(self.lines) if re.search(pattern, line)), None)
            if found:
                return found
            assert self.proc.poll() is None or self.reader.is_alive(), f"ended without {pattern!r}: {self.text[-3000:]}"
            time.sleep(0.05)
        raise AssertionError(f"no line {pattern!r}: {self.text[-3000:]}")

    def finish(self, timeout: float = 300) -> int:
        self.proc.wait(timeout)
        self.reader.join(timeout)
        return self.proc.returncode

    @property
    def text(self) -> str:
        return "".join(self.lines)


def test_kill_9_then_the_process_waiting_for_the_run_takes_over_and_ends_like_an_uninterrupted_run(root):
    # The same command twice at once: one holds the run, the other waits (started together, so the
    # holder is still training when the other reaches the run's lock, however slow the machine).
    both = [Lines(start_cli("+exp=base", "half=A", *SLOW, root=root)) for _ in range(2)]
    deadline = time.time() + 120
    while not any("waiting for baseA" in p.text for p in both):
        assert time.time() < deadline and all(p.proc.poll() is None for p in both), [p.text[-2000:] for p in both]
        time.sleep(0.05)
    waiting, holding = both if "waiting for baseA" in both[0].text else both[::-1]
    holder = holding.proc
    checkpoint = wait_for_checkpoint(root, holder)
    waiting.wait_for(rf"^waiting for baseA \(.*\): process {holder.pid} on ")
    holder.kill()  # SIGKILL: no handler runs; the OS frees the run's and the base's locks
    holding.finish()
    step_at_kill = torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < step_at_kill < 200
    assert [p.name for p in checkpoint.parent.iterdir()] == [
        "last.ckpt"
    ]  # both schedules keep one file, the one resumed from

    assert waiting.finish() == 0, waiting.text[-3000:]
    assert (
        "taking over baseA (baseA-" in waiting.text and f"process {holder.pid} on" in waiting.text
    )  # the base-store lock
    assert "resuming baseA" in waiting.text
    result = result_of(root, "baseA")
    assert result["status"] == "completed" and result["steps"] == 200
    assert len(list(root.glob("bases/baseA-*/base.json"))) == 1


def test_two_processes_given_the_same_run_train_it_once_and_a_sweep_moves_past_a_held_run(root):
    # Both started at once: one trains base A then AnB_k3, the other waits for AnB_k3 and finds it done;
    # a sweep of AnB_k3 (its job in the sweep's process), started once one of them holds AnB_k3 (it
    # trains base A inside that claim), skips it. 400 steps a network: the holder still holds the run
    # when the sweep reaches it, on a loaded machine too. (Concurrent demand for one base: tests/run/test_store.py.)
    hold = [*SLOW, "recipe.max_steps=400"]
    same_run = [Lines(start_cli("+exp=anb", "k=3", *hold, root=root)) for _ in range(2)]
    deadline = time.time() + 120
    while not any("training baseA" in p.text for p in same_run):
        assert time.time() < deadline and all(p.proc.poll() is None for p in same_run), [
            p.text[-2000:] for p in same_run
        ]
        time.sleep(0.05)
    sweep = Lines(start_cli("-m", "+exp=grid", "run=AnB_k3", ONE_WORKER, *hold, root=root))
    processes = [*same_run, sweep]
    assert [p.finish() for p in processes] == [0, 0, 0], [p.text[-2000:] for p in processes]

    assert re.search(r"^AnB_k3: skipped: AnB_k3 is being trained by process \d+ on ", sweep.text, flags=re.MULTILINE), (
        sweep.text
    )
    texts = "".join(p.text for p in same_run)
    assert texts.count("training baseA") == 1
    assert len(re.findall(r"^waiting for AnB_k3 ", texts, flags=re.MULTILINE)) == 1, texts
    assert sum("already done" in p.text for p in same_run) == 1  # the one that waited found the run completed
    assert len(list(root.glob("runs/**/result.json"))) == 2  # baseA, AnB_k3
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
    command = f"{sys.executable} -m transfer_lab +exp=base half=B paths.root={root} {' '.join(FAST)}"
    done = run_under_file_limit(100, command, env={"WANDB_MODE": "offline"})
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
