"""Runs grouped into studies (one training configuration each) and cells (the runs of one series and k, by seed)."""

import json

import pytest
from conftest import spec_of

from transfer_lab.report import write_report
from transfer_lab.report.records import studies_of
from transfer_lab.run.record import run_fields


def record_of(*overrides: str, top1: float = 0.5) -> dict:
    """The record a completed run of these overrides stores (run_fields, as run/fit.py writes them)."""
    return {**run_fields(spec_of(*overrides)), "status": "completed", "val_top1": top1, "run_dir": " ".join(overrides)}


def old(record: dict) -> dict:
    """The same record as the code before StudyKey stored it: no study settings."""
    return {key: value for key, value in record.items() if key not in ("study_settings", "study_config")}


TINY = ("recipe=tiny",)
SMALLER_BATCH = ("recipe=tiny", "recipe.batch_size=32")


@pytest.fixture(scope="module")
def tiny_runs() -> list[dict]:
    """Base B and AnB k=3 of recipe=tiny at seeds 0, 1, and base B with recipe.batch_size=32 at seed 0."""
    return (
        [record_of("+exp=base", "half=B", f"seed={seed}", *TINY) for seed in (0, 1)]
        + [record_of("+exp=anb", "k=3", f"seed={seed}", *TINY) for seed in (0, 1)]
        + [record_of("+exp=base", "half=B", "seed=0", *SMALLER_BATCH, top1=0.9)]
    )


def test_a_run_with_a_changed_setting_is_a_study_of_its_own_named_by_what_differs(tiny_runs):
    studies = studies_of(tiny_runs)
    assert sorted(study.name for study in studies.values()) == [
        "animalfashion-random-alexnet_small-tiny (recipe.batch_size=32)",
        "animalfashion-random-alexnet_small-tiny (recipe.batch_size=64)",
    ]
    tiny = next(study for study in studies.values() if study.differs == {"recipe.batch_size": 64})
    assert tiny.base("B").n == 2 and tiny.base("B").mean == 0.5  # the batch-32 run (0.9) is not pooled in
    assert len({study.key.wandb_group for study in studies.values()}) == 2


def test_one_study_alone_carries_its_plain_name(tiny_runs):
    (study,) = studies_of(tiny_runs[:4]).values()
    assert study.name == "animalfashion-random-alexnet_small-tiny" and study.seeds == [(0, 0), (0, 1)]


def test_runs_stored_before_study_settings_join_the_study_whose_settings_rebuild_their_hash(tiny_runs):
    runs = [old(tiny_runs[1]), old(tiny_runs[3]), *tiny_runs[:1], *tiny_runs[2:3], old(tiny_runs[4])]
    studies = studies_of(runs)
    tiny = next(study for study in studies.values() if study.key.settings == tiny_runs[0]["study_settings"])
    assert tiny.base("B").n == 2 and tiny.cells[("AnB", 3)].n == 2  # old seed 1 beside new seed 0
    # The old batch-32 run rebuilds no recorded study's hash: a study of its own, said to predate its settings.
    assert sorted(study.name for study in studies.values())[-1].endswith("(settings not recorded)")


def test_old_records_alone_group_by_their_names(tiny_runs):
    (study,) = studies_of([old(r) for r in tiny_runs[:4]]).values()
    assert study.key.settings is None and study.name == "animalfashion-random-alexnet_small-tiny"


def test_a_base_trained_for_another_seed_joins_no_cell(tiny_runs):
    """The reference base B of a similarity run at seed 1 (seed 2) beside a grid of seeds 0, 1."""
    reference = record_of("+exp=base", "half=B", "seed=2", *TINY, top1=0.1)
    (study,) = studies_of([*tiny_runs[:4], reference]).values()
    assert study.seeds == [(0, 0), (0, 1)] and study.base("B").n == 2 and study.outside == [reference]


def test_the_report_heads_each_configuration_apart(tiny_runs, tmp_path):
    for i, record in enumerate(tiny_runs):
        (tmp_path / "runs" / str(i)).mkdir(parents=True)
        (tmp_path / "runs" / str(i) / "result.json").write_text(json.dumps(record))
    text = write_report([tmp_path / "runs"], tmp_path / "report").read_text()
    assert "## animalfashion-random-alexnet_small-tiny (recipe.batch_size=32)" in text
    assert "smoke-test recipe (a few steps, not results), recipe.batch_size=64: 2 seeds per point; seeds 0, 1;" in text
    assert "recipe=tiny recipe.batch_size=32" in text  # the command that adds seeds to that study
