"""`python -m transfer_lab.bench --study +exp=grid` on the embedded data: every kind of job of the grid
timed through the real loop, and its hours consistent with the jobs' steps and the rates."""

import json

import pytest
from conftest import spec_of
from test_bench import bench

from transfer_lab.data.registry import target_half


@pytest.mark.slow
def test_the_study_cost_prices_every_kind_of_job_of_the_grid(tmp_path):
    out = tmp_path / "study.json"
    done = bench("--study", "--warmup", "1", "--steps", "3", "--out", str(out), "+exp=grid", f"paths.root={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    study = json.loads(out.read_text())["study"]
    rows = {row["kind"]: row for row in study["rows"]}
    # The grid's 30 networks as its sweep launches them: 2 bases, 14 fine-tuned, 2 fused groups of 7 frozen.
    assert {kind: (row["jobs"], row["networks_per_job"]) for kind, row in rows.items()} == {
        "base": (2, 1),
        "fine-tuned": (14, 1),
        "frozen k=1,2,3,4,5,6,7 (fused)": (2, 7),
    }
    assert study["jobs"] == sum(row["jobs"] for row in rows.values()) == 18
    assert study["networks"] == sum(row["jobs"] * row["networks_per_job"] for row in rows.values()) == 30
    assert study["device_hours"] == pytest.approx(sum(row["device_hours"] for row in rows.values()))
    assert study["wall_hours"] == pytest.approx(study["device_hours"] / study["jobs_at_once"])

    # Steps at the recipe's schedule (12 epochs of full batches of the target half), hours = steps / rate.
    batches = {half: len(target_half(spec_of("+exp=base", f"half={half}"))[2].train_labels) // 32 for half in "AB"}
    assert rows["base"]["steps"] == 12 * (batches["A"] + batches["B"])
    assert rows["fine-tuned"]["steps"] == 14 * 12 * batches["B"]
    assert rows["frozen k=1,2,3,4,5,6,7 (fused)"]["steps"] == 2 * 12 * batches["B"]
    for row in rows.values():
        assert row["model_only_images_per_s"] > 0 and row["full_path_images_per_s"] > 0 and row["mfu"] is None
        hours = row["steps"] * row["batch_size"] / row["full_path_images_per_s"] / 3600
        assert row["device_hours"] == pytest.approx(hours, rel=1e-3)  # rates rounded to 0.1 img/s
    # A fused step trains 7 networks: more FLOP per image than one frozen network, less than 7 alone.
    fused, base = rows["frozen k=1,2,3,4,5,6,7 (fused)"], rows["base"]
    assert base["train_gflop_per_image"] < fused["train_gflop_per_image"] < 7 * base["train_gflop_per_image"]

    # The bench's own table, not Lightning's bars, tips or warnings.
    lines = done.stdout.splitlines()
    assert lines[0].startswith("alexnet_small on animalfashion, batch 32")
    assert "18 jobs training 30 networks" in lines[0]
    assert lines[1].split()[:5] == ["job", "kind", "jobs", "nets", "steps"] and lines[-3].startswith("total")
    assert "it/s" not in done.stdout + done.stderr and "Tip" not in done.stderr and "Warning" not in done.stderr


def test_the_study_cost_refuses_a_sweep_of_jobs_that_train_no_network(tmp_path):
    done = bench("--study", "+exp=similarity", f"paths.root={tmp_path}")
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "bench --study prices" in done.stderr
