"""Scarce targets: the fixed per-class subset, its schedule, and the scarcity sweep through the real CLI."""

import json
from pathlib import Path

import numpy as np
from conftest import FP32_EPS, ONE_WORKER, QUICK

from transfer_lab.data.images import ClassImages
from transfer_lab.data.scarcity import full_half_schedule, scarce_half

SPLIT = {"name": "random", "seed": 0}


def toy_half(per_class=(12, 9, 3), classes=(2, 5, 7)):
    """A half of classes 2, 5, 7 with 12, 9 and 3 training images; image i is filled with its index i."""
    labels = np.concatenate([[c] * n for c, n in zip(classes, per_class)] + [[0, 1]])  # + 2 images of other classes
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]
    images = np.arange(len(labels), dtype=np.uint8)[:, None, None, None] * np.ones((1, 1, 2, 2), dtype=np.uint8)
    dataset = ClassImages("toy", [f"c{i}" for i in range(8)], np.zeros(8, bool), images, labels, images[:4], labels[:4])
    return dataset.half(classes)


def kept(half) -> set[int]:
    return {int(image[0, 0, 0]) for image in half.train_images}


def test_the_subset_has_n_images_of_every_class_and_keeps_validation_whole():
    half = toy_half()
    subset, info = scarce_half(half, 3, SPLIT)
    assert np.bincount(subset.train_labels, minlength=3).tolist() == [3, 3, 3]
    assert info["warnings"] == []
    assert subset.val_labels is half.val_labels and subset.classes == half.classes
    for image, label in zip(subset.train_images, subset.train_labels):  # images keep their own labels
        original = np.flatnonzero((half.train_images == image).all(axis=(1, 2, 3)))
        assert half.train_labels[original].tolist() == [label]


def test_the_mean_image_of_a_subset_is_the_mean_of_its_own_images():
    # It was the sum over all of the half's images divided by the subset's count: 4x too large here.
    subset, _ = scarce_half(toy_half(), 3, SPLIT)
    kept_images = subset.train_images.take(np.arange(len(subset.train_labels))).astype(np.float64)
    # One rounding to float32 of a float64 mean.
    assert np.allclose(subset.mean_image().numpy(), kept_images.mean(axis=0), rtol=FP32_EPS, atol=0)


def test_the_subset_is_fixed_nested_and_depends_on_the_split_only():
    half = toy_half()
    small, info = scarce_half(half, 2, SPLIT)
    again, info_again = scarce_half(toy_half(), 2, SPLIT)
    assert kept(small) == kept(again) and info["train_subset_sha256"] == info_again["train_subset_sha256"]
    larger, larger_info = scarce_half(half, 5, SPLIT)
    assert kept(small) < kept(larger) and larger_info["train_subset_sha256"] != info["train_subset_sha256"]
    other, _ = scarce_half(half, 5, {"name": "random", "seed": 1})
    assert kept(other) != kept(larger)


def test_more_than_a_class_has_uses_what_exists_and_says_so():
    subset, info = scarce_half(toy_half(), 10, SPLIT)
    assert np.bincount(subset.train_labels, minlength=3).tolist() == [10, 9, 3]
    assert len(info["warnings"]) == 1
    assert "data.target_per_class=10 exceeds what 2 of 3 classes have (as few as 3, class 7)" in info["warnings"][0]


def test_a_scarce_run_keeps_the_full_halfs_schedule():
    recipe = {"batch_size": 64, "max_epochs": 3, "max_steps": -1, "val_check_interval": 1.0}
    assert full_half_schedule(recipe, 7910) == {"max_epochs": -1, "max_steps": 3 * 123, "val_check_interval": 123}
    tiny = {"batch_size": 64, "max_epochs": 1, "max_steps": 6, "val_check_interval": 3}
    assert full_half_schedule(tiny, 7910) == {"max_epochs": -1, "max_steps": 6, "val_check_interval": 3}
    paper = {"batch_size": 256, "max_epochs": -1, "max_steps": 450000, "val_check_interval": 1000}
    assert full_half_schedule(paper, 645000) == {"max_epochs": -1, "max_steps": 450000, "val_check_interval": 1000}


def results(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in root.glob("runs/**/result.json")]


def test_the_scarcity_sweep_runs_through_the_cli_and_reports(cli, root):
    # 3 images per class, more than any class has, and all; scratch, frozen and fine-tuned at k=1 and 2.
    jobs = ["data.target_per_class=3,1000,null", "run=baseB,AnB_k1,AnB+_k1,AnB+_k2"]
    done = cli("-m", "+exp=scarcity", *jobs, ONE_WORKER, *QUICK, root=root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sweep finished: 12 done, 0 failed, 0 left" in done.stderr
    found = results(root)
    scarce = [r for r in found if r["target_per_class"] == 3]
    assert sorted((r["series"], r["k"]) for r in scarce) == [("AnB", 1), ("AnB+", 1), ("AnB+", 2), ("baseB", 0)]
    assert {r["n_train_images"] for r in scarce} == {3 * 10}
    assert len({r["train_subset_sha256"] for r in scarce}) == 1  # scratch and transfers: the same images
    assert all(r["steps"] == 2 and r["n_val_images"] == 2000 for r in scarce)
    # The transfers' source is base A, trained once, on its full half.
    base_a = [r for r in found if r["series"] == "baseA"]
    assert len(base_a) == 1 and base_a[0]["target_per_class"] is None and base_a[0]["n_train_images"] > 7000
    assert {r["base_checkpoint"] for r in found if r["exp"] == "transfer"} == {base_a[0]["base_checkpoint"]}

    over = [r for r in found if r["target_per_class"] == 1000]
    assert all(len(r["warnings"]) == 1 and r["n_train_images"] == r["n_train_images_full"] for r in over)
    assert done.stderr.count("warning: data.target_per_class=1000 exceeds") == 4

    report = root / "reports" / "animalfashion-random-scarcity"
    assert (report / "scarcity.png").stat().st_size > 0 and (report / "scarcity.pdf").exists()
    text = (report / "report.md").read_text()
    assert "## Scarce targets: AnimalFashion-20, random class halves, small AlexNet" in text
    rows = [line for line in text.splitlines() if line.startswith(("| 3 |", "| 1000 |", "| all |"))]
    assert len(rows) == 3 and all(row.count("(1 seed") == 3 for row in rows)
    assert all("k=" in row for row in rows)


def test_a_missing_source_base_names_the_full_base_command(cli, root):
    done = cli("+exp=anb", "k=3", "data.target_per_class=5", "seed=2", "auto_base=false", root=root)
    assert done.returncode == 2
    assert "python -m transfer_lab +exp=base half=A" in done.stderr and "seed=2" in done.stderr
    assert "target_per_class" not in done.stderr.split("train it with:")[1]
