"""Linear CKA against its definition and invariances, the streamed estimator, and +exp=similarity through the CLI."""

import json
import re

import pytest
import torch
from conftest import ONE_WORKER, input_error, only

from transfer_lab.report.similarity import permutation_p, ranks, spearman
from transfer_lab.similarity.cka import StreamedCKA, batch_rows, linear_cka, streamed_cka, unbiased_hsic

TINY_SET = ["similarity.images=64", "similarity.batch_size=16"]


def activations(n: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """x and a noisy nonlinear function of it: related, not identical (CKA about 0.4)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=generator)
    y = torch.relu(x @ torch.randn(d, d, generator=generator) / d**0.5) + 0.5 * torch.randn(n, d, generator=generator)
    return x, y


def test_unbiased_hsic_is_song_et_als_formula():
    x, y = activations(12, 5)
    K, L = x @ x.T, y @ y.T
    kt, lt = K - torch.diag(K.diag()), L - torch.diag(L.diag())
    ones, m = torch.ones(12, dtype=torch.float64), 12
    kt, lt = kt.double(), lt.double()
    expected = (
        torch.trace(kt @ lt)
        + ones @ kt @ ones * (ones @ lt @ ones) / ((m - 1) * (m - 2))
        - 2 / (m - 2) * ones @ kt @ lt @ ones
    ) / (m * (m - 3))
    assert unbiased_hsic(K.double(), L.double()) == pytest.approx(float(expected), rel=1e-10)


def test_cka_is_one_for_identical_rotated_and_scaled_activations():
    x, _ = activations(400, 16)
    rotation, _ = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(1)))
    for other in (x, x @ rotation, 3.7 * x, 0.2 * x @ rotation):
        assert streamed_cka(x, other, batch_size=100) == pytest.approx(1.0, abs=1e-6)
        assert linear_cka(x, other) == pytest.approx(1.0, abs=1e-6)


def test_conv_maps_are_flattened():
    maps = torch.randn(64, 3, 4, 4)
    assert streamed_cka(maps, maps.flatten(1), batch_size=64) == pytest.approx(1.0, abs=1e-9)


def test_independent_features_have_cka_near_zero_at_large_n():
    x, _ = activations(4000, 64, seed=0)
    z, _ = activations(4000, 64, seed=1)
    assert abs(streamed_cka(x, z, batch_size=500)) < 2e-3
    assert abs(streamed_cka(x, z, batch_size=4000)) < 2e-3
    assert linear_cka(x, z) > 5e-3  # the biased estimate stays off zero: why the streamed one is unbiased


def test_minibatch_estimate_agrees_with_the_whole_set_within_1e3():
    x, y = activations(4000, 64)
    whole = streamed_cka(x, y, batch_size=4000)
    assert 0.3 < whole < 0.5
    assert streamed_cka(x, y, batch_size=500) == pytest.approx(whole, abs=1e-3)
    # and the whole-set unbiased estimate is the definition's value up to the definition's O(d/n) bias
    assert linear_cka(x, y) == pytest.approx(whole, abs=0.02)


def test_batches_are_near_equal_and_never_under_the_batch_size():
    sizes = [len(rows) for rows in batch_rows(1003, 250)]
    assert sum(sizes) == 1003 and min(sizes) >= 250 and max(sizes) - min(sizes) <= 1
    assert [len(rows) for rows in batch_rows(10, 500)] == [10]


def test_each_self_hsic_is_shared_by_the_pairs_that_use_it():
    cka = StreamedCKA([("A", "B"), ("B", "C")])
    assert cka.terms == [("A", "A"), ("A", "B"), ("B", "B"), ("B", "C"), ("C", "C")]


def test_rank_correlation_and_its_exact_p_value():
    assert ranks([3.0, 1.0, 1.0, 2.0]) == [4.0, 1.5, 1.5, 3.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert permutation_p([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == pytest.approx(2 / 120)


def test_similarity_cli_trains_missing_bases_writes_its_record_and_is_done_on_rerun(cli, root):
    done = cli("+exp=similarity", *TINY_SET, root=root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("training base") == 3  # base A, base B and base B of seed 1 (the reference)
    record = json.loads(only("runs/animalfashion/random-s0/similarity/*/similarity.json", root).read_text())
    assert (record["exp"], record["seed"], record["reference_seed"], record["n_images"], record["batches"]) == (
        "similarity",
        0,
        1,
        64,
        4,
    )
    assert len(record["cka"]) == len(record["cka_reference"]) == 8 == len(record["layers"])
    assert all(-0.5 < value <= 1.0 + 1e-9 for value in record["cka"] + record["cka_reference"])
    assert "flattened" in record["conv_maps"] and "HSIC_1" in record["estimator"]
    assert "similarity: CKA(A,B) layers 1-8:" in done.stderr.splitlines()[-1]

    again = cli("+exp=similarity", *TINY_SET, root=root)
    assert again.returncode == 0 and "already done" in again.stderr and "training" not in again.stderr

    report = cli("-m", "+exp=probe_grid", "run=probeAnB_k1,probeAnB_k6", "probe.epochs=2", ONE_WORKER, root=root)
    assert report.returncode == 0, report.stderr[-3000:]
    from transfer_lab.report import write_report  # the report of both folders, as a user would run it

    text = write_report([root / "runs"], root / "report").read_text()
    assert (root / "report" / "similarity.png").stat().st_size > 0
    table = {
        int(m[1]): (float(m[2]), float(m[3]))
        for m in re.finditer(r"^\| (\d) \w+ \| ([-\d.]+) \| ([-\d.]+) \|", text, re.M)
    }
    for k in range(1, 9):  # one similarity run: its values, as the report rounds them
        assert table[k] == (
            pytest.approx(record["cka"][k - 1], abs=5e-4),
            pytest.approx(record["cka_reference"][k - 1], abs=5e-4),
        )
    assert "| probeAnB |" in text and "Rank correlation" in text


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["similarity.images=100000"],
            "similarity.images=100000 is larger than the 4000 validation images of halves A and B",
        ),
        (["similarity.images=2"], "similarity.images=2 is not a number of images"),
        (["similarity.reference_seed=0"], "use an integer seed other than seed=0"),
        (["k=3"], "k=3 is set for +exp=similarity"),
    ],
)
def test_bad_similarity_input_is_refused_with_one_line(overrides, message):
    assert message in input_error("+exp=similarity", *TINY_SET[1:], *overrides)


def test_similarity_without_its_base_networks_is_one_line_when_told_not_to_train_them(cli, root):
    done = cli("+exp=similarity", *TINY_SET[1:], "auto_base=false", root=root)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "no base network baseA in" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not list(root.glob("bases/*/base.pt"))
