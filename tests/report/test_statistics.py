"""Intervals and verdicts against values computed by hand (t quantiles from printed tables)."""

import math

import pytest

from transfer_lab.report.statistics import (
    DOES_NOT_HOLD,
    HOLDS,
    UNDECIDED,
    Interval,
    paired_interval,
    seeds_to_decide,
    t_quantile,
    welch_df,
    welch_interval,
)


@pytest.mark.parametrize(
    "p, df, table",
    [
        (0.975, 1, 12.7062),
        (0.975, 2, 4.3027),
        (0.975, 3, 3.1824),
        (0.975, 4, 2.7764),
        (0.975, 10, 2.2281),
        (0.975, 30, 2.0423),
        (0.95, 7, 1.8946),
        (0.995, 5, 4.0321),
        (0.025, 5, -2.5706),
        (0.975, 10_000, 1.9602),
    ],
)
def test_t_quantiles_match_the_printed_table(p, df, table):
    assert t_quantile(p, df) == pytest.approx(table, abs=1e-4)


def test_t_quantiles_of_fractional_degrees_of_freedom_lie_between_the_whole_ones():
    assert t_quantile(0.975, 4) < t_quantile(0.975, 3.5) < t_quantile(0.975, 3)


# One side per seed: a = 0.70, 0.72, 0.74 and b = 0.72, 0.70, 0.68 (seed 0, 1, 2); both sample variances 0.0004.
A, B = [0.70, 0.72, 0.74], [0.72, 0.70, 0.68]


def test_the_paired_interval_is_the_t_interval_of_the_per_seed_differences():
    # differences -0.02, 0.02, 0.06: mean 0.02, sd 0.04, se 0.04 / sqrt 3; t(0.975, 2) = 4.302653
    interval = paired_interval([a - b for a, b in zip(A, B)])
    half = 4.302653 * 0.04 / math.sqrt(3)  # 0.099367
    assert (interval.estimate, interval.low, interval.high) == pytest.approx((0.02, 0.02 - half, 0.02 + half), abs=1e-6)
    assert (interval.n, interval.method) == (3, "paired t, 2 df")


def test_the_welch_interval_treats_the_sides_as_independent():
    # equal variances and sizes: Satterthwaite's df = 2 (n - 1) = 4, t(0.975, 4) = 2.776445; se = sqrt(2 * 0.0004 / 3)
    interval = welch_interval(A, B)
    half = 2.776445 * math.sqrt(2 * 0.0004 / 3)  # 0.045339
    assert (interval.estimate, interval.low, interval.high) == pytest.approx((0.02, 0.02 - half, 0.02 + half), abs=1e-6)
    assert interval.method == "Welch t, 4.0 df"


def test_welch_degrees_of_freedom_by_hand():
    # variances 0.0004 and 0.0007, n = 3 each: (0.0011 / 3)^2 / ((0.0004 / 3)^2 / 2 + (0.0007 / 3)^2 / 2) = 3.7231
    assert welch_df(0.0004, 3, 0.0007, 3) == pytest.approx(3.7231, abs=1e-4)


def test_pairing_removes_what_the_seeds_share():
    """Both sides move together with the seed: paired, the difference is exact; unpaired, it is lost in the spread."""
    base = [0.60, 0.65, 0.70]
    better = [value + 0.01 for value in base]
    assert paired_interval([b - a for a, b in zip(base, better)]).verdict(0.0) == HOLDS
    assert welch_interval(better, base).verdict(0.0) == UNDECIDED


@pytest.mark.parametrize("low, high, verdict", [(0.5, 2.0, HOLDS), (-2.0, -0.5, DOES_NOT_HOLD), (-0.5, 2.0, UNDECIDED)])
def test_the_verdict_follows_the_interval_and_the_threshold(low, high, verdict):
    assert Interval((low + high) / 2, low, high, 3, "paired t, 2 df", 1.0).verdict(0.0) == verdict


def test_seeds_to_decide_is_the_first_n_whose_half_width_is_below_the_distance():
    interval = Interval(0.01, -0.02, 0.04, 3, "paired t, 2 df", 0.012)
    n = seeds_to_decide(interval, 0.0)
    assert t_quantile(0.975, n - 1) * 0.012 / math.sqrt(n) < 0.01 <= t_quantile(0.975, n - 2) * 0.012 / math.sqrt(n - 1)
    assert seeds_to_decide(Interval(0.0, -0.02, 0.02, 3, "paired t, 2 df", 0.012), 0.0) is None  # on the threshold
