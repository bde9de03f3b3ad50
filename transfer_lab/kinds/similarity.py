"""+exp=similarity: how similar base A and base B are, layer by layer (linear CKA, similarity/job.py),
measured without training anything: it needs base A, base B and base B of a second seed."""

from dataclasses import replace

import numpy as np

from transfer_lab.errors import ConfigError
from transfer_lab.kinds.registry import RunKind, register
from transfer_lab.layout import SIMILARITY_FILE
from transfer_lab.similarity.cka import MIN_BATCH

REFERENCE_HALF = "B"  # the same-half pair: two seeds of base B, as BnB is the control of AnB
# The common image set is drawn with this fixed seed (not the run's), so every seed compares on the same images.
IMAGE_DRAW_SEED = 0


class Similarity(RunKind):
    name, preset, example = "similarity", "similarity", "+exp=similarity"
    record_file = SIMILARITY_FILE
    has_options = True
    runner = "transfer_lab.similarity.job.run"

    def choose(self, choice):  # compares base A and base B: no layer count, no direction
        if choice["k"] is not None:
            raise ConfigError(
                f"k={choice['k']} is set for +exp=similarity, which compares every layer: "
                f"drop k, or use +exp=probe k={choice['k']}"
            )
        return {"target": "B", "source": "A", "k": 0, "freeze": False}

    def series(self, spec):
        return "similarity"

    def bases(self, spec):
        """The base networks compared: A, B, and B of the reference seed (B')."""
        return {
            "A": spec.base_spec("A"),
            "B": spec.base_spec("B"),
            "B'": replace(spec.base_spec(REFERENCE_HALF), seed=settings(spec)["reference_seed"]),
        }

    def base_command(self, rebuild_command, base):
        """The run's own command (half B, its seed) with base's half and seed."""
        words = [word for word in rebuild_command.split() if not word.startswith(("half=", "seed="))]
        return " ".join([*words, f"half={base.target}", f"seed={base.seed}"])

    def check_inputs(self, spec, dataset, split):
        """Bad settings, or more images asked for than the set holds: one line, before any work."""
        wanted, available = settings(spec)["images"], len(image_pool(dataset, split))
        if wanted is not None and wanted > available:
            raise ConfigError(
                f"similarity.images={wanted} is larger than the {available} validation images of halves A and B: "
                f"use similarity.images={available} or fewer, or null for all"
            )


def settings(spec) -> dict:
    """similarity.images, batch_size and reference_seed, validated (ConfigError naming the fix)."""
    options = spec.options
    images, batch_size, reference = options.get("images"), options.get("batch_size"), options.get("reference_seed")
    if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < MIN_BATCH):
        raise ConfigError(
            f"similarity.images={images!r} is not a number of images: use an integer >= {MIN_BATCH}, or null for all"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < MIN_BATCH:
        raise ConfigError(
            f"similarity.batch_size={batch_size!r}: use an integer >= {MIN_BATCH} (images per HSIC estimate), e.g. 500"
        )
    reference = spec.seed + 1 if reference is None else reference
    if isinstance(reference, bool) or not isinstance(reference, int) or reference == spec.seed:
        raise ConfigError(
            f"similarity.reference_seed={reference!r}: use an integer seed other than seed={spec.seed}, "
            "or null for seed + 1"
        )
    return {"images": images, "batch_size": batch_size, "reference_seed": reference}


def image_pool(dataset, split) -> np.ndarray:
    """Rows of dataset.val_images in half A or B, in a fixed shuffled order (batches mix the classes:
    a batch of one class would measure only within-class structure)."""
    classes = [*split.halves["A"], *split.halves["B"]]
    rows = np.flatnonzero(np.isin(dataset.val_labels, classes))
    return rows[np.random.RandomState(IMAGE_DRAW_SEED).permutation(len(rows))]


KIND = register(Similarity())
