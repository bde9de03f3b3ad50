"""A decode-free image cache: each image decoded once, warped to S x S (aspect not kept, as the
paper did) and stored as raw uint8 that training reads memory-mapped.

<cache_dir>/
  train/images.npy, val/images.npy   N x 3 x S x S uint8, one row per listed file, in list order
  train/labels.npy, val/labels.npy   N class indices (int64)
  train/class_sums.npy               K x 3 x S x S uint32 per-class pixel sums: any half's mean image
                                     without a pass over its images
  progress.json                      the plan's hash and every chunk written so far, with its sha256
  manifest.json                      written last, atomically, once all is verified: present = complete

Writing: chunks of CHUNK_IMAGES images are decoded by a process pool and written in place
(pwrite: a full disk is an error, not a crash); each finished chunk is recorded in progress.json,
so an interrupted prepare resumes where it stopped. Verification (cache_verify.py) reads every chunk
back against its checksum and sums the pixels per class; a chunk that fails is dropped from progress and
rewritten by the next run. A file that does not decode leaves a zero row, listed in the manifest
(row, file, error) and never served to training.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import filelock
import numpy as np
from PIL import Image

from transfer_lab.data.cache_passes import PROGRESS, Report, in_pool
from transfer_lab.data.cache_verify import verify
from transfer_lab.data.images import Rows
from transfer_lab.errors import ConfigError
from transfer_lab.io import read_json, save_numpy, write_json

PHASES = ("train", "val")
CHUNK_IMAGES = 512  # ~100 MB per worker at 256 px; what an interruption loses at most, per worker
MANIFEST = "manifest.json"
FORMAT = "transfer_lab raw uint8 image cache, version 1"


def state(folder: Path) -> str:
    """'complete' (manifest written), 'partial' (a prepare started here) or 'absent'."""
    folder = Path(folder)
    if (folder / MANIFEST).exists():
        return "complete"
    return "partial" if (folder / PROGRESS).exists() else "absent"


def read_manifest(folder: Path) -> dict:
    return read_json(Path(folder) / MANIFEST)


def open_cache(folder: Path) -> dict:
    """The complete cache in `folder` as ClassImages fields: images (memory-mapped, unreadable rows
    left out), labels and the training class sums."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    fields = {}
    for phase in PHASES:
        labels = np.load(folder / phase / "labels.npy")
        usable = np.ones(len(labels), dtype=bool)
        usable[[entry["row"] for entry in manifest["phases"][phase]["skipped"]]] = False
        rows = np.flatnonzero(usable)
        fields[f"{phase}_images"] = Rows(np.load(folder / phase / "images.npy", mmap_mode="r"), rows)
        fields[f"{phase}_labels"] = labels[rows]
    fields["train_class_sums"] = np.load(folder / "train" / "class_sums.npy", mmap_mode="r")
    return fields


def decode(path: str | Path, size: int) -> np.ndarray:
    """One image file -> 3 x size x size uint8 RGB. CMYK, grayscale, and PNG bytes under a .JPEG name all load."""
    with Image.open(path) as image:
        image.draft("RGB", (size, size))  # JPEG: decode at a reduced DCT scale when the image is >= 2x larger
        rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb).transpose(2, 0, 1)


def write_cache(
    folder: Path,
    root: Path,
    phases: dict[str, tuple[list[str], list[int]]],
    num_classes: int,
    image_size: int,
    meta: dict,
    workers: int,
    chunk_images: int = CHUNK_IMAGES,
    report: Report = lambda stage, done, total: None,
) -> dict:
    """Decode `phases` (files relative to `root`, labels) into `folder`, or finish an interrupted
    run there; return the manifest. One writer at a time per folder (a file lock)."""
    folder = Path(folder)
    plan = plan_hash(phases, num_classes, image_size)
    if state(folder) == "complete":
        return finished(folder, plan)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"cannot create the cache folder {folder} ({err.strerror or err}): choose another data.cache_dir"
        ) from None
    lock = filelock.FileLock(str(folder / ".prepare.lock"))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise ConfigError(f"another prepare is writing {folder} (it holds {lock.lock_file}): let it finish") from None
    try:
        if state(folder) == "complete":  # finished by the writer we raced
            return finished(folder, plan)
        progress = start_or_resume(folder, plan, phases, image_size, chunk_images)
        check_free_space(folder, phases, progress, image_size)
        convert(folder, Path(root), phases, progress, image_size, workers, report)
        class_sums = verify(folder, phases, progress, num_classes, image_size, workers, report)
        return finish(folder, plan, phases, progress, class_sums, image_size, meta)
    finally:
        lock.release()


def plan_hash(phases: dict, num_classes: int, image_size: int) -> str:
    """What the cache holds: every file and label of each phase, the class count and the image size."""
    plan = {"image_size": image_size, "num_classes": num_classes, "phases": phases}
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def finished(folder: Path, plan: str) -> dict:
    manifest = read_manifest(folder)
    if manifest["plan"] != plan:
        raise ConfigError(
            f"{folder} holds a complete cache of other images or another size: "
            "choose another data.cache_dir or delete it"
        )
    return manifest


def start_or_resume(folder: Path, plan: str, phases: dict, image_size: int, chunk_images: int) -> dict:
    """The progress record of this plan: resumed (with its own chunk size) if it matches, else a fresh one
    with empty arrays."""
    if (folder / PROGRESS).exists():
        progress = read_json(folder / PROGRESS)
        if progress["plan"] != plan:
            raise ConfigError(
                f"{folder} holds an unfinished cache of other images or another size: "
                "delete it or choose another data.cache_dir"
            )
        return progress
    for phase, (files, labels) in phases.items():
        (folder / phase).mkdir(exist_ok=True)
        save_numpy(folder / phase / "labels.npy", np.asarray(labels, dtype=np.int64))
        # A sparse file: the disk fills as chunks land, so an interrupted prepare holds only what it wrote.
        np.lib.format.open_memmap(
            folder / phase / "images.npy", mode="w+", dtype=np.uint8, shape=(len(files), 3, image_size, image_size)
        )
    progress = {"plan": plan, "chunk_images": chunk_images, "chunks": {phase: {} for phase in phases}}
    write_json(folder / PROGRESS, progress)
    return progress


def check_free_space(folder: Path, phases: dict, progress: dict, image_size: int) -> None:
    chunk, row_bytes = progress["chunk_images"], 3 * image_size * image_size
    rows_left = sum(len(files) - chunk * len(progress["chunks"][phase]) for phase, (files, _) in phases.items())
    needed, free = max(rows_left, 0) * row_bytes, shutil.disk_usage(folder).free
    if needed > free:
        raise ConfigError(
            f"{folder} needs {needed / 1e9:.1f} GB more and has {free / 1e9:.1f} GB free: "
            "choose a data.cache_dir on a larger disk or a smaller data.image_size"
        )


def convert(
    folder: Path, root: Path, phases: dict, progress: dict, image_size: int, workers: int, report: Report
) -> None:
    tasks, total = [], sum(len(files) for files, _ in phases.values())
    for phase, (files, _) in phases.items():
        path = folder / phase / "images.npy"
        offset = np.load(path, mmap_mode="r").offset
        for start in range(0, len(files), progress["chunk_images"]):
            if str(start) not in progress["chunks"][phase]:
                chunk = files[start : start + progress["chunk_images"]]
                tasks.append((phase, str(path), offset, start, str(root), chunk, image_size))
    done = total - sum(len(task[5]) for task in tasks)
    report("decode", done, total)

    def record(result) -> None:
        nonlocal done
        phase, start, count, sha256, skipped = result
        progress["chunks"][phase][str(start)] = {"sha256": sha256, "skipped": skipped}
        write_json(folder / PROGRESS, progress)
        done += count
        report("decode", done, total)

    in_pool(convert_chunk, tasks, workers, record)


def convert_chunk(task) -> tuple:
    """Decode one chunk and write it in place; runs in a worker process."""
    phase, path, offset, start, root, files, size = task
    out = np.zeros((len(files), 3, size, size), dtype=np.uint8)
    skipped = []
    for i, file in enumerate(files):
        try:
            out[i] = decode(Path(root) / file, size)
        except Exception as err:  # whatever a decoder raises, the file is unreadable: listed, never fatal
            skipped.append({"row": start + i, "file": file, "error": f"{type(err).__name__}: {err}"})
    data = out.tobytes()
    fd = os.open(path, os.O_WRONLY)
    try:
        written = os.pwrite(fd, data, offset + start * out[0].nbytes)
    finally:
        os.close(fd)
    if written != len(data):
        raise OSError(f"short write to {path} (disk full?)")
    return phase, start, len(files), hashlib.sha256(data).hexdigest(), skipped


def finish(
    folder: Path, plan: str, phases: dict, progress: dict, class_sums: np.ndarray, image_size: int, meta: dict
) -> dict:
    """Class sums, then the images forced to disk, then the manifest: the last write makes the cache complete."""
    save_numpy(folder / "train" / "class_sums.npy", class_sums)
    for phase in phases:
        fd = os.open(folder / phase / "images.npy", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    manifest = {
        "format": FORMAT,
        "plan": plan,
        "image_size": image_size,
        "num_classes": len(class_sums),
        "meta": meta,
        "phases": {},
    }
    for phase, (files, _) in phases.items():
        skipped = [entry for chunk in progress["chunks"][phase].values() for entry in chunk["skipped"]]
        manifest["phases"][phase] = {
            "files": len(files),
            "images": len(files) - len(skipped),
            "skipped": sorted(skipped, key=lambda entry: entry["row"]),
        }
    write_json(folder / MANIFEST, manifest)
    return manifest
