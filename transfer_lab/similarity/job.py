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
from pathlib import Path

import torch

from transfer_lab.data.images import all_rows
from transfer_lab.data.registry import target_half
from transfer_lab.devices import device_fields, job_device, torch_device
from transfer_lab.io import write_json
from transfer_lab.kinds.similarity import REFERENCE_HALF, image_pool, settings
from transfer_lab.layout import SIMILARITY_FILE
from transfer_lab.models.alexnet import LAYER_NAMES
from transfer_lab.models.features import layer_outputs, stored_network
from transfer_lab.run.record import completed_record
from transfer_lab.run.store import BaseNetwork, BaseStore
from transfer_lab.similarity.cka import StreamedCKA, batch_rows
from transfer_lab.spec import RunSpec

ESTIMATOR = (
    "linear CKA from the unbiased HSIC_1 (Song et al. 2012) averaged over batches, CKA = mean HSIC(K,L) / "
    "sqrt(mean HSIC(K,K) mean HSIC(L,L)) (minibatch CKA, Nguyen, Raghu and Kornblith 2021)"
)
CONV_MAPS = "flattened: one feature per channel and spatial position (C x H x W per image), no pooling"


def run(spec: RunSpec, run_dir: Path, store: BaseStore, bases: dict[str, BaseNetwork]) -> dict:
    """How a similarity run runs (its kind's runner, kinds/similarity.py): on the common image set of its
    data and split, on a device of its own."""
    dataset, split, _ = target_half(spec)
    with job_device() as gpu:
        return run_similarity(spec, run_dir, bases, dataset, split, gpu)


def run_similarity(
    spec: RunSpec, run_dir: Path, bases: dict[str, BaseNetwork], dataset, split, gpu: int | None = None
) -> dict:
    """CKA of the `bases` (the kind's bases: A, B, B') layer by layer on the common image set; writes
    similarity.json."""
    chosen = settings(spec)
    rows = image_pool(dataset, split)[: chosen["images"]]
    device = torch_device(gpu)
    nets = {
        name: stored_network(spec.model, spec.data, base.net_state, base.mean_image, device)
        for name, base in bases.items()
    }

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

    record = completed_record(
        spec,
        run_dir,
        started_at,
        device_fields(device, gpu),
        reference_seed=chosen["reference_seed"],
        reference_half=REFERENCE_HALF,
        n_images=len(rows),
        image_set="validation images of halves A and B"
        + ("" if chosen["images"] is None else f", a fixed draw of {len(rows)}"),
        batch_size=min(len(b) for b in batches),
        batches=len(batches),
        estimator=ESTIMATOR,
        conv_maps=CONV_MAPS,
        layers=list(LAYER_NAMES),
        features=widths,
        cka=[cka.value("A", "B") for cka in per_layer],
        cka_reference=[cka.value("B", "B'") for cka in per_layer],
        seconds=round(seconds, 3),
        base_checkpoints={name: str(base.checkpoint) for name, base in bases.items()},
    )
    write_json(Path(run_dir) / SIMILARITY_FILE, record)
    print(f"similarity: {len(rows)} images in {len(batches)} batches, {seconds:.1f} s", file=sys.stderr)
    return record
