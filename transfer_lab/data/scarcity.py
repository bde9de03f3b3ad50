"""Scarce targets: `data.target_per_class=N` keeps N training images per class of a run's own half.

The subset is fixed: class c keeps the first N images of a shuffle of its training images seeded by
a fixed salt, the split and c, never by the run's seed. Every run with the same N and split (base
or transfer, any seed) trains on the same images, and a smaller N keeps a subset of a larger one,
so points of a sweep over N differ only in N. Validation stays complete.

A scarce run keeps the full half's training schedule: the recipe's epochs and fractional validation
intervals are counted in steps of the full half, so every N gets the same number of updates (as
the paper's reduced-data runs did: 200k iterations at every N) instead of a handful of steps.
"""

import hashlib
import json
from dataclasses import replace

import numpy as np

from transfer_lab.data.images import HalfImages, class_sums

SUBSET_SALT = "transfer_lab/target_per_class/v1"


def subset_seed(split: dict) -> int:
    """The seed of the per-class shuffles: the salt and the split only."""
    text = json.dumps([SUBSET_SALT, split], sort_keys=True)
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)


def scarce_half(half: HalfImages, per_class: int, split: dict) -> tuple[HalfImages, dict]:
    """`half` with at most `per_class` training images per class, and what to record about it:
    train_subset_sha256 (a digest of the images kept: equal digests, equal training sets) and
    warnings (a class with fewer images than asked for keeps all it has)."""
    seed = subset_seed(split)
    keep, short = [], {}
    for label, original_class in enumerate(half.classes):
        images = np.flatnonzero(half.train_labels == label)  # in dataset order, whatever the split
        shuffle = np.random.default_rng([seed, original_class]).permutation(len(images))
        keep.append(images[shuffle[:per_class]])
        if len(images) < per_class:
            short[original_class] = len(images)
    keep = np.sort(np.concatenate(keep))
    subset = replace(half, train_images=half.train_images.subset(keep), train_labels=half.train_labels[keep])
    # The class sums behind mean_image() are of the images the half trains on: the kept ones.
    sums = half.train_class_sums.copy()
    sums[list(half.classes)] = class_sums(subset.train_images, subset.train_labels, len(half.classes))
    subset = replace(subset, train_class_sums=sums)
    warnings = []
    if short:
        warnings.append(
            f"data.target_per_class={per_class} exceeds what {len(short)} of {len(half.classes)} classes have "
            f"(as few as {min(short.values())}, class {min(short, key=short.get)}): those classes use all their images"
        )
    digest = hashlib.sha256(np.asarray(half.classes, dtype=np.int64).tobytes() + keep.astype(np.int64).tobytes())
    return subset, {"train_subset_sha256": digest.hexdigest(), "warnings": warnings}


def full_half_schedule(recipe: dict, full_train_size: int) -> dict:
    """The recipe's max_epochs / max_steps / val_check_interval, as steps of the full half."""
    steps_per_epoch = max(1, full_train_size // min(recipe["batch_size"], full_train_size))
    max_steps = recipe["max_steps"]
    if (recipe["max_epochs"] or -1) > 0:
        by_epochs = recipe["max_epochs"] * steps_per_epoch
        max_steps = by_epochs if max_steps in (None, -1) else min(max_steps, by_epochs)
    every = recipe["val_check_interval"]
    if isinstance(every, float):  # a fraction of an epoch
        every = max(1, round(every * steps_per_epoch))
    return {"max_epochs": -1, "max_steps": max_steps, "val_check_interval": every}
