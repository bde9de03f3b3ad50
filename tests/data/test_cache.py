"""The decode-free cache: contents, interruption and resume, verification, one writer at a time."""

from pathlib import Path

import filelock
import numpy as np
import pytest
import torch
from conftest import FP32_EPS

from transfer_lab.data import cache
from transfer_lab.data.cache_verify import VerifyError
from transfer_lab.data.datamodule import HalfDataModule
from transfer_lab.data.imagenet import load_imagenet, scan
from transfer_lab.errors import ConfigError
from transfer_lab.io import read_json
from transfer_lab.synthetic_imagenet import write_tree

SIZE, CHUNK = 24, 4


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    write_tree(root, classes=4, per_class=6, val_per_class=3, size=32, quirks=True)
    return scan(str(root))


def write(folder: Path, tree, report=lambda stage, done, total: None, size: int = SIZE) -> dict:
    meta = {"root": str(tree.root), "layout": tree.layout, "wnids": tree.wnids}
    return cache.write_cache(
        folder, tree.root, tree.phases, len(tree.wnids), size, meta, workers=1, chunk_images=CHUNK, report=report
    )


def data_config(folder: Path, tree) -> dict:
    return {"name": "imagenet", "root": str(tree.root), "cache_dir": str(folder), "image_size": SIZE, "crop_size": SIZE}


def stop_after(images: int, stage: str = "decode"):
    """A progress reporter that interrupts (like Ctrl-C) once `images` are done in `stage`."""
    calls = []

    def report(at_stage, done, total):
        calls.append((at_stage, done, total))
        if at_stage == stage and done >= images:
            raise KeyboardInterrupt

    report.calls = calls
    return report


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tree) -> Path:
    """A cache written in one go, the reference for the others."""
    folder = tmp_path_factory.mktemp("straight")
    write(folder, tree)
    return folder


def test_the_cache_holds_the_decoded_images_labels_and_class_sums(straight, tree):
    manifest = cache.read_manifest(straight)
    files, labels = tree.phases["train"]
    skipped = manifest["phases"]["train"]["skipped"]
    assert [Path(s["file"]).name for s in skipped] == ["quirk_unreadable.JPEG"] and "UnidentifiedImageError" in skipped[
        0
    ]["error"]
    assert manifest["phases"]["train"]["images"] == len(files) - 1 and manifest["phases"]["val"]["skipped"] == []

    dataset = load_imagenet(data_config(straight, tree))
    assert dataset.class_names == tree.wnids and len(dataset.train_labels) == len(files) - 1
    usable = [i for i in range(len(files)) if i != skipped[0]["row"]]
    assert dataset.train_labels.tolist() == [labels[i] for i in usable]
    every = dataset.train_images[np.arange(len(usable))]
    for j in (0, 5, len(usable) - 1):  # rows are the decoded files, in list order
        assert np.array_equal(every[j], cache.decode(tree.root / files[usable[j]], SIZE))
    for c in range(len(tree.wnids)):
        assert np.array_equal(dataset.train_class_sums[c], every[dataset.train_labels == c].sum(axis=0))
    half = dataset.half((1, 3))
    direct = every[np.isin(dataset.train_labels, (1, 3))].mean(axis=0)
    assert np.allclose(half.mean_image().numpy(), direct, rtol=FP32_EPS, atol=0)  # one rounding to float32


def test_an_interrupted_prepare_resumes_and_ends_identical(tmp_path, straight, tree):
    folder = tmp_path / "cache"
    interrupt = stop_after(3 * CHUNK)
    with pytest.raises(KeyboardInterrupt):
        write(folder, tree, report=interrupt)
    assert cache.state(folder) == "partial" and not (folder / cache.MANIFEST).exists()
    with pytest.raises(
        ConfigError, match=r"is incomplete .* finish it with: python -m transfer_lab.prepare data=imagenet"
    ):
        load_imagenet(data_config(folder, tree))

    resumed = stop_after(10**9)
    write(folder, tree, report=resumed)
    first_decode = next(done for stage, done, _ in resumed.calls if stage == "decode")
    assert first_decode >= 3 * CHUNK  # the chunks written before the interruption are not decoded again
    assert cache.state(folder) == "complete"
    for phase in cache.PHASES:
        assert (folder / phase / "images.npy").read_bytes() == (straight / phase / "images.npy").read_bytes()
    assert np.array_equal(np.load(folder / "train" / "class_sums.npy"), np.load(straight / "train" / "class_sums.npy"))
    assert cache.read_manifest(folder)["phases"] == cache.read_manifest(straight)["phases"]


def test_verification_drops_a_corrupted_chunk_and_the_next_run_rewrites_it(tmp_path, straight, tree):
    folder = tmp_path / "cache"

    def corrupt_before_verify(stage, done, total):
        if stage == "verify" and done == 0:
            images = np.load(folder / "train" / "images.npy", mmap_mode="r+")
            images[CHUNK + 1, 0, 0, 0] ^= 0xFF  # one byte of the second chunk
            images.flush()

    with pytest.raises(VerifyError, match=r"1 chunks .* did not read back as written"):
        write(folder, tree, report=corrupt_before_verify)
    assert cache.state(folder) == "partial"
    assert str(CHUNK) not in read_json(folder / cache.PROGRESS)["chunks"]["train"]
    write(folder, tree)
    assert (folder / "train" / "images.npy").read_bytes() == (straight / "train" / "images.npy").read_bytes()


def test_an_unfinished_cache_of_another_size_is_not_resumed(tmp_path, tree):
    folder = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        write(folder, tree, report=stop_after(CHUNK))
    with pytest.raises(ConfigError, match="unfinished cache of other images or another size"):
        write(folder, tree, size=SIZE + 8)


def test_a_complete_cache_of_another_size_is_not_taken_for_this_one(straight, tree):
    with pytest.raises(ConfigError, match="holds a complete cache of other images or another size"):
        write(straight, tree, size=SIZE + 8)
    assert write(straight, tree) == cache.read_manifest(straight)


def test_a_cache_is_only_read_for_its_own_root_and_size(straight, tree, tmp_path):
    data = data_config(straight, tree)
    with pytest.raises(ConfigError, match=f"was prepared from {tree.root}, not data.root={tmp_path}"):
        load_imagenet({**data, "root": str(tmp_path)})
    with pytest.raises(ConfigError, match=f"holds {SIZE} px images, not data.image_size=32"):
        load_imagenet({**data, "image_size": 32})
    assert len(load_imagenet({**data, "root": None}).class_names) == len(tree.wnids)  # the cache alone suffices


def test_an_unwritable_cache_folder_is_named(tmp_path, tree):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot create the cache folder"):
        write(blocker / "cache", tree)


def test_one_writer_at_a_time(tmp_path, tree):
    folder = tmp_path / "cache"
    folder.mkdir()
    with (
        filelock.FileLock(str(folder / ".prepare.lock")),
        pytest.raises(ConfigError, match="another prepare is writing"),
    ):
        write(folder, tree)


def test_loader_threads_serve_the_cache_rows_of_each_batch_in_order(straight, tree):
    half = load_imagenet(data_config(straight, tree)).half((0, 2))
    assert isinstance(half.val_images.array, np.memmap)  # read from the file, not loaded
    loader = HalfDataModule(half, batch_size=4, loader_threads=2).val_dataloader()
    served = list(loader)
    assert sum(len(labels) for _, labels in served) == len(half.val_labels)
    for i, (images, labels) in enumerate(served):
        rows = list(range(4 * i, 4 * i + len(labels)))
        assert torch.equal(images, torch.from_numpy(half.val_images[rows]))
        assert labels.tolist() == half.val_labels[rows].tolist()
    buffers = torch.zeros_like(served[0][0]), torch.zeros_like(served[0][1])  # the GPU path's pinned buffers
    images, labels = loader.gather(np.arange(4), out=buffers)
    assert images.data_ptr() == buffers[0].data_ptr() and torch.equal(images, served[0][0])
