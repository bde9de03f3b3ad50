"""The job of one network: found done, or its base networks found (never silently trained without
auto_base), then run the way its kind runs."""

from dataclasses import replace

import pytest
import torch
from conftest import plain_spec

from transfer_lab.errors import ConfigError
from transfer_lab.io import read_json, write_json
from transfer_lab.run.store import BaseStore
from transfer_lab.study import base_network, run, train_base

BASE = plain_spec()


def test_a_run_already_done_is_returned_without_training(tmp_path, capsys):
    spec = replace(BASE, root=str(tmp_path))
    write_json(tmp_path / "result.json", {"config_hash": spec.config_hash, "val_top1": 0.5})
    assert run(spec, tmp_path)["val_top1"] == 0.5
    assert f"already done: {tmp_path / 'result.json'} (top-1 0.5000)" in capsys.readouterr().err


def test_a_missing_base_without_auto_base_names_the_command_that_trains_it(tmp_path):
    spec = replace(BASE, root=str(tmp_path), auto_base=False)
    with pytest.raises(ConfigError, match=r"no base network baseA in .* train it with: python -m transfer_lab"):
        base_network(spec, BaseStore(tmp_path), "python -m transfer_lab +exp=base half=A")


def test_a_stored_base_whose_run_folder_is_gone_gets_its_result_json_back(tmp_path):
    spec, store = replace(BASE, root=str(tmp_path)), BaseStore(tmp_path)
    store.publish(
        spec, {"conv1.weight": torch.ones(2)}, torch.zeros(1, 2, 2), {"config_hash": spec.config_hash, "val_top1": 0.25}
    )
    run_dir = tmp_path / "runs" / spec.run_name
    assert train_base(spec, run_dir, store, {})["val_top1"] == 0.25
    assert read_json(run_dir / "result.json")["val_top1"] == 0.25  # the report finds runs by it
