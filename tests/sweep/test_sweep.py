"""Multiruns through the real CLI: the grid, resume, failures, and one job per GPU."""

import csv
import json
import os
from pathlib import Path

import filelock
from conftest import ONE_WORKER, QUICK, shared_a_device_at_once

from transfer_lab.devices import parallel_jobs


def results(root: Path) -> dict[Path, dict]:
    return {p: json.loads(p.read_text()) for p in root.glob("runs/**/result.json")}


def test_the_grid_runs_every_job_reports_and_resumes_without_training(cli, root):
    done = cli("-m", "+exp=grid", *QUICK, root=root)
    assert done.returncode == 0, done.stderr[-3000:]
    found = results(root)
    assert sorted(r["series"] + str(r["k"]) for r in found.values()) == sorted(
        ["baseA0", "baseB0"] + [f"{s}{k}" for s in ("BnB", "BnB+", "AnB", "AnB+") for k in range(1, 8)]
    )
    assert "sweep finished: 30 done, 0 failed, 0 left" in done.stderr
    # The 7 frozen transfers of each source trained as one job (run/fused.py): 18 jobs for 30 networks.
    assert "12 trained alongside another" in done.stderr
    for r in found.values():
        others = [f"{r['series']}_k{k}" for k in range(1, 8) if k != r["k"]]
        assert r.get("trained_with") == (others if r["series"] in ("AnB", "BnB") else None), r["series"]
    assert len(list(root.glob("bases/*/base.json"))) == 2  # each base trained once
    assert {r["cpu_threads"] for r in found.values()} == {max(1, os.cpu_count() // parallel_jobs())}  # cores shared

    report = root / "reports" / "animalfashion-random"
    for name in ("results.csv", "summary.csv", "transfer.png", "transfer.pdf", "report.md"):
        assert (report / name).exists(), name
    with open(report / "results.csv") as f:
        rows = {(r["series"], int(r["k"])): float(r["val_top1"]) for r in csv.DictReader(f)}
    assert rows == {(r["series"], r["k"]): r["val_top1"] for r in found.values()}
    assert "The paper's findings" in (report / "report.md").read_text()

    stamps = {p: p.stat().st_mtime_ns for p in found}
    again = cli("-m", "+exp=grid", *QUICK, root=root)
    assert again.returncode == 0, again.stderr[-3000:]
    lines = again.stderr.strip().splitlines()  # nothing launched: no job lines, no "already done" per job
    assert len(lines) == 2 and lines[0].startswith("30 of 30 runs already done"), again.stderr
    assert lines[1].startswith("sweep finished: 30 done, 0 failed, 0 left; report: ")
    assert {p: p.stat().st_mtime_ns for p in found} == stamps


def test_a_failing_job_does_not_stop_the_sweep_and_is_retried(cli, root):
    # dropout=2.0 is accepted by the config check but raises when the network is built.
    command = ("-m", "+exp=base", "half=A", "model.net.dropout=0.5,2.0", ONE_WORKER, *QUICK)
    done = cli(*command, root=root)
    assert done.returncode == 1
    assert len(results(root)) == 1
    failed = [json.loads(p.read_text()) for p in root.glob("runs/**/failed.json")]
    assert len(failed) == 1 and "dropout" in failed[0]["error"]
    assert "1 of 2 jobs failed" in done.stderr and "baseA: failed: " in done.stderr
    report = (root / "reports" / "animalfashion-random" / "report.md").read_text()
    assert "1 failed" in report and "dropout" in report

    again = cli(*command, root=root)
    assert again.returncode == 1
    assert again.stderr.startswith("sweep of 2 jobs, 1 already done")  # only the failed job runs again
    assert "1 of 2 jobs failed" in again.stderr


def test_a_bad_job_stops_the_sweep_before_any_training(cli, root):
    done = cli("-m", "+exp=anb", "k=3,9", *QUICK, root=root)
    assert done.returncode == 2
    assert "k=9 is not a layer count" in done.stderr
    assert not list(root.glob("runs/**/result.json"))


def test_a_job_with_a_bad_setting_of_its_kind_stops_the_sweep_before_any_training(cli, root):
    # The two jobs share data and halves; only the second one's probe setting is bad.
    done = cli("-m", "+exp=probe", "k=1", "probe.lr=0.01,-1", *QUICK, root=root)
    assert done.returncode == 2
    assert "probe.lr=-1: use a positive number" in done.stderr
    assert not list(root.glob("runs/**/result.json")) and not list(root.glob("bases/*"))


def test_parallel_jobs_each_get_a_gpu_of_their_own(cli, root, tmp_path):
    # Two (fake) GPUs and two workers, but GPU 0 is held by someone else (this test): every job must
    # take GPU 1, one at a time, although two workers run side by side.
    locks = tmp_path / "locks"
    locks.mkdir()
    busy = filelock.FileLock(str(locks / "fake0.lock"))
    busy.acquire()
    try:
        env = {"TRANSFER_LAB_FAKE_GPUS": "2", "TRANSFER_LAB_LOCK_DIR": str(locks)}
        done = cli(
            "-m",
            "+exp=base",
            "half=A,B",
            "seed=0,1",
            "hydra/launcher=local",
            "verbose=true",
            *QUICK,
            root=root,
            env=env,
        )
    finally:
        busy.release()
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "n_jobs=2" in done.stdout + done.stderr
    )  # the local launcher: one worker per (fake) GPU (Hydra logs it with verbose=true)
    runs = list(results(root).values())
    assert len(runs) == 4 and {r["gpu_slot"] for r in runs} == {1}
    assert not shared_a_device_at_once(runs), "two jobs trained on one GPU at once"


def test_a_failing_group_of_frozen_transfers_records_each_networks_failure(cli, root):
    # The two frozen transfers train as one job (run/fused.py); the base it builds first raises.
    done = cli("-m", "+exp=grid", "run=AnB_k1,AnB_k2", "model.net.dropout=2.0", ONE_WORKER, *QUICK, root=root)
    assert done.returncode == 1
    assert "1 trained alongside another" in done.stderr
    failed = [json.loads(p.read_text()) for p in root.glob("runs/**/failed.json")]
    assert sorted(f["k"] for f in failed) == [1, 2] and all("dropout" in f["error"] for f in failed)
    assert "2 of 2 jobs failed" in done.stderr
