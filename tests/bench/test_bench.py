"""`python -m transfer_lab.bench` in a subprocess on the small ImageNet cache: its table and JSON;
the training FLOP count against a hand computation."""

import json
import os

import pytest
from conftest import SMALL_IMAGENET, run_module

from transfer_lab.bench.flops import peak_bf16_tflops, training_gflop_per_image, utilisation
from transfer_lab.models.alexnet import AlexNet
from transfer_lab.models.module import TransferModule


def bench(*args: str):
    return run_module("transfer_lab.bench", list(args), env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_bench_prints_and_writes_model_only_input_only_full_path_and_ratio_for_each_k(imagenet_cache, tmp_path):
    out = tmp_path / "bench.json"
    # Half B holds ~160 images: 10 batches of 16, so 1 + 12 steps cross an epoch boundary.
    done = bench(
        "--ks",
        "0,5",
        "--warmup",
        "1",
        "--steps",
        "12",
        "--rounds",
        "2",
        "--out",
        str(out),
        *imagenet_cache["overrides"],
        "recipe.batch_size=16",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = lines.index(next(line for line in lines if "model-only img/s" in line))
    assert "alexnet on imagenet: 67 px crops of 80 px, batch 16, 32-true" in lines[header - 1]
    assert "plain loop img/s" in lines[header] and "input-only img/s" in lines[header]
    assert "1 loader threads" in lines[header - 1]
    assert lines[header].split()[-6:] == ["host", "ms/step", "device", "ms/step", "GFLOP/img", "MFU"]
    rows = [line.split() for line in lines[header + 1 : header + 3]]
    assert [row[:2] for row in rows] == [["0", "0"], ["5", "5"]]
    assert [row[-1] for row in rows] == ["n/a", "n/a"] and [row[-3] for row in rows] == [
        "n/a",
        "n/a",
    ]  # no GPU, no peak

    record = json.loads(out.read_text())
    assert record["device"].startswith("CPU") and record["timed_steps"] == 12
    for row, k in zip(record["rows"], (0, 5)):
        assert (row["k"], row["frozen_layers"], row["batch_size"], row["compile"]) == (k, k, 16, False)
        assert row["model_only_images_per_s"] > 0 and row["full_path_images_per_s"] > 0
        # Which path is faster is a measurement (the benchmark prints it), not a property: the rates are only positive.
        assert row["input_only_images_per_s"] > 0
        assert row["ratio"] == pytest.approx(
            row["full_path_images_per_s"] / row["model_only_images_per_s"], rel=0.01
        )  # rates rounded to 0.1
        assert row["ratio_to_plain_loop"] == pytest.approx(
            row["full_path_images_per_s"] / row["plain_loop_images_per_s"], rel=0.01
        )
        for name in ("model_only", "plain_loop", "full_path"):  # each rate: the best of its 2 rounds
            rounds = row["rounds"][f"{name}_images_per_s"]
            assert len(rounds) == 2 and min(rounds) > 0 and row[f"{name}_images_per_s"] == max(rounds)
        assert row["host_ms_per_step"] > 0 and row["model_only_host_ms_per_step"] > 0
        assert row["device_ms_per_step"] is None and row["mfu"] is None and row["peak_bf16_tflops"] is None
        assert row["epoch_boundaries_crossed"] == 1
    base, frozen = record["rows"]
    assert base["train_gflop_per_image"] > frozen["train_gflop_per_image"] > 0  # no backward below layer 6


@pytest.mark.parametrize(
    "split", [["split=ratio", "split.source_classes=6"], ["split=classes", "split.A=[0,1,2]", "split.B=[5,6]"]]
)
def test_the_bench_builds_the_half_of_any_split_as_a_run_does(imagenet_cache, tmp_path, split):
    out = tmp_path / "bench.json"
    done = bench(
        "--ks",
        "0",
        "--warmup",
        "1",
        "--steps",
        "1",
        "--out",
        str(out),
        *imagenet_cache["overrides"],
        *split,
        "recipe.batch_size=8",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert 70 <= row["n_train_images"] <= 80  # 2 classes of 40 training images (class 0's unreadable file aside)


def test_a_diverging_bench_stops_with_one_line_instead_of_printing_rates(imagenet_cache, tmp_path):
    done = bench(
        "--ks",
        "0",
        "--warmup",
        "1",
        "--steps",
        "4",
        "--out",
        str(tmp_path / "bench.json"),
        *imagenet_cache["overrides"],
        "recipe.batch_size=8",
        "recipe.optimizer.lr=1e6",
        "trainer.log_every_n_steps=2",
    )
    assert done.returncode == 2 and "training diverged" in done.stderr and "Traceback" not in done.stderr
    assert "model-only img/s" not in done.stdout and not (tmp_path / "bench.json").exists()


def tiny_net_module(frozen_layers: int) -> TransferModule:
    net = AlexNet(
        3,
        in_channels=1,
        input_size=8,
        widths=(2, 4, 4, 4, 4, 6, 6),
        kernels=(3,) * 5,
        strides=(1,) * 5,
        paddings=(1,) * 5,
        groups=(1, 2, 1, 2, 2),
        pools=(False,) * 5,
        lrns=(False,) * 5,
    )
    return TransferModule(net, augment=None, optimizer=None, frozen_layers=frozen_layers)


@pytest.mark.parametrize("frozen", [0, 2, 5])
def test_the_training_flop_count_is_the_hand_computed_one(frozen):
    # 2 x multiply-adds of each layer on an 8 x 8 image (padding 1 keeps 8 x 8): 2 * out * in/groups * 3 * 3 * 64 ...
    forward = [
        2 * 2 * 1 * 9 * 64,
        2 * 4 * 1 * 9 * 64,
        2 * 4 * 4 * 9 * 64,
        2 * 4 * 2 * 9 * 64,
        2 * 4 * 2 * 9 * 64,
        2 * 256 * 6,
        2 * 6 * 6,
        2 * 6 * 3,
    ]  # ... and 2 * in * out for fc6 (4 x 8 x 8 inputs), fc7, fc8
    trainable = forward[frozen:]
    # backward: weight and input gradients (2x forward) of each trainable layer, but no input
    # gradient for the first trainable one (its input needs none)
    expected = sum(forward) + 2 * sum(trainable) - trainable[0]
    assert training_gflop_per_image(tiny_net_module(frozen), channels=1, crop_size=8) * 1e9 == pytest.approx(expected)


def test_utilisation_is_the_rate_times_the_flops_over_the_device_peak():
    assert peak_bf16_tflops("NVIDIA H100 80GB HBM3") == peak_bf16_tflops("NVIDIA H200") == 989.0
    assert peak_bf16_tflops("NVIDIA H100 PCIe") == 756.0 and peak_bf16_tflops("CPU x86_64, 2 threads") is None
    assert utilisation(10_000, 4.0, 989.0) == pytest.approx(40e12 / 989e12, abs=1e-4)
    assert utilisation(10_000, 4.0, None) is None


def test_bench_without_a_cache_stops_with_the_prepare_command(tmp_path):
    done = bench(*SMALL_IMAGENET, f"data.root={tmp_path}", f"paths.root={tmp_path / 'out'}")
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "holds neither layout" in done.stderr


def test_bench_refuses_a_layer_count_outside_the_network(imagenet_cache):
    done = bench("--ks", "0,8", *imagenet_cache["overrides"])
    assert done.returncode == 2 and "use ks in 0..7" in done.stderr


def test_loader_jobs_read_one_cache_at_once_and_report_their_aggregate_rate(imagenet_cache, tmp_path):
    out = tmp_path / "loaders.json"
    done = bench(
        "--loader-jobs", "2", "--steps", "3", "--out", str(out), *imagenet_cache["overrides"], "recipe.batch_size=16"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 input-only loaders at once, 3 batches each" in done.stdout
    jobs = json.loads(out.read_text())["loader_jobs"]
    # Each job reads as many images, and the aggregate's window spans the slowest job's: at most `jobs` times
    # its rate (more only with the jobs' clocks apart); how far the jobs overlapped is the measurement, not a property.
    slowest, aggregate = jobs["slowest_job_images_per_s"], jobs["aggregate_images_per_s"]
    assert jobs["jobs"] == 2 and slowest > 0 and 0 < aggregate <= 2 * slowest + 0.1
