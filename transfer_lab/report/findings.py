"""What the numbers say: the paper's Table 1 boosts and qualitative findings. Each finding is a fixed
contrast of cells (no k chosen by looking at the data) with the threshold its words state; its
estimate, 95% interval and n come from report/statistics.py, and its verdict from the interval."""

import csv
import statistics
from dataclasses import dataclass
from importlib import resources

from transfer_lab.report.records import Study
from transfer_lab.report.statistics import (
    DOES_NOT_HOLD,
    HOLDS,
    UNDECIDED,
    Interval,
    paired_interval,
    seeds_to_decide,
    welch_interval,
)

PP = 0.01  # one percentage point of top-1
BOOST_RANGES = ((1, 7), (3, 7), (5, 7))
# Our natman halves: A = man-made, B = natural; the paper's table names directions by their target.
PAPER_NATMAN = {
    "baseA": ("to_manmade", 0),
    "baseB": ("to_natural", 0),
    "BnA": ("to_manmade", None),
    "AnB": ("to_natural", None),
}
AT_CHANCE = "not evaluable: networks at chance"
Weights = dict[tuple[str, int], float]  # a contrast: weight of each cell (series, k); the weights sum to 0


@dataclass
class Finding:
    claim: str  # says the contrast is above `threshold`
    verdict: str
    numbers: str  # the contrast, its estimate, 95% interval, n and method
    interval: Interval | None = None
    threshold: float = 0.0
    seeds_needed: int | None = None  # undecided: about how many seeds would decide it at the observed spread


def pp(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.2f} pp"


def interval_text(interval: Interval) -> str:
    """ "+1.20 pp, 95% CI [+0.40, +2.00] pp, n=3 (paired t, 2 df)"."""
    if interval.low is None:
        return f"{pp(interval.estimate)}, n={interval.n} (no interval: 1 seed)"
    return (
        f"{pp(interval.estimate)}, 95% CI [{100 * interval.low:+.2f}, {100 * interval.high:+.2f}] pp, "
        f"n={interval.n} ({interval.method})"
    )


def per_seed(study: Study, weights: Weights) -> dict[tuple[int, int], float] | None:
    """The contrast at each seed present in every cell it weighs (None when a cell is missing)."""
    cells = [study.cells.get(point) for point in weights]
    if any(cell is None for cell in cells):
        return None
    seeds = set.intersection(*(set(cell.runs) for cell in cells))
    return {seed: sum(w * cell.values[seed] for w, cell in zip(weights.values(), cells)) for seed in sorted(seeds)}


def contrast(study: Study, weights: Weights) -> Interval | None:
    """The paired contrast: the mean over shared seeds of its per-seed value, and its t interval."""
    values = per_seed(study, weights)
    return paired_interval(list(values.values())) if values else None


def judged(claim: str, label: str, interval: Interval, threshold: float, at_chance: bool) -> Finding:
    """A finding's verdict: at chance -> not evaluable; 1 seed -> indicative only; otherwise from the interval."""
    numbers = f"{label} = {interval_text(interval)}; threshold {100 * threshold:+.0f} pp".replace("+0 pp", "0 pp")
    if at_chance:
        return Finding(claim, AT_CHANCE, numbers, interval, threshold)
    if interval.low is None:
        on_the_mean = HOLDS if interval.estimate > threshold else DOES_NOT_HOLD
        return Finding(claim, f"{on_the_mean} (indicative only: 1 seed)", numbers, interval, threshold)
    verdict = interval.verdict(threshold)
    if verdict != UNDECIDED:
        return Finding(claim, verdict, numbers, interval, threshold)
    needed = seeds_to_decide(interval, threshold)
    about = (
        f"about {needed} seeds would decide it at this spread"
        if needed
        else "the estimate is too close to the threshold for any practical number of seeds"
    )
    return Finding(
        claim, f"{UNDECIDED} (the interval contains the threshold; {about})", numbers, interval, threshold, needed
    )


def within_study(study: Study, claim: str, label: str, weights: Weights, threshold: float, needs: str) -> Finding:
    interval = contrast(study, weights)
    if interval is None:
        return Finding(claim, "not evaluable", needs)
    at_chance = any(study.cells[point].at_chance for point in weights)
    return judged(claim, label, interval, threshold, at_chance)


def mean_of(series: str, ks, weight: float) -> Weights:
    return {(series, k): weight / len(ks) for k in ks}


def findings(study: Study, natman: Study | None) -> list[Finding]:
    """The paper's qualitative findings (Yosinski et al. 2014, Sec. 4.1-4.2), checked on this study."""
    anb_plus = sorted(study.series("AnB+"))
    boost = "Fine-tuned AnB+ above base B (the generalization boost): its mean over k above base B"
    return [
        within_study(
            study,
            "Layers 1-2 transfer well: frozen AnB at k=1,2 within 1 pp of base B or above",
            "AnB(1,2) - base B",
            {**mean_of("AnB", (1, 2), 1), ("baseB", 0): -1},
            -PP,
            "needs base B and AnB at k=1,2 at the same seeds",
        ),
        within_study(
            study,
            "Frozen AnB drops with k: AnB at k=7 more than 1 pp below k=1",
            "AnB(1) - AnB(7)",
            {("AnB", 1): 1, ("AnB", 7): -1},
            PP,
            "needs AnB at k=1 and k=7 at the same seeds",
        ),
        within_study(
            study,
            "BnB dips in the middle (co-adapted layers): BnB at k=3-6 more than 1 pp below k=1,2,7",
            "BnB(1,2,7) - BnB(3..6)",
            {**mean_of("BnB", (1, 2, 7), 1), **mean_of("BnB", range(3, 7), -1)},
            PP,
            "needs BnB at k=1..7 at the same seeds",
        ),
        within_study(
            study,
            boost,
            f"AnB+({anb_plus[0]}..{anb_plus[-1]}) - base B",
            {**mean_of("AnB+", anb_plus, 1), ("baseB", 0): -1},
            0.0,
            "needs base B and AnB+ at the same seeds",
        )
        if anb_plus
        else Finding(boost, "not evaluable", "needs base B and AnB+ at the same seeds"),
        dissimilar_finding(study, natman),
    ]


def dissimilar_finding(study: Study, natman: Study | None) -> Finding:
    """Random (AnB - base B) minus natman (transfer - its base): independent networks, so Welch's interval."""
    claim = "The dissimilar split drops more: natman transfer more than 1 pp further below its base than random AnB"
    anb = sorted(study.series("AnB"))
    random_drop = per_seed(study, {**mean_of("AnB", anb, 1), ("baseB", 0): -1}) if anb else None
    directions = [
        (series, target)
        for series, target in (("AnB", "B"), ("BnA", "A"))
        if natman is not None and natman.series(series) and natman.base(target) is not None
    ]
    natman_weights = {}
    for series, target in directions:
        natman_weights |= {
            **mean_of(series, sorted(natman.series(series)), 1 / len(directions)),
            (f"base{target}", 0): -1 / len(directions),
        }
    natman_drop = per_seed(natman, natman_weights) if directions else None
    if not random_drop or not natman_drop:
        return Finding(
            claim, "not evaluable", "needs the natman grid of the same data, model and recipe in the same report"
        )
    interval = welch_interval(list(random_drop.values()), list(natman_drop.values()))
    at_chance = any(study.cells[p].at_chance for p in [("baseB", 0), *(("AnB", k) for k in anb)]) or any(
        natman.cells[p].at_chance for p in natman_weights
    )
    label = (
        f"random (AnB - base B) {pp(statistics.fmean(random_drop.values()))} minus natman (transfer - base) "
        f"{pp(statistics.fmean(natman_drop.values()))}"
    )
    return judged(claim, label, interval, PP, at_chance)


def boosts(study: Study) -> list[dict]:
    """Paper Table 1: mean gain of AnB+ over base B and over BnB+ for layers a..b, paired over seeds."""
    rows = []
    for first, last in BOOST_RANGES:
        ks = [k for k in range(first, last + 1) if ("AnB+", k) in study.cells]
        selffer = [k for k in ks if ("BnB+", k) in study.cells]
        rows.append(
            {
                "layers": f"{first}-{last}",
                "over_base": contrast(study, {**mean_of("AnB+", ks, 1), ("baseB", 0): -1}) if ks else None,
                "over_selffer": contrast(study, {**mean_of("AnB+", selffer, 1), **mean_of("BnB+", selffer, -1)})
                if selffer
                else None,
            }
        )
    return rows


def seeds_command(study: Study, paths_root: str | None, seeds: int = 3) -> str:
    """The command that runs this study's grid with `seeds` seeds (finished runs are skipped)."""
    key = study.key
    words = ["python -m transfer_lab -m +exp=grid", f"seed={','.join(map(str, range(seeds)))}"]
    if key.dataset != "animalfashion":
        words += [f"data={key.dataset}"]
    if key.split != "random":
        words += [f"split={key.split}"]
    words += [f"model={key.model}", f"recipe={key.recipe}", *study.overrides]
    if paths_root and paths_root != "outputs":
        words += [f"paths.root={paths_root}"]
    return " ".join(words)


def paper_numbers() -> dict[tuple[str, str, int], float]:
    text = (resources.files("transfer_lab.data") / "paper_results.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {(r["experiment"], r["series"], int(r["n"])): float(r["top1"]) for r in rows}


def paper_value(split: str, series: str, k: int, paper: dict) -> float | None:
    if split == "random":
        return paper.get(("random", series, k))
    if split == "natman":
        for prefix, (direction, n) in PAPER_NATMAN.items():
            if series == prefix:
                return paper.get(("natman", direction, k if n is None else n))
    if split == "all":  # the random-filters control: the normal network is k=0
        return paper.get(("random_filters", "full_1000_classes" if series.startswith("base") else "random_frozen", k))
    return None
