"""`python -m transfer_lab.prepare` in a subprocess: a real cache from a Kaggle-layout tree, and bad input."""

import json

import numpy as np
import pytest
from conftest import SMALL_IMAGENET, prepare_cli

from transfer_lab.synthetic_imagenet import write_tree


def test_prepare_writes_a_complete_cache_and_lists_the_unreadable_file(tmp_path):
    tree = tmp_path / "kaggle"
    wnids = write_tree(tree, classes=3, per_class=5, val_per_class=2, size=48, layout="kaggle", quirks=True)
    cache_dir = tmp_path / "cache"
    done = prepare_cli("data=imagenet", f"data.root={tree}", "data.image_size=40", f"data.cache_dir={cache_dir}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"skipped ILSVRC/Data/CLS-LOC/train/{wnids[0]}/quirk_unreadable.JPEG" in done.stdout
    assert "train: 18 images, 1 unreadable files skipped" in done.stdout and f"complete: {cache_dir}" in done.stdout

    manifest = json.loads((cache_dir / "manifest.json").read_text())
    assert manifest["meta"]["wnids"] == wnids and manifest["meta"]["layout"] == "kaggle"
    assert np.load(cache_dir / "train" / "images.npy", mmap_mode="r").shape == (19, 3, 40, 40)
    assert np.load(cache_dir / "val" / "labels.npy").tolist() == [0, 0, 1, 1, 2, 2]

    again = prepare_cli("data=imagenet", f"data.root={tree}", "data.image_size=40", f"data.cache_dir={cache_dir}")
    assert again.returncode == 0 and "complete" in again.stdout and "decode" not in again.stderr


@pytest.mark.parametrize(
    "make, overrides, message",
    [
        (None, ["data=imagenet"], "data.root is required for data=imagenet"),
        (None, ["data=imagenet", "data.root=/nonexistent/ilsvrc"], "data.root=/nonexistent/ilsvrc is not a folder"),
        ("empty", ["data=imagenet"], "holds neither layout"),
        ("other", ["data=imagenet"], "folders that are not wnids"),
        ("empty", [], "prepare converts ImageNet, not data=animalfashion"),
        ("empty", ["data=imagenet", "data.image_size=big"], "data.image_size='big' is not a size in pixels"),
    ],
)
def test_bad_input_stops_in_one_line_before_any_work(tmp_path, make, overrides, message):
    root = tmp_path / "root"
    if make:
        root.mkdir()
    if make == "other":  # an image-folder dataset that is not ImageNet
        (root / "train" / "cats").mkdir(parents=True)
        (root / "val" / "cats").mkdir(parents=True)
    extra = [f"data.root={root}"] if make and "data=imagenet" in overrides else []
    done = prepare_cli(*overrides, *extra, f"paths.root={tmp_path / 'out'}")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr
    assert not (tmp_path / "out").exists()


def test_training_without_a_cache_stops_with_the_prepare_command(cli, root, tmp_path):
    tree = tmp_path / "tree"
    write_tree(tree, classes=2, per_class=2, val_per_class=1, size=32)
    done = cli("+exp=base", "half=A", *SMALL_IMAGENET, f"data.root={tree}", root=root)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert (
        f"with: python -m transfer_lab.prepare data=imagenet data.root={tree} data.image_size=80 "
        f"data.cache_dir={root}/cache/imagenet-80px" in done.stderr
    )
    assert not root.exists()
