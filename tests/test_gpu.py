"""GPU-only checks of the device path (scripts/gpu_check.sh runs them): bf16 + channels-last,
torch.compile, frozen layers, the pinned-buffer loader, and the real CLI. Skipped without CUDA."""

import csv
import json
import math

import pytest
import torch
from conftest import assert_close_fp32, prepare_cli, shared_a_device_at_once

from transfer_lab.compose import compose_config
from transfer_lab.data.datamodule import HalfDataModule
from transfer_lab.data.loader import BatchLoader
from transfer_lab.data.registry import load_dataset
from transfer_lab.data.splits import make_split
from transfer_lab.run.build import build_module, build_trainer
from transfer_lab.spec import spec_from_config
from transfer_lab.synthetic_imagenet import write_tree

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def transfer_setup(imagenet_cache, *overrides: str):
    spec = spec_from_config(compose_config(["+exp=anb", "k=5", *imagenet_cache["overrides"], *overrides]))
    dataset = load_dataset(spec.data)
    half = dataset.half(make_split("random", 0, dataset.natural).classes("B"))
    return spec, half, build_module(spec, len(half.classes), half.mean_image())


@pytest.mark.parametrize("compile", [False, True])
def test_frozen_transfer_trains_in_bf16_channels_last(imagenet_cache, tmp_path, compile):
    spec, half, module = transfer_setup(imagenet_cache, f"model.compile={str(compile).lower()}")
    assert spec.trainer["precision"] == "bf16-mixed"
    before = {name: p.detach().clone() for name, p in module.net.named_parameters()}
    trainer = build_trainer(
        spec,
        [],
        max_steps=3,
        max_epochs=-1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(module, datamodule=HalfDataModule(half, 16, loader_threads=2))
    assert module.memory_format == torch.channels_last
    assert module.net.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    after = dict(module.net.named_parameters())
    for name in ("conv1.weight", "conv5.bias"):  # frozen: bit-identical
        assert torch.equal(after[name].cpu(), before[name]), name
    for name in ("fc6.weight", "fc8.weight"):  # trained
        assert not torch.equal(after[name].cpu(), before[name]), name
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


def test_gpu_crops_are_the_cpu_crops_and_cost_no_copy_to_channels_last(imagenet_cache):
    _, half, module = transfer_setup(imagenet_cache)
    images = torch.from_numpy(half.train_images[list(range(8))])
    cpu = module.augment(images, train=False).contiguous()
    gpu = module.to("cuda").augment(images.cuda(), train=False)
    assert_close_fp32(gpu.cpu(), cpu, fan_in=1)  # elementwise: a few roundings
    train = module.augment(images.cuda(), train=True)
    assert train.is_contiguous(memory_format=torch.channels_last)


def test_the_gpu_loader_serves_the_cpu_loaders_batches_while_its_buffers_are_reused(imagenet_cache):
    _, half, _ = transfer_setup(imagenet_cache)
    images, labels = half.train_images, half.train_labels

    def epochs(device: str) -> list:
        torch.manual_seed(0)
        loader = BatchLoader(images, labels, batch_size=4, shuffle=True, threads=2, device=device)
        served = []
        for _ in range(3):
            for batch_images, batch_labels in loader:
                torch.cuda._sleep(2_000_000)  # a slow step on the same stream: the loader runs ahead, buffers recycle
                served.append((batch_images.cpu(), batch_labels.cpu()))
        return served

    on_gpu, on_cpu = epochs("cuda"), epochs("cpu")
    assert len(on_gpu) == len(on_cpu) > 3 * 4  # more batches than the ring has buffers (threads + 2)
    for (gpu_images, gpu_labels), (cpu_images, cpu_labels) in zip(on_gpu, on_cpu):
        assert torch.equal(gpu_images, cpu_images) and torch.equal(gpu_labels, cpu_labels)


def test_the_cli_trains_from_the_cache_on_the_gpu(cli, imagenet_cache, tmp_path):
    root = tmp_path / "out"
    cache_dir = imagenet_cache["paths_root"] / "cache" / "imagenet-80px"
    done = cli(
        "+exp=anb",
        "k=3",
        *imagenet_cache["overrides"],
        f"data.cache_dir={cache_dir}",
        "recipe.batch_size=16",
        "recipe.max_steps=4",
        "recipe.val_check_interval=2",
        root=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(root.glob("runs/imagenet/random-s0/AnB_k3/*/result.json")).read_text())
    assert result["steps"] == 4 and result["val_evaluations"] == 2
    assert (result["device"], result["gpu_slot"], result["precision"]) == ("cuda:0", 0, "bf16-mixed")


def test_a_sweep_runs_each_job_on_a_gpu_it_holds_alone(cli, tmp_path):
    root = tmp_path / "out"
    done = cli(
        "-m", "+exp=base", "half=A,B", "seed=0,1", "recipe.max_steps=20", "recipe.val_check_interval=10", root=root
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [json.loads(p.read_text()) for p in root.glob("runs/**/result.json")]
    assert len(runs) == 4
    count = torch.cuda.device_count()
    assert {r["device"] for r in runs} <= {f"cuda:{i}" for i in range(count)}
    assert not shared_a_device_at_once(runs), "two jobs trained on one GPU at once"


def test_the_issues_base_run_stays_finite_in_bf16(cli, tmp_path):
    # Issue 10: +exp=base half=B data=imagenet recipe=fast on a 256 px cache of the synthetic tree went
    # NaN by step ~109 in bf16 (when each class was one colour). 200 steps of batch 256, ~10 epochs of half B.
    tree, root = tmp_path / "tree", tmp_path / "out"
    write_tree(tree, classes=10, per_class=1000, val_per_class=10, size=64)
    prepared = prepare_cli("data=imagenet", f"data.root={tree}", f"paths.root={root}", workers=8)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    done = cli(
        "+exp=base",
        "half=B",
        "data=imagenet",
        "recipe=fast",
        f"data.root={tree}",
        "recipe.max_steps=200",
        "recipe.val_check_interval=100",
        "trainer.log_every_n_steps=10",
        "trainer.enable_progress_bar=false",
        root=root,
        fast=False,
    )  # fast=True would add recipe=tiny
    assert done.returncode == 0, done.stderr[-3000:]  # a non-finite loss would have stopped it (exit 2)
    run_dir = next(root.glob("runs/imagenet/random-s0/baseB/*"))
    result = json.loads((run_dir / "result.json").read_text())
    assert (result["precision"], result["steps"], result["val_evaluations"]) == ("bf16-mixed", 200, 2)
    with open(run_dir / "metrics.csv") as f:
        losses = [float(row["train/loss"]) for row in csv.DictReader(f) if row.get("train/loss")]
    assert len(losses) >= 15 and all(math.isfinite(loss) for loss in losses)  # logged every 10 steps
