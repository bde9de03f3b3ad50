"""+exp=probe: layers 1..k of a base network frozen, one linear classifier on their output, trained on
the target half. A cheap reading of "how general is layer k?" beside the frozen transfer AnB.

The frozen layers never change, so their output is computed once (centre crops, no augmentation,
dropout off, no gradient) and the classifier is trained on the cached features: Adam on
standardised features, a few seconds per layer on a CPU instead of a network's training. A conv map
wider than probe.max_features is average-pooled to the largest square grid that fits. A probe is a
run like any other (run folder, result.json, "already done"); it has no mid-run checkpoint: an
interrupted probe is redone, which costs seconds.
"""

import hashlib
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from transfer_lab.data.loader import BatchLoader
from transfer_lab.data.registry import training_half
from transfer_lab.devices import device_fields, job_device, torch_device
from transfer_lab.io import save_torch, write_json
from transfer_lab.layout import RESULT_FILE
from transfer_lab.models.alexnet import LAYER_NAMES
from transfer_lab.models.features import layer_outputs, pooled, stored_network
from transfer_lab.run.record import completed_record
from transfer_lab.run.store import BaseNetwork, BaseStore
from transfer_lab.spec import RunSpec

FEATURE_BATCH = 256  # images per forward pass of the frozen layers


def run_probe(spec: RunSpec, run_dir: Path, store: BaseStore, bases: dict[str, BaseNetwork]) -> dict:
    """How a probe runs (its kind's runner, kinds/probe.py): on the layers of its source base, on a device of
    its own."""
    with job_device() as gpu:
        return train_probe(spec, run_dir, bases["source"], gpu)


def layers_digest(net: nn.Module, k: int) -> str:
    """sha256 of the weights of layers 1..k (names, dtypes and bytes): equal digests, bit-identical layers."""
    digest = hashlib.sha256()
    state = {key: value for key, value in net.state_dict().items() if key.split(".")[0] in LAYER_NAMES[:k]}
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(str(state[key].dtype).encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def frozen_features(
    net, augment, images, labels, k: int, max_features: int, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer k's (pooled) output for every image, in order, and the labels."""
    loader = BatchLoader(images, labels, FEATURE_BATCH, shuffle=False, device=device)
    features, targets = [], []
    for batch, batch_labels in loader:
        features.append(pooled(layer_outputs(net, augment, batch, k)[-1], max_features))
        targets.append(batch_labels)
    return torch.cat(features), torch.cat(targets)


def fit_linear(train_x, train_y, classes: int, options: dict) -> nn.Linear:
    """A linear classifier on standardised features (statistics of the training set), trained with Adam."""
    head = nn.Linear(train_x.shape[1], classes).to(train_x.device)
    optimizer = torch.optim.Adam(head.parameters(), lr=options["lr"], weight_decay=options["weight_decay"])
    for _ in range(options["epochs"]):
        for rows in torch.randperm(len(train_y), device=train_x.device).split(options["batch_size"]):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(head(train_x[rows]), train_y[rows]).backward()
            optimizer.step()
    return head


def train_probe(spec: RunSpec, run_dir: Path, base: BaseNetwork, gpu: int | None = None) -> dict:
    """Train the probe of `spec` on the target half (layers 1..k of `base`) in run_dir; returns its result record."""
    run_dir = Path(run_dir)
    torch.manual_seed(spec.rng_seed)
    options, device = spec.options, torch_device(gpu)
    _, _, half, half_fields = training_half(spec)
    for warning in half_fields["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    net, augment = stored_network(spec.model, spec.data, base.net_state, base.mean_image, device)

    started_at, start = time.time(), time.perf_counter()
    train_x, train_y = frozen_features(
        net, augment, half.train_images, half.train_labels, spec.k, options["max_features"], device
    )
    val_x, val_y = frozen_features(
        net, augment, half.val_images, half.val_labels, spec.k, options["max_features"], device
    )
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)  # dead units (ReLU zeros) keep std 0: not divided by 0
    feature_seconds = time.perf_counter() - start
    head = fit_linear((train_x - mean) / std, train_y, len(half.classes), options)
    with torch.no_grad():
        logits = head((val_x - mean) / std)
    top1 = float((logits.argmax(1) == val_y).float().mean())
    top5 = float((logits.topk(min(5, logits.shape[1]), 1).indices == val_y[:, None]).any(1).float().mean())
    seconds = time.perf_counter() - start

    save_torch(run_dir / "probe.pt", {"head": head.state_dict(), "feature_mean": mean.cpu(), "feature_std": std.cpu()})
    steps_per_epoch = -(-len(train_y) // options["batch_size"])
    result = completed_record(
        spec,
        run_dir,
        started_at,
        device_fields(device, gpu),
        rng_seed=spec.rng_seed,
        **half_fields,
        val_top1=top1,
        val_top1_best=top1,  # one evaluation, of the final classifier
        val_top5=top5 if logits.shape[1] > 5 else None,
        val_evaluations=1,
        epochs=options["epochs"],
        steps=options["epochs"] * steps_per_epoch,
        probe=options,
        probe_layer=LAYER_NAMES[spec.k - 1],
        probe_features=int(train_x.shape[1]),
        frozen_layers_sha256=layers_digest(net, spec.k),  # after training: tests compare it with the base's
        feature_seconds=round(feature_seconds, 3),
        train_seconds=round(seconds, 3),
        base_checkpoint=str(base.checkpoint),
    )
    write_json(run_dir / RESULT_FILE, result)
    return result
