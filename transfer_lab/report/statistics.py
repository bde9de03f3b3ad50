"""95% confidence intervals of a difference over seeds, and the verdict a threshold gives them.

Paired (one difference per seed present on both sides, Student's t with n - 1 degrees of freedom)
where both sides' runs share seeds, Welch's unequal-variance t (Welch 1947, Satterthwaite's degrees
of freedom) where they cannot pair. The t quantile comes from the regularized incomplete beta
function (Numerical Recipes' continued fraction), so the report needs no scipy.
"""

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache

CONFIDENCE = 0.95
MOST_SEEDS_SUGGESTED = 100  # beyond this, "undecided" says the difference is too close to the threshold to decide

HOLDS, DOES_NOT_HOLD, UNDECIDED = "holds", "does not hold", "undecided"


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), 0 <= x <= 1."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


@lru_cache(maxsize=1024)  # seeds_to_decide asks for the same quantiles for every finding
def t_quantile(p: float, df: float) -> float:
    """The p quantile of Student's t with df (> 0, not necessarily whole) degrees of freedom, by bisection."""
    if not 0 < p < 1 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2 * high
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


@dataclass(frozen=True)
class Interval:
    """An estimated difference and its 95% interval (low/high None with one seed: no spread to judge by)."""

    estimate: float
    low: float | None
    high: float | None
    n: int  # seeds behind it: paired differences, or the smaller side (Welch)
    method: str  # "paired t, 2 df" / "Welch t, 3.1 df" / "1 seed"
    spread: float | None  # the standard deviation the interval's width comes from (None with one seed)

    def verdict(self, threshold: float) -> str:
        """holds: the whole interval above the threshold; does not hold: wholly below; undecided: astride."""
        if self.low is not None and self.low > threshold:
            return HOLDS
        if self.high is not None and self.high < threshold:
            return DOES_NOT_HOLD
        return UNDECIDED


def paired_interval(differences: list[float]) -> Interval:
    """The mean of per-seed differences and its t interval (n - 1 degrees of freedom)."""
    n, mean = len(differences), statistics.fmean(differences)
    if n < 2:
        return Interval(mean, None, None, n, "1 seed", None)
    sd = statistics.stdev(differences)
    half = t_quantile((1 + CONFIDENCE) / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, f"paired t, {n - 1} df", sd)


def welch_df(variance_a: float, n_a: int, variance_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom of mean(a) - mean(b)."""
    share_a, share_b = variance_a / n_a, variance_b / n_b
    if share_a + share_b == 0:
        return n_a + n_b - 2
    return (share_a + share_b) ** 2 / (share_a**2 / (n_a - 1) + share_b**2 / (n_b - 1))


def welch_interval(a: list[float], b: list[float]) -> Interval:
    """mean(a) - mean(b) of two independent samples and Welch's t interval."""
    estimate, n = statistics.fmean(a) - statistics.fmean(b), min(len(a), len(b))
    if n < 2:
        return Interval(estimate, None, None, n, "1 seed", None)
    variance_a, variance_b = statistics.variance(a), statistics.variance(b)
    se = math.sqrt(variance_a / len(a) + variance_b / len(b))
    df = welch_df(variance_a, len(a), variance_b, len(b))
    half = t_quantile((1 + CONFIDENCE) / 2, df) * se if se > 0 else 0.0
    return Interval(estimate, estimate - half, estimate + half, n, f"Welch t, {df:.1f} df", se * math.sqrt(n))


def seeds_to_decide(interval: Interval, threshold: float) -> int | None:
    """About how many seeds would put the interval wholly on one side of the threshold, if the estimate
    and its per-seed spread stayed as observed (None: more than MOST_SEEDS_SUGGESTED, or no spread)."""
    if interval.spread is None:
        return None
    distance = abs(interval.estimate - threshold)
    for n in range(max(interval.n, 2), MOST_SEEDS_SUGGESTED + 1):
        if t_quantile((1 + CONFIDENCE) / 2, n - 1) * interval.spread / math.sqrt(n) < distance:
            return n
    return None
