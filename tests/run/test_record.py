"""The records a run leaves: which file says it completed, the fields every record has, failures."""

import json
from dataclasses import replace

import pytest
from conftest import plain_spec

from transfer_lab.errors import ConfigError
from transfer_lab.io import read_json, write_json
from transfer_lab.run.record import completed_record, completed_result, outcome, record_failure, record_file

SPEC = plain_spec(
    kind="transfer", target="B", source="A", k=3, freeze=True, data={"name": "toy"}, split={"name": "random", "seed": 1}
)


def test_a_similarity_run_completes_with_its_own_file_and_the_others_with_result_json():
    assert record_file(SPEC) == "result.json"
    assert record_file(replace(SPEC, kind="similarity", k=0)) == "similarity.json"


def test_a_completed_result_is_found_only_for_its_own_config(tmp_path):
    assert completed_result(SPEC, tmp_path) is None
    write_json(tmp_path / "result.json", {"config_hash": SPEC.config_hash, "val_top1": 0.5})
    assert completed_result(SPEC, tmp_path)["val_top1"] == 0.5
    with pytest.raises(ConfigError, match="another config"):
        completed_result(replace(SPEC, k=4), tmp_path)
    (tmp_path / "result.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        completed_result(SPEC, tmp_path)


def test_every_completed_record_says_what_ran_where_and_when(tmp_path):
    record = completed_record(SPEC, tmp_path, 100.0, {"device": "cpu", "gpu_slot": None}, val_top1=0.25)
    assert record["series"] == "AnB" and record["k"] == 3 and record["split_seed"] == 1
    assert record["dataset"] == "toy" and record["config_hash"] == SPEC.config_hash
    assert record["val_top1"] == 0.25 and record["device"] == "cpu"
    assert record["status"] == "completed" and record["run_dir"] == str(tmp_path)
    assert record["finished_at"] > record["started_at"] == 100.0


def test_a_failure_is_recorded_with_its_study_and_error(tmp_path):
    try:
        raise ValueError("boom")
    except ValueError as err:
        record_failure(SPEC, tmp_path, err)
    failed = read_json(tmp_path / "failed.json")
    assert failed["status"] == "failed" and failed["error"] == "ValueError: boom"
    assert failed["recipe"] == "r" and failed["series"] == "AnB" and "boom" in failed["traceback"]
    assert json.dumps(failed)  # plain JSON


def test_the_outcome_words_of_a_network_and_of_a_similarity_run():
    assert outcome({"val_top1": 0.12345}) == "top-1 0.1235"
    assert outcome({"cka": [1.0, 0.5]}) == "CKA(A,B) layers 1-8: 1.00 0.50"
