"""`python -m transfer_lab.bench` in a subprocess on the small ImageNet cache: its table and JSON."""

import json
import os
import subprocess
import sys

from conftest import REPO, SMALL_IMAGENET


def bench(*args: str):
    cmd = [sys.executable, "-m", "transfer_lab.bench", *args]
    return subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True, text=True, timeout=600)


def test_bench_prints_and_writes_model_only_input_only_full_path_and_ratio_for_each_k(imagenet_cache, tmp_path):
    out = tmp_path / "bench.json"
    done = bench("--ks", "0,5", "--warmup", "1", "--steps", "2", "--out", str(out), *imagenet_cache["overrides"], "recipe.batch_size=16")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = lines.index(next(line for line in lines if "model-only img/s" in line))
    assert "alexnet on imagenet: 67 px crops of 80 px, batch 16, 32-true" in lines[header - 1]
    assert "input-only img/s" in lines[header] and "1 loader threads" in lines[header - 1]
    assert [line.split()[:2] for line in lines[header + 1 : header + 3]] == [["0", "0"], ["5", "5"]]

    record = json.loads(out.read_text())
    assert record["device"].startswith("CPU") and record["timed_steps"] == 2
    for row, k in zip(record["rows"], (0, 5)):
        assert (row["k"], row["frozen_layers"], row["batch_size"], row["compile"]) == (k, k, 16, False)
        assert row["model_only_images_per_s"] > 0 and row["full_path_images_per_s"] > 0
        assert row["input_only_images_per_s"] > row["full_path_images_per_s"]  # the network costs something
        assert abs(row["ratio"] - row["full_path_images_per_s"] / row["model_only_images_per_s"]) < 0.01


def test_bench_without_a_cache_stops_with_the_prepare_command(tmp_path):
    done = bench(*SMALL_IMAGENET, f"data.root={tmp_path}", f"paths.root={tmp_path / 'out'}")
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "holds neither layout" in done.stderr


def test_bench_refuses_a_layer_count_outside_the_network(imagenet_cache):
    done = bench("--ks", "0,8", *imagenet_cache["overrides"])
    assert done.returncode == 2 and "use ks in 0..7" in done.stderr
