"""ImageNet on disk: both layouts, the class order, the odd files, layout errors, and the paper's splits."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from transfer_lab.data.cache import decode
from transfer_lab.data.imagenet import load_imagenet, natural_flags, prepare_command, scan
from transfer_lab.data.splits import make_split
from transfer_lab.errors import ConfigError
from transfer_lab.synthetic_imagenet import write_tree


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    """The same 5 classes written in both layouts (same seed: same wnids and pixels)."""
    base = tmp_path_factory.mktemp("trees")
    for layout in ("folders", "kaggle"):
        write_tree(base / layout, classes=5, per_class=3, val_per_class=2, size=32, layout=layout, quirks=True)
    return {layout: base / layout for layout in ("folders", "kaggle")}


def test_both_layouts_give_the_same_classes_files_and_labels(trees):
    folders, kaggle = scan(str(trees["folders"])), scan(str(trees["kaggle"]))
    assert (folders.layout, kaggle.layout) == ("folders", "kaggle")
    assert folders.wnids == kaggle.wnids == sorted(folders.wnids) and len(folders.wnids) == 5
    for tree in (folders, kaggle):
        for phase, (files, labels) in tree.phases.items():
            assert labels == sorted(labels)  # class order, then file order
            if phase == "train" or tree.layout == "folders":
                # the class index is the position of the file's wnid folder among the sorted wnids
                assert [tree.wnids.index(Path(f).parent.name) for f in files] == labels
    assert [Path(f).name for f in folders.phases["val"][0]] == [Path(f).name for f in kaggle.phases["val"][0]]
    assert folders.phases["val"][1] == kaggle.phases["val"][1] == [c for c in range(5) for _ in range(2)]
    assert len(folders.phases["train"][0]) == 5 * 3 + 4  # the four odd files of class 0 are listed too


def test_cmyk_grayscale_and_png_named_jpeg_all_decode_to_rgb(trees):
    folder = trees["folders"] / "train" / scan(str(trees["folders"])).wnids[0]
    for name in ("quirk_cmyk", "quirk_gray", "quirk_png"):
        pixels = decode(folder / f"{name}.JPEG", 24)
        assert pixels.shape == (3, 24, 24) and pixels.dtype == np.uint8 and pixels.any()
    gray = decode(folder / "quirk_gray.JPEG", 24)
    assert np.array_equal(gray[0], gray[1]) and np.array_equal(gray[1], gray[2])
    with pytest.raises(OSError):
        decode(folder / "quirk_unreadable.JPEG", 24)


def layout_problem(tmp_path: Path, trees: dict, problem: str) -> Path:
    """A tree with one thing wrong."""
    root = tmp_path / problem
    if problem == "empty":
        root.mkdir()
    elif problem == "flat images":
        (root / "train").mkdir(parents=True)
        shutil.copy(next((trees["folders"] / "train").rglob("*_0.JPEG")), root / "train" / "a.JPEG")
    elif problem == "non-wnid folders":
        shutil.copytree(trees["folders"], root)
        (root / "train" / "cats").mkdir()
    elif problem == "no val":
        shutil.copytree(trees["folders"] / "train", root / "train")
    elif problem == "val class without train":
        shutil.copytree(trees["folders"], root)
        (root / "val" / "n99999999").mkdir()
    elif problem == "kaggle without csv":
        shutil.copytree(trees["kaggle"], root)
        (root / "LOC_val_solution.csv").unlink()
    elif problem == "csv lists a missing image":
        shutil.copytree(trees["kaggle"], root)
        next((root / "ILSVRC/Data/CLS-LOC/val").glob("*.JPEG")).unlink()
    return root


@pytest.mark.parametrize(
    "problem, message",
    [
        ("empty", "holds neither layout"),
        ("flat images", "holds no <wnid>/ class folders"),
        ("non-wnid folders", "folders that are not wnids (['cats'])"),
        ("no val", "val is missing"),
        ("val class without train", "classes without training images (['n99999999'])"),
        ("kaggle without csv", "LOC_val_solution.csv is missing"),
        ("csv lists a missing image", "1 validation images listed in"),
    ],
)
def test_a_wrong_tree_is_named_in_one_line(tmp_path, trees, problem, message):
    with pytest.raises(ConfigError) as err:
        scan(str(layout_problem(tmp_path, trees, problem)))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("root, message", [(None, "data.root is required"), ("/nonexistent/ilsvrc", "is not a folder")])
def test_a_missing_root_is_named(root, message):
    with pytest.raises(ConfigError, match=message):
        scan(root)


def test_training_without_a_cache_stops_with_the_exact_prepare_command(trees, tmp_path):
    data = {
        "name": "imagenet",
        "root": str(trees["folders"]),
        "cache_dir": str(tmp_path / "c"),
        "image_size": 80,
        "crop_size": 67,
    }
    with pytest.raises(ConfigError) as err:
        load_imagenet(data)
    command = (
        f"python -m transfer_lab.prepare data=imagenet data.root={trees['folders']} data.image_size=80 "
        f"data.cache_dir={tmp_path / 'c'}"
    )
    assert command == prepare_command(data) and str(err.value).endswith(command)
    assert not (tmp_path / "c").exists()
    with pytest.raises(ConfigError, match=re.escape("data.crop_size=227 does not fit data.image_size=80")):
        load_imagenet({**data, "crop_size": 227})


def test_natural_and_man_made_are_the_papers_449_and_551_classes():
    natural = natural_flags(1000)
    assert natural.sum() == 449
    split = make_split("natman", 0, natural)
    a, b = split.classes("A"), split.classes("B")
    assert (len(a), len(b)) == (551, 449) and not set(a) & set(b)
    # A = man-made, B = natural (the paper's text); the ranges' edges on both sides
    for c in (0, 397, 936, 958, 970, 972, 998):
        assert c in b, c
    for c in (398, 935, 959, 969, 971, 999):
        assert c in a, c


# Computed with np.random.seed([s]); np.random.choice(np.arange(1000), 500, replace=False), and
# checked against RandomState([s]).permutation(1000)[:500]: the same halves.
KNOWN_HALVES = {
    0: {"A_first": [0, 1, 2, 5, 9, 10], "A_last": [996, 997, 998], "B_first": [3, 4, 6, 7], "A_sum": 249620},
    1: {"A_first": [1, 5, 7, 9, 15, 16], "A_last": [991, 992, 993], "B_first": [0, 2, 3, 4], "A_sum": 249563},
    2: {"A_first": [0, 2, 4, 5, 8, 9], "A_last": [991, 992, 996], "B_first": [1, 3, 6, 7], "A_sum": 248099},
    3: {"A_first": [0, 5, 6, 7, 8, 10], "A_last": [992, 993, 994], "B_first": [1, 2, 3, 4], "A_sum": 249823},
}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_halves_of_the_1000_classes_are_the_papers(seed):
    split = make_split("random", seed, natural_flags(1000))
    a, b = split.classes("A"), split.classes("B")
    np.random.seed([seed])  # the authors' call, on numpy's legacy global RandomState
    assert list(a) == sorted(np.random.choice(np.arange(1000), 500, replace=False))
    known = KNOWN_HALVES[seed]
    assert list(a[:6]) == known["A_first"] and list(a[-3:]) == known["A_last"] and sum(a) == known["A_sum"]
    assert list(b[:4]) == known["B_first"] and len(b) == 500 and sorted(a + b) == list(range(1000))
