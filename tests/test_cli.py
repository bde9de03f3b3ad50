"""The real CLI in a subprocess, with paths.root in a temp dir and the tiny recipe."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import input_error, only

from transfer_lab.models.alexnet import LAYER_NAMES

RESULT_FIELDS = {
    "exp",
    "source",
    "target",
    "split",
    "split_seed",
    "k",
    "freeze",
    "seed",
    "dataset",
    "model",
    "recipe",
    "n_train_images",
    "n_val_images",
    "val_top1",
    "val_top1_best",
    "epochs",
    "steps",
    "train_seconds",
    "train_images_per_s",
    "base_checkpoint",
    "config_hash",
    "status",
}


def test_anb_trains_the_missing_base_then_a_second_transfer_reuses_it(cli, root):
    done = cli("+exp=anb", "k=3", "freeze=true", root=root)
    assert done.returncode == 0, done.stderr[-3000:]

    base_json = only("bases/baseA-*/base.json", root)
    base_result = json.loads(only("runs/animalfashion/random-s0/baseA/*/result.json", root).read_text())
    assert base_result["series"] == "baseA" and base_result["k"] == 0

    run_dir = only("runs/animalfashion/random-s0/AnB_k3/*", root)
    result = json.loads((run_dir / "result.json").read_text())
    assert result.keys() >= RESULT_FIELDS
    assert (result["series"], result["k"], result["freeze"], result["status"]) == ("AnB", 3, True, "completed")
    assert result["steps"] == 6 and 0.0 <= result["val_top1"] <= 1.0
    assert result["n_train_images"] > 7000 and result["n_val_images"] == 2000
    assert Path(result["base_checkpoint"]) == base_json.parent / "base.pt"

    split = json.loads((run_dir / "split.json").read_text())
    a, b = split["halves"]["A"]["classes"], split["halves"]["B"]["classes"]
    assert len(a) == len(b) == 10 and not set(a) & set(b)
    assert (run_dir / "metrics.csv").exists()

    # The final checkpoint's frozen layers are the base's, bit for bit; layer 4 is not.
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    base = torch.load(base_json.parent / "base.pt", map_location="cpu", weights_only=True)["net"]
    for name in LAYER_NAMES[:3]:
        assert torch.equal(final[f"net.{name}.weight"], base[f"{name}.weight"]), name
    assert not torch.equal(final["net.conv4.weight"], base["conv4.weight"])
    assert torch.equal(
        final["augment.mean_image"], torch.load(base_json.parent / "base.pt", weights_only=True)["mean_image"]
    )

    stamp = base_json.stat().st_mtime_ns
    again = cli("+exp=anb", "k=5", "freeze=false", root=root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert base_json.stat().st_mtime_ns == stamp, "the base was trained again"
    assert len(list(root.glob("runs/animalfashion/random-s0/baseA/*"))) == 1
    plus = json.loads(only("runs/animalfashion/random-s0/AnB+_k5/*/result.json", root).read_text())
    assert plus["base_checkpoint"] == result["base_checkpoint"] and plus["freeze"] is False

    # The same command again finds its completed result and trains nothing.
    result_file = run_dir / "result.json"
    stamp = result_file.stat().st_mtime_ns
    same = cli("+exp=anb", "k=3", "freeze=true", root=root)
    assert same.returncode == 0 and "already done" in same.stderr
    assert result_file.stat().st_mtime_ns == stamp


def test_base_run_and_auto_base_off(cli, root):
    missing = cli("+exp=bnb", "k=2", "auto_base=false", "seed=3", root=root)
    assert missing.returncode == 2
    assert "python -m transfer_lab +exp=base half=B" in missing.stderr and "seed=3" in missing.stderr
    base = cli("+exp=base", "half=B", "seed=3", root=root)
    assert base.returncode == 0, base.stderr[-3000:]
    assert only("bases/baseB-*/base.json", root)
    reuse = cli("+exp=bnb", "k=2", "auto_base=false", "seed=3", root=root)
    assert reuse.returncode == 0, reuse.stderr[-3000:]
    # The base's run folder deleted, the store keeps it: asked again, its result.json is back (the report reads it),
    # untrained
    result_file = only("runs/**/baseB/*/result.json", root)
    stored = json.loads(result_file.read_text())
    shutil.rmtree(result_file.parent)
    again = cli("+exp=base", "half=B", "seed=3", root=root)
    assert again.returncode == 0 and "training" not in again.stderr, again.stderr[-3000:]
    assert json.loads(result_file.read_text())["val_top1"] == stored["val_top1"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["+exp=anb", "k=0"], "k=0 is not a layer count"),
        (["+exp=anb", "k=8"], "k=8 is not a layer count"),
        (["+exp=anb", "k=-1"], "k=-1 is not a layer count"),
        (["+exp=anb", "k=three"], "k='three' is not a layer count"),
        (["+exp=anb", "k=3", "freeze=maybe"], "freeze='maybe' is not a boolean"),
        (["+exp=base", "half=A", "k=3"], "k=3 is set for a base run"),
        (["+exp=anb", "k=3", "data.path=/nonexistent/af20.npz"], "cannot read the AnimalFashion-20 file"),
        (["+exp=anb", "k=3", "data.target_per_class=0"], "data.target_per_class=0 is not a number of training images"),
        (["+exp=anb", "k=3", "split=ratio", "split.source_classes=19"], "one class is not a classification task"),
        (["+exp=anb", "k=3", "split=ratio"], "split.source_classes='???' is not a class count"),
        (["+exp=anb", "k=3", "split=classes", "split.A=[0,1]", "split.B=[1,2]"], "share classes [1]"),
        (["+exp=anb", "k=3", "split=all"], "split=all puts no classes in half B"),
    ],
)
def test_bad_input_is_refused_with_one_line(overrides, message):
    assert message in input_error(*overrides)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["+exp=anb", "k=three"], "k='three' is not a layer count"),  # refused as the config is read
        (["+exp=anb", "k=3", "split=all"], "split=all puts no classes in half B"),  # refused as the data is read
    ],
)
def test_bad_input_fails_with_one_line_and_writes_nothing(cli, root, overrides, message):
    done = cli(*overrides, root=root)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr
    assert not root.exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["+exp=anbb"], "+exp=anbb: anbb is not a preset; choose one of: anb, base, bnb, grid,"),
        (
            ["+exp=anb", "k=3", "model=alexnet_big"],
            "model=alexnet_big: alexnet_big is not a model option; choose one of: alexnet, alexnet_small",
        ),
        (["-m", "+exp=grid", "recipe=tiny,tinyy"], "tinyy is not a recipe option; choose one of: embedded,"),
    ],
)
def test_an_unknown_preset_or_group_option_is_one_line_with_the_options(cli, root, overrides, message):
    done = cli(*overrides, root=root, fast=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr
    assert not root.exists()


def test_help_shows_the_commands_the_config_groups_and_where_the_full_config_is(cli, root):
    done = cli("--help", root=root)
    assert done.returncode == 0
    assert "python -m transfer_lab +exp=anb k=3 freeze=true" in done.stdout  # the README's one-run table
    assert "python -m transfer_lab -m +exp=grid seed=0,1,2" in done.stdout
    assert "model: alexnet, alexnet_small" in done.stdout and "exp: anb, base, bnb, grid" in done.stdout
    assert "--cfg job" in done.stdout
    assert "powered by Hydra" not in done.stdout and "_target_" not in done.stdout  # no config dump


def test_a_root_under_a_folder_that_takes_no_new_folders_says_so(cli):
    done = cli("+exp=anb", "k=3", root=Path("/proc/nope"))
    assert done.returncode == 2
    assert "paths.root=/proc/nope cannot be created: /proc does not accept new folders" in done.stderr


def test_unwritable_root_is_refused_before_work(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = cli("+exp=anb", "k=3", root=blocker / "outputs")
    assert done.returncode == 2 and "a-file is a file, not a folder" in done.stderr
    assert blocker.read_text() == "not a folder"


def test_bad_input_leaves_existing_outputs_untouched(cli, root):
    ok = cli("+exp=base", "half=A", root=root)
    assert ok.returncode == 0, ok.stderr[-3000:]
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    bad = cli("+exp=anb", "k=9", root=root)
    assert bad.returncode == 2
    after = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    assert before == after
