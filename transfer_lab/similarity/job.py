"""+exp=similarity: how similar base A and base B are, layer by layer, measured without training anything.

Base A and base B of the study (and base B of a second seed, the "same task" reference that plays
BnB's role) run on one common image set: the validation images of both halves, or a fixed draw of
similarity.images of them, the same for every seed. Each network sees the images as it was
validated: its own mean image subtracted, centre crops, dropout off. For each layer 1..8 the
activations are streamed batch by batch into the minibatch CKA estimator (cka.py); conv maps are
flattened. The record, similarity.json, holds the per-layer values beside result.json-like fields.
"""

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from transfer_lab.data.images import all_rows
from transfer_lab.devices import torch_device
from transfer_lab.errors import ConfigError
from transfer_lab.io import write_json
from transfer_lab.models.alexnet import LAYER_NAMES
from transfer_lab.models.features import layer_outputs, stored_network
from transfer_lab.run.record import SIMILARITY_FILE, run_fields
from transfer_lab.run.store import BaseNetwork
from transfer_lab.similarity.cka import MIN_BATCH, StreamedCKA, batch_rows
from transfer_lab.spec import RunSpec

REFERENCE_HALF = "B"  # the same-half pair: two seeds of base B, as BnB is the control of AnB
# The common image set is drawn with this fixed seed (not the run's), so every seed compares on the same images.
IMAGE_DRAW_SEED = 0
ESTIMATOR = ("linear CKA from the unbiased HSIC_1 (Song et al. 2012) averaged over batches, CKA = mean HSIC(K,L) / "
             "sqrt(mean HSIC(K,K) mean HSIC(L,L)) (minibatch CKA, Nguyen, Raghu and Kornblith 2021)")
CONV_MAPS = "flattened: one feature per channel and spatial position (C x H x W per image), no pooling"


def settings(spec: RunSpec) -> dict:
    """similarity.images, batch_size and reference_seed, validated (ConfigError naming the fix)."""
    options = spec.options
    images, batch_size, reference = options.get("images"), options.get("batch_size"), options.get("reference_seed")
    if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < MIN_BATCH):
        raise ConfigError(f"similarity.images={images!r} is not a number of images: use an integer >= {MIN_BATCH}, or null for all")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < MIN_BATCH:
        raise ConfigError(f"similarity.batch_size={batch_size!r}: use an integer >= {MIN_BATCH} (images per HSIC estimate), e.g. 500")
    reference = spec.seed + 1 if reference is None else reference
    if isinstance(reference, bool) or not isinstance(reference, int) or reference == spec.seed:
        raise ConfigError(f"similarity.reference_seed={reference!r}: use an integer seed other than seed={spec.seed}, or null for seed + 1")
    return {"images": images, "batch_size": batch_size, "reference_seed": reference}


def image_pool(dataset, split) -> np.ndarray:
    """Rows of dataset.val_images in half A or B, in a fixed shuffled order (batches mix the classes:
    a batch of one class would measure only within-class structure)."""
    classes = [*split.halves["A"], *split.halves["B"]]
    rows = np.flatnonzero(np.isin(dataset.val_labels, classes))
    return rows[np.random.RandomState(IMAGE_DRAW_SEED).permutation(len(rows))]


def check_similarity(spec: RunSpec, dataset, split) -> None:
    """Bad settings, or more images asked for than the set holds: one line, before any work."""
    wanted, available = settings(spec)["images"], len(image_pool(dataset, split))
    if wanted is not None and wanted > available:
        raise ConfigError(f"similarity.images={wanted} is larger than the {available} validation images of halves A and B: "
                          f"use similarity.images={available} or fewer, or null for all")


def base_command_for(rebuild_command: str, base: RunSpec) -> str:
    """The command that trains `base`: the run's own (half B, its seed) with base's half and seed."""
    words = [word for word in rebuild_command.split() if not word.startswith(("half=", "seed="))]
    return " ".join([*words, f"half={base.target}", f"seed={base.seed}"])


def base_specs(spec: RunSpec) -> dict[str, RunSpec]:
    """The base networks compared: A, B, and B of the reference seed (B')."""
    return {"A": spec.base_spec("A"), "B": spec.base_spec("B"),
            "B'": replace(spec.base_spec(REFERENCE_HALF), seed=settings(spec)["reference_seed"])}


def run_similarity(spec: RunSpec, run_dir: Path, bases: dict[str, BaseNetwork], dataset, split, gpu: int | None = None) -> dict:
    """CKA of the `bases` (base_specs' networks) layer by layer on the common image set; writes similarity.json."""
    chosen = settings(spec)
    rows = image_pool(dataset, split)[: chosen["images"]]
    device = torch_device(gpu)
    nets = {name: stored_network(spec.model, spec.data, base.net_state, base.mean_image, device) for name, base in bases.items()}

    started_at, start = time.time(), time.perf_counter()
    per_layer = [StreamedCKA([("A", "B"), ("B", "B'")]) for _ in LAYER_NAMES]
    images, widths = all_rows(dataset.val_images), []
    batches = batch_rows(len(rows), chosen["batch_size"])
    for batch in batches:
        x = torch.from_numpy(images.take(rows[batch.numpy()])).to(device)
        outputs = {name: layer_outputs(net, augment, x, len(LAYER_NAMES)) for name, (net, augment) in nets.items()}
        widths = [out[0].numel() for out in outputs["A"]]
        for layer, cka in enumerate(per_layer):
            cka.update({name: out[layer] for name, out in outputs.items()})
    seconds = time.perf_counter() - start

    record = {
        **run_fields(spec),
        "reference_seed": chosen["reference_seed"],
        "reference_half": REFERENCE_HALF,
        "n_images": len(rows),
        "image_set": "validation images of halves A and B" + ("" if chosen["images"] is None else f", a fixed draw of {len(rows)}"),
        "batch_size": min(len(b) for b in batches),
        "batches": len(batches),
        "estimator": ESTIMATOR,
        "conv_maps": CONV_MAPS,
        "layers": list(LAYER_NAMES),
        "features": widths,
        "cka": [cka.value("A", "B") for cka in per_layer],
        "cka_reference": [cka.value("B", "B'") for cka in per_layer],
        "seconds": round(seconds, 3),
        "started_at": started_at,
        "finished_at": time.time(),
        "base_checkpoints": {name: str(base.checkpoint) for name, base in bases.items()},
        "device": str(device),
        "cpu_threads": torch.get_num_threads(),
        "gpu_slot": gpu,
        "run_dir": str(run_dir),
        "status": "completed",
    }
    write_json(Path(run_dir) / SIMILARITY_FILE, record)
    print(f"similarity: {len(rows)} images in {len(batches)} batches, {seconds:.1f} s", file=sys.stderr)
    return record
