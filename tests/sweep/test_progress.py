"""A sweep's progress from the files in its run folders: job states, the time left, the job line."""

import json
import os
import socket

from transfer_lab.io import write_json, write_owner
from transfer_lab.sweep.progress import MANIFEST_ENV, JobLine, job_state, progress_line, times_path


def test_a_job_state_comes_from_the_files_in_its_folder(tmp_path):
    folders = {name: tmp_path / name for name in ("result", "similarity", "failed", "running", "dead", "empty")}
    for folder in folders.values():
        folder.mkdir()
    write_json(folders["result"] / "result.json", {})
    write_json(folders["similarity"] / "similarity.json", {})
    write_json(folders["failed"] / "failed.json", {})
    write_owner(folders["running"] / "running.json")  # this process: alive
    write_json(folders["dead"] / "running.json", {"host": socket.gethostname(), "pid": 2**31 - 1})  # no such process
    states = {name: job_state(folder) for name, folder in folders.items()}
    assert states == {
        "result": "done",
        "similarity": "done",
        "failed": "failed",
        "running": "running",
        "dead": "left",
        "empty": "left",
    }


def test_the_time_left_counts_the_jobs_left_at_their_kind_s_measured_time(tmp_path):
    done, left = tmp_path / "done", tmp_path / "left"
    done.mkdir()
    write_json(done / "result.json", {})
    manifest = {
        "workers": 2,
        "jobs": [
            {"run_dir": str(done), "network": "base"},
            {"run_dir": str(left), "network": "frozen"},
            {"run_dir": str(left), "network": "fine-tuned"},
        ],
    }
    assert progress_line(manifest, []) == "1 done, 0 failed, 2 left"
    times = [{"network": "frozen", "seconds": 60.0}, {"network": "base", "seconds": 180.0}]
    # frozen: 60 s measured; fine-tuned: not yet, so the mean of all (120 s); over 2 workers
    assert progress_line(manifest, times) == "1 done, 0 failed, 2 left; about 1m30s left"


def test_a_job_line_names_the_networks_trained_side_by_side_and_their_wandb_run(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "AnB_k1"
    manifest_path = tmp_path / "sweep.json"
    write_json(
        manifest_path, {"workers": 1, "jobs": [{"run_dir": str(run_dir), "series": "AnB", "k": 1, "network": "frozen"}]}
    )
    monkeypatch.setenv(MANIFEST_ENV, str(manifest_path))
    with JobLine(run_dir) as line:
        line.result = [
            {"series": "AnB", "k": k, "val_top1": top1, "finished_at": 1e12, "wandb_run": "wandb/offline-run-x"}
            for k, top1 in ((2, 0.25), (1, 0.5))
        ]
    printed = capsys.readouterr().err.strip()
    assert printed.startswith("AnB_k1,2: top-1 0.5000 0.2500, 0 s, W&B wandb/offline-run-x | ")
    measured = [json.loads(row) for row in times_path(manifest_path).read_text().splitlines()]
    assert [row["network"] for row in measured] == ["frozen", "frozen"]  # one per network trained


def test_outside_a_sweep_a_job_prints_no_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(MANIFEST_ENV, raising=False)
    with JobLine(tmp_path) as line:
        line.result = {"series": "baseA", "k": 0, "val_top1": 0.5}
    assert capsys.readouterr().err == "" and not os.environ.get(MANIFEST_ENV)
