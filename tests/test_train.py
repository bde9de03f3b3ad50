"""train.py's trainer: the settings of conf/trainer reach Lightning, ours included."""

import json

import pytest

from transfer_lab.compose import compose_config
from transfer_lab.spec import spec_from_config
from transfer_lab.train import build_trainer


def trainer_for(tmp_path, *overrides: str):
    spec = spec_from_config(compose_config(["+exp=base", "half=A", *overrides]))
    return build_trainer(spec, [], logger=False, default_root_dir=str(tmp_path))


@pytest.mark.parametrize("steps", [1, 10])
def test_the_progress_bar_refreshes_every_configured_number_of_steps(tmp_path, steps):
    trainer = trainer_for(tmp_path, f"trainer.progress_bar_refresh_steps={steps}")
    assert trainer.progress_bar_callback.refresh_rate == steps


def test_a_disabled_progress_bar_stays_off(tmp_path):
    assert trainer_for(tmp_path, "trainer.enable_progress_bar=false").progress_bar_callback is None


@pytest.mark.parametrize(
    "max_steps, every, evaluations",
    [(2, 3, 1), (4, 3, 2), (6, 3, 2)],  # ends before the first validation / between two / on one (not repeated)
)
def test_every_run_ends_with_one_validation_of_its_final_weights(cli, root, max_steps, every, evaluations):
    done = cli("+exp=base", "half=A", f"recipe.max_steps={max_steps}", f"recipe.val_check_interval={every}",
               "trainer.limit_val_batches=2", root=root)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = root.glob("runs/**/result.json")
    result = json.loads(path.read_text())
    assert result["steps"] == max_steps and result["val_evaluations"] == evaluations
    assert result["val_top1"] is not None and result["val_top5"] is not None
