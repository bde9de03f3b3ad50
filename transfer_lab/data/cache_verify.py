"""The image cache's verification pass: every chunk read back against the checksum recorded when it
was written, and the training images' pixels summed per class on the way (transfer_lab/data/cache.py)."""

import hashlib
from pathlib import Path

import numpy as np

from transfer_lab.data.cache_passes import PROGRESS, Report, in_pool
from transfer_lab.io import write_json


class VerifyError(RuntimeError):
    """Chunks that did not read back as written (dropped from progress: the next run rewrites them)."""


def verify(
    folder: Path, phases: dict, progress: dict, num_classes: int, image_size: int, workers: int, report: Report
) -> np.ndarray:
    """Read every chunk back against its checksum; return the training class sums (K x 3 x S x S uint32)."""
    tasks = []
    for phase, (files, labels) in phases.items():
        for start in range(0, len(files), progress["chunk_images"]):
            chunk = progress["chunks"][phase][str(start)]
            stop = min(start + progress["chunk_images"], len(files))
            chunk_labels = np.asarray(labels[start:stop]) if phase == "train" else None
            skipped = [entry["row"] - start for entry in chunk["skipped"]]
            tasks.append(
                (phase, str(folder / phase / "images.npy"), start, stop, chunk["sha256"], chunk_labels, skipped)
            )
    class_sums = np.zeros((num_classes, 3, image_size, image_size), dtype=np.uint32)
    failed, done, total = [], 0, sum(len(files) for files, _ in phases.values())
    report("verify", done, total)

    def record(result) -> None:
        nonlocal done
        phase, start, count, intact, sums = result
        if not intact:
            failed.append((phase, start))
        for label, pixels in sums.items():
            class_sums[label] += pixels
        done += count
        report("verify", done, total)

    in_pool(verify_chunk, tasks, workers, record)
    if failed:
        for phase, start in failed:
            del progress["chunks"][phase][str(start)]
        write_json(folder / PROGRESS, progress)
        raise VerifyError(
            f"{len(failed)} chunks of {folder} did not read back as written (dropped): "
            "run the same command again to rewrite them"
        )
    return class_sums


def verify_chunk(task) -> tuple:
    """Checksum one chunk as stored and sum its usable pixels per class; runs in a worker process."""
    phase, path, start, stop, expected, labels, skipped = task
    images = np.ascontiguousarray(np.load(path, mmap_mode="r")[start:stop])
    intact = hashlib.sha256(images.tobytes()).hexdigest() == expected
    sums = {}
    if labels is not None:
        usable = np.ones(len(labels), dtype=bool)
        usable[skipped] = False
        for label in np.unique(labels[usable]):
            sums[int(label)] = images[usable & (labels == label)].sum(axis=0, dtype=np.uint32)
    return phase, start, stop - start, intact, sums
