"""A diverged run stops: a non-finite training loss ends the run within trainer.log_every_n_steps
steps with failed.json, one line and a non-zero exit; a sweep goes on and reports it as failed."""

import csv
import json
import math
from types import SimpleNamespace

import pytest
import torch
from conftest import ONE_WORKER

from transfer_lab.errors import TrainingDiverged
from transfer_lab.run.divergence import StopOnDivergence

# An absurd learning rate: the loss overflows to inf / NaN within a few steps.
DIVERGE = [
    "recipe.optimizer.lr=1e6",
    "recipe.max_steps=30",
    "recipe.val_check_interval=20",
    "trainer.log_every_n_steps=4",
]


def test_the_loss_is_read_back_only_every_n_steps_and_the_first_bad_step_is_named():
    stop = StopOnDivergence(every_n_steps=4, lr=0.01, precision="bf16-mixed")
    losses = [2.0, 1.5, float("nan"), float("inf"), 1.0]
    with pytest.raises(TrainingDiverged) as raised:
        for step, loss in enumerate(losses, start=1):
            stop.on_train_batch_end(
                SimpleNamespace(global_step=step), None, {"loss": torch.tensor(loss)}, None, step - 1
            )
            assert step < 4, "a NaN at step 3 must not stop the run before the check at step 4"
    record = raised.value.record
    assert (record["diverged_at_step"], record["stopped_at_step"]) == (3, 4)
    assert (record["last_finite_step"], record["last_finite_loss"]) == (2, 1.5)
    assert record["suggestions"] == [
        "a lower lr (recipe.optimizer.lr=0.001, now 0.01)",
        "trainer.precision=32-true (now bf16-mixed)",
    ]


def test_a_diverging_run_stops_writes_failed_json_says_so_in_one_line_and_exits_non_zero(cli, root):
    done = cli("+exp=base", "half=A", *DIVERGE, root=root)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    said = [line for line in done.stderr.splitlines() if "diverged" in line]
    assert len(said) == 1 and said[0].startswith("transfer_lab: error: training diverged: loss")
    assert "recipe.optimizer.lr=100000" in said[0]

    (failed,) = root.glob("runs/**/baseA/*/failed.json")
    record = json.loads(failed.read_text())
    assert record["status"] == "failed" and record["error"].startswith("TrainingDiverged")
    assert record["nonfinite_loss"] in ("nan", "inf", "-inf")
    assert record["diverged_at_step"] <= record["stopped_at_step"] < record["diverged_at_step"] + 4 < 30
    if record["last_finite_step"] is not None:
        assert record["last_finite_step"] == record["diverged_at_step"] - 1 and math.isfinite(
            record["last_finite_loss"]
        )
    assert any(
        "recipe.optimizer.lr" in s for s in record["suggestions"]
    )  # fp32 already on the CPU: no precision advice
    assert not list(root.glob("runs/**/result.json")) and not list(root.glob("bases/*/base.json"))
    assert not list(root.glob("runs/**/checkpoints/*.ckpt"))  # a retry must not resume diverged weights


def test_a_diverged_job_of_a_sweep_is_reported_as_failed_never_as_a_point(cli, root):
    done = cli("-m", "+exp=base", "half=A", "recipe.optimizer.lr=0.01,1e6", ONE_WORKER, *DIVERGE[1:], root=root)
    assert done.returncode == 1
    assert len(list(root.glob("runs/**/result.json"))) == 1  # the other job went on
    assert "1 of 2 jobs failed" in done.stderr and "training diverged" in done.stderr
    report = root / "reports" / "animalfashion-random"
    assert (
        "1 failed" in (report / "report.md").read_text() and "training diverged" in (report / "report.md").read_text()
    )
    with open(report / "summary.csv") as f:
        (base,) = [row for row in csv.DictReader(f) if row["series"] == "baseA"]
    assert int(base["n"]) == 1
