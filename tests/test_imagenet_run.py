"""Runs of the study on ImageNet through the real CLI: alexnet at 67 px from the prepared cache."""

import json

import numpy as np
import torch
from conftest import FP32_EPS, input_error, only

from transfer_lab.data import cache

# A few steps with a validation: the tree's halves hold ~160 training images.
STEPS = ["recipe.batch_size=16", "recipe.max_steps=4", "recipe.val_check_interval=2"]


def test_base_then_frozen_transfer_train_from_the_cache(cli, imagenet_cache):
    root = imagenet_cache["paths_root"]
    done = cli("+exp=anb", "k=5", *imagenet_cache["overrides"], *STEPS, root=root)
    assert done.returncode == 0, done.stderr[-3000:]

    folder = root / "cache" / "imagenet-80px"
    manifest = cache.read_manifest(folder)
    wnids = manifest["meta"]["wnids"]
    run_dir = only("runs/imagenet/random-s0/AnB_k5/*", root)
    result = json.loads((run_dir / "result.json").read_text())
    assert (result["dataset"], result["model"], result["recipe"], result["steps"]) == ("imagenet", "alexnet", "tiny", 4)
    assert (
        result["val_evaluations"] == 2
        and 0.0 <= result["val_top1"] <= 1.0
        and result["val_top1_best10_mean"] is not None
    )

    split = json.loads((run_dir / "split.json").read_text())
    a, b = split["halves"]["A"], split["halves"]["B"]
    assert a["names"] == [wnids[c] for c in a["classes"]] and sorted(a["names"] + b["names"]) == wnids
    labels = np.load(folder / "train" / "labels.npy")
    skipped = len(manifest["phases"]["train"]["skipped"])  # the unreadable file is in class 0
    assert result["n_train_images"] == np.isin(labels, b["classes"]).sum() - (skipped if 0 in b["classes"] else 0)
    assert result["n_val_images"] == 4 * len(b["classes"])

    # The transfer subtracts its SOURCE's mean image: half A's, from the cache's class sums.
    base_pt = only("bases/baseA-*/base.pt", root)
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    images = np.load(folder / "train" / "images.npy")
    usable = np.ones(len(labels), dtype=bool)
    usable[[s["row"] for s in manifest["phases"]["train"]["skipped"]]] = False
    half_a = images[usable & np.isin(labels, a["classes"])].mean(axis=0)
    assert torch.equal(checkpoint["augment.mean_image"], torch.load(base_pt, weights_only=True)["mean_image"])
    # One rounding to float32 of a float64 mean.
    assert np.allclose(checkpoint["augment.mean_image"].numpy(), half_a, rtol=FP32_EPS, atol=0)
    assert checkpoint["net.fc8.weight"].shape[0] == 1000  # the paper's 1000-way fc8, also for a half


def test_a_run_without_a_usable_root_stops_in_one_line(cli, root):
    assert "data.root=/nonexistent/ilsvrc is not a folder" in input_error(
        "+exp=base", "half=A", "data=imagenet", "data.root=/nonexistent/ilsvrc"
    )
    done = cli("+exp=base", "half=A", "data=imagenet", root=root)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "data.root is required for data=imagenet" in done.stderr
    assert not root.exists()
