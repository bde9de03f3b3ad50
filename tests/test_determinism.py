"""Same seed, same device, same data: the same numbers, bit for bit (two real CLI runs on the CPU)."""

import json
from pathlib import Path

import torch


def trained(root: Path) -> dict[str, tuple[dict, dict]]:
    """series -> (result record, final weights) of every run under root."""
    out = {}
    for path in root.glob("runs/**/result.json"):
        result = json.loads(path.read_text())
        out[result["series"]] = (
            result,
            torch.load(path.parent / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"],
        )
    return out


def test_the_same_config_twice_gives_identical_numbers_and_weights(cli, tmp_path):
    # A fine-tuned transfer into a scarce target: base A, the scarce subset and the transfer, all seeded.
    command = ("+exp=anb", "k=3", "freeze=false", "data.target_per_class=20", "seed=5")
    first, second = tmp_path / "one", tmp_path / "two"
    for root in (first, second):
        done = cli(*command, root=root)
        assert done.returncode == 0, done.stderr[-3000:]
    a, b = trained(first), trained(second)
    assert sorted(a) == sorted(b) == ["AnB+", "baseA"]
    for series in a:
        (result_a, weights_a), (result_b, weights_b) = a[series], b[series]
        for field in ("val_top1", "val_top1_best", "val_top5", "n_train_images", "steps", "config_hash"):
            assert result_a[field] == result_b[field], (series, field)
        assert weights_a.keys() == weights_b.keys()
        assert all(torch.equal(weights_a[key], weights_b[key]) for key in weights_a), series
    assert a["AnB+"][0]["train_subset_sha256"] == b["AnB+"][0]["train_subset_sha256"]
    assert a["AnB+"][0]["n_train_images"] == 20 * 10
