"""run/build.py: the settings of conf/trainer and conf/callbacks reach Lightning."""

import json

import pytest
import torch

from tests.conftest import spec_of
from transfer_lab.compose import compose_config
from transfer_lab.devices import PARALLEL_JOBS_ENV
from transfer_lab.run.build import build_module, build_trainer, compile_enabled, validation_schedule
from transfer_lab.run.fit import train
from transfer_lab.run.store import BaseStore
from transfer_lab.spec import spec_from_config


def trainer_for(tmp_path, *overrides: str):
    spec = spec_from_config(compose_config(["+exp=base", "half=A", *overrides]))
    return build_trainer(spec, [], logger=False, default_root_dir=str(tmp_path))


@pytest.mark.parametrize("steps", [1, 10])
def test_the_progress_bar_refreshes_every_configured_number_of_steps(tmp_path, steps):
    trainer = trainer_for(tmp_path, f"callbacks.progress_bar.refresh_rate={steps}")
    assert trainer.progress_bar_callback.refresh_rate == steps


def test_a_disabled_progress_bar_stays_off(tmp_path):
    assert trainer_for(tmp_path, "trainer.enable_progress_bar=false").progress_bar_callback is None


@pytest.mark.parametrize("side_by_side, shown", [("1", True), ("2", False)])
def test_jobs_of_a_sweep_that_runs_them_side_by_side_show_no_progress_bar(tmp_path, monkeypatch, side_by_side, shown):
    monkeypatch.setenv(PARALLEL_JOBS_ENV, side_by_side)  # what the sweeper sets for its jobs
    assert (trainer_for(tmp_path).progress_bar_callback is not None) == shown


@pytest.mark.parametrize(
    "max_steps, every, evaluations",
    # ends before the first validation / between two / on one (not repeated) / null: the final weights only
    [(2, 3, 1), (4, 3, 2), (6, 3, 2), (5, "null", 1)],
)
def test_every_run_ends_with_one_validation_of_its_final_weights(cli, root, max_steps, every, evaluations):
    done = cli(
        "+exp=base",
        "half=A",
        f"recipe.max_steps={max_steps}",
        f"recipe.val_check_interval={every}",
        "trainer.limit_val_batches=2",
        root=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = root.glob("runs/**/result.json")
    result = json.loads(path.read_text())
    assert result["steps"] == max_steps and result["val_evaluations"] == evaluations
    assert result["val_top1"] is not None and result["val_top5"] is not None


@pytest.mark.parametrize(
    "schedule, arguments",
    [
        (
            {"max_epochs": 12, "max_steps": -1, "val_check_interval": None},
            {"val_check_interval": 1.0, "check_val_every_n_epoch": 12},
        ),
        (
            {"max_epochs": -1, "max_steps": 2964, "val_check_interval": None},
            {"val_check_interval": 2964, "check_val_every_n_epoch": None},
        ),
        (
            {"max_epochs": 3, "max_steps": -1, "val_check_interval": 0.5},
            {"val_check_interval": 0.5, "check_val_every_n_epoch": 1},
        ),
        (
            {"max_epochs": -1, "max_steps": 450000, "val_check_interval": 1000},
            {"val_check_interval": 1000, "check_val_every_n_epoch": None},
        ),
    ],
)
def test_a_null_validation_interval_validates_only_at_the_last_epoch_or_step(schedule, arguments):
    assert validation_schedule(schedule) == arguments


@pytest.mark.parametrize(
    "overrides, on_gpu, compiled",
    [
        ([], False, False),  # never on the CPU by default
        (["data=imagenet", "data.root=/x", "recipe=fast"], True, True),  # 90k steps pay back the compile time
        (["data=imagenet", "data.root=/x", "recipe=fast", "recipe.max_steps=19999"], True, False),
        (["recipe=tiny"], True, False),
        (["model.compile=true"], False, True),  # forced
        (["data=imagenet", "data.root=/x", "recipe=paper", "model.compile=false"], True, False),
    ],
)
def test_compile_auto_compiles_long_recipes_on_a_gpu_only(overrides, on_gpu, compiled):
    spec = spec_from_config(compose_config(["+exp=base", "half=A", *overrides]))
    assert compile_enabled(spec, on_gpu) is compiled


def test_the_optimizer_step_is_fused_on_a_gpu_unless_the_recipe_says_otherwise():
    def fused(*overrides: str, device: str) -> dict:
        spec = spec_from_config(compose_config(["+exp=base", "half=A", *overrides]))
        module = build_module(spec, 10, torch.zeros(1, 28, 28))
        module._device = torch.device(device)  # where Lightning would have moved it (no GPU needed to decide)
        return module.fused_step()

    assert fused(device="cuda:0") == {"fused": True}
    assert fused(device="cpu") == {}
    assert fused("+recipe.optimizer.fused=false", device="cuda:0") == {}


def test_the_linear_schedule_runs_over_the_runs_own_steps_to_lr_0(tmp_path):
    # recipe=embedded's total_iters: null; 2 epochs of 3 batches here, not the recipe's 12 of ~247
    spec = spec_of(
        "+exp=base",
        "half=A",
        "recipe.max_epochs=2",
        "+trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "logger=none",
        f"paths.root={tmp_path}",
    )
    result = train(spec, tmp_path / "run", BaseStore(tmp_path), None, None)
    schedule = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)["lr_schedulers"][0]
    assert result["steps"] == schedule["total_iters"] == schedule["last_epoch"] == 6
    assert schedule["_last_lr"] == [0.0, 0.0]
