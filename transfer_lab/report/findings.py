"""What the numbers say: the paper's Table 1 boosts and qualitative findings, each with its numbers,
its number of runs and a verdict that says how sure it is; the paper's own numbers for comparison."""

import csv
import math
import statistics
from dataclasses import dataclass
from importlib import resources

from transfer_lab.report.records import Study

TOLERANCE = 0.01  # one percentage point: differences smaller than this are "no change"
BOOST_RANGES = ((1, 7), (3, 7), (5, 7))
# Our natman halves: A = man-made, B = natural; the paper's table names directions by their target.
PAPER_NATMAN = {"baseA": ("to_manmade", 0), "baseB": ("to_natural", 0), "BnA": ("to_manmade", None), "AnB": ("to_natural", None)}
AT_CHANCE = "not evaluable: networks at chance"
SEEDS = (0, 1, 2)


@dataclass
class Finding:
    claim: str
    verdict: str
    numbers: str  # the quantities compared, their difference, the seed spread and n


def pp(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.2f} pp"


def spread(cells: list[dict]) -> float | None:
    """The seed spread of the runs behind `cells`: their pooled standard deviation (None with 1 run per point)."""
    variances = [cell["std"] ** 2 for cell in cells if cell["std"] is not None]
    return math.sqrt(statistics.fmean(variances)) if variances and min(c["n"] for c in cells) > 1 else None


def judged(claim: str, difference: float, holds: bool, cells: list[dict], compared: str) -> Finding:
    """A finding with its verdict: at chance -> not evaluable; 1 run per point -> indicative only;
    a difference inside the seed spread -> within noise; otherwise holds / does not hold."""
    n = min(cell["n"] for cell in cells)
    noise = spread(cells)
    numbers = f"{compared} = {pp(difference)}; " + (f"seed spread ±{100 * noise:.2f} pp; n={n}" if noise is not None else "n=1")
    if any(cell["at_chance"] for cell in cells):
        return Finding(claim, AT_CHANCE, numbers)
    verdict = "holds" if holds else "does not hold"
    if noise is None:
        return Finding(claim, f"{verdict} (indicative only: 1 seed)", numbers)
    if abs(difference) <= noise:
        return Finding(claim, f"within noise (the difference is inside the seed spread; {verdict} on the means)", numbers)
    return Finding(claim, verdict, numbers)


def boosts(study: Study) -> list[dict]:
    """Paper Table 1: mean gain of AnB+ over base B and over BnB+ for layers a..b."""
    base, plus, selffer_plus = study.base("B"), study.series("AnB+"), study.series("BnB+")
    rows = []
    for first, last in BOOST_RANGES:
        ks = range(first, last + 1)
        over_base = [plus[k] - base for k in ks if k in plus] if base is not None else []
        over_selffer = [plus[k] - selffer_plus[k] for k in ks if k in plus and k in selffer_plus]
        rows.append({
            "layers": f"{first}-{last}",
            "over_base": statistics.fmean(over_base) if over_base else None,
            "over_selffer": statistics.fmean(over_selffer) if over_selffer else None,
        })
    return rows


def findings(study: Study, natman: Study | None) -> list[Finding]:
    """The paper's qualitative findings (Yosinski et al. 2014, Sec. 4.1-4.2), checked on this study."""
    cells = study.cells
    base = cells.get(("baseB", 0))
    anb, bnb, anb_plus = (study.series(name) for name in ("AnB", "BnB", "AnB+"))
    out = []
    claim = "Layers 1-2 transfer well: frozen AnB at k=1,2 within 1 pp of base B or above"
    if base is not None and {1, 2} <= anb.keys():
        gap = statistics.fmean([anb[1], anb[2]]) - base["mean"]
        out.append(judged(claim, gap, gap >= -TOLERANCE, [base, cells[("AnB", 1)], cells[("AnB", 2)]],
                          "AnB(1,2) - base B"))
    else:
        out.append(Finding(claim, "not evaluable", "needs base B and AnB at k=1,2"))
    claim = "Frozen AnB drops with k: AnB at k=7 more than 1 pp below k=1"
    if {1, 7} <= anb.keys():
        drop = anb[7] - anb[1]
        out.append(judged(claim, drop, drop < -TOLERANCE, [cells[("AnB", 1)], cells[("AnB", 7)]], "AnB(7) - AnB(1)"))
    else:
        out.append(Finding(claim, "not evaluable", "needs AnB at k=1 and k=7"))
    claim = "BnB dips in the middle (co-adapted layers): some k in 3-6 more than 1 pp below both ends"
    middle = {k: bnb[k] for k in range(3, 7) if k in bnb}
    if middle and {1, 2, 7} <= bnb.keys():
        low_k = min(middle, key=middle.get)
        ends = min(statistics.fmean([bnb[1], bnb[2]]), bnb[7])
        involved = [cells[("BnB", k)] for k in (low_k, 1, 2, 7)]
        out.append(judged(claim, middle[low_k] - ends, middle[low_k] < ends - TOLERANCE, involved,
                          f"BnB({low_k}) - min(BnB(1,2), BnB(7))"))
    else:
        out.append(Finding(claim, "not evaluable", "needs BnB at k=1..7"))
    claim = "Fine-tuned AnB+ at or above base B (the generalization boost): mean over k within 1 pp or above"
    if base is not None and anb_plus:
        gap = statistics.fmean(anb_plus.values()) - base["mean"]
        involved = [base, *(cells[("AnB+", k)] for k in anb_plus)]
        out.append(judged(claim, gap, gap >= -TOLERANCE, involved, "AnB+(1..7) - base B"))
    else:
        out.append(Finding(claim, "not evaluable", "needs base B and AnB+"))
    out.append(dissimilar_finding(study, natman))
    return out


def dissimilar_finding(study: Study, natman: Study | None) -> Finding:
    claim = "The dissimilar split drops more: natman transfer more than 1 pp further below its base than random AnB"
    base, anb = study.cells.get(("baseB", 0)), study.series("AnB")
    directions = [(series, target) for series, target in (("AnB", "B"), ("BnA", "A"))
                  if natman is not None and natman.series(series) and natman.base(target) is not None]
    if base is None or not anb or not directions:
        return Finding(claim, "not evaluable", "needs the natman grid of the same data, model and recipe in the same report")
    random_drop = statistics.fmean(anb.values()) - base["mean"]
    natman_drop = statistics.fmean(statistics.fmean(natman.series(s).values()) - natman.base(t) for s, t in directions)
    involved = [base, *(study.cells[("AnB", k)] for k in anb)]
    for series, target in directions:
        involved += [natman.cells[(f"base{target}", 0)], *(natman.cells[(series, k)] for k in natman.series(series))]
    return judged(claim, natman_drop - random_drop, natman_drop < random_drop - TOLERANCE, involved,
                  f"natman (transfer - base) {pp(natman_drop)} minus random (AnB - base B) {pp(random_drop)}")


def seeds_command(study: Study, paths_root: str | None) -> str:
    """The command that runs this study's grid with three seeds (finished runs are skipped)."""
    dataset, split, model, recipe, _ = study.key
    words = ["python -m transfer_lab -m +exp=grid", f"seed={','.join(map(str, SEEDS))}"]
    if dataset != "animalfashion":
        words += [f"data={dataset}"]
    if split != "random":
        words += [f"split={split}"]
    words += [f"model={model}", f"recipe={recipe}"]
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
