"""The study's report: `python -m transfer_lab.report DIR [DIR ...] [--out OUT] [--wandb]`.

Collects every result.json (completed runs) and failed.json (failed runs) under the given folders
and writes into one folder:
  results.csv        one row per run, every result field (failed runs with their error)
  summary.csv        mean, standard deviation and count of val top-1 per study, series and k
  transfer.png/.pdf  paper Figure 2 style (random split): top-1 vs k and relative to base B
  natman.png/.pdf    paper Figure 3 style (natural vs man-made), when such runs are present
  random_filters.png/.pdf  paper Figure 3 random-filters control (split=all), when such runs are present
  scarcity.png/.pdf  target top-1 vs training images per class (scratch, frozen and fine-tuned
                     transfer at their best k), when runs with data.target_per_class are present
  report.md          the tables, Table 1 style boosts of AnB+, the paper's findings checked
                     against the numbers, the paper's own numbers on ImageNet, and failed runs
A study is one (dataset, split, model, recipe, training images per class of the target): runs of
different studies are never averaged together; seeds and split seeds of one study are pooled, as
in the paper. Studies that differ only in images per class form a scarcity family (one figure).
"""

import argparse
import csv
import json
import math
import os
import statistics
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from transfer_lab.errors import ConfigError
from transfer_lab.splits import split_label

STUDY_KEYS = ("dataset", "split", "model", "recipe", "target_per_class")
# Runs recorded before target_per_class existed trained on all images.
STUDY_DEFAULTS = {"target_per_class": None}
FIRST_COLUMNS = ["status", *STUDY_KEYS, "split_seed", "seed", "series", "k", "freeze", "val_top1", "val_top1_best"]
RANDOM_SERIES = ("BnB", "BnB+", "AnB", "AnB+")
STYLE = {  # colour, marker, filled
    "BnB": ("tab:blue", "o", False),
    "BnB+": ("tab:blue", "o", True),
    "AnB": ("tab:red", "D", False),
    "AnB+": ("tab:red", "D", True),
    "AnB (man-made -> natural)": ("tab:green", "s", True),
    "BnA (natural -> man-made)": ("tab:purple", "^", True),
    "random filters, frozen": ("tab:orange", "v", True),
    "scratch": ("tab:gray", "s", True),
    "frozen, best k": ("tab:red", "D", False),
    "fine-tuned, best k": ("tab:red", "D", True),
}
TOLERANCE = 0.01  # one percentage point: differences smaller than this are "no change"
BOOST_RANGES = ((1, 7), (3, 7), (5, 7))
# Our natman halves: A = man-made, B = natural; the paper's table names directions by their target.
PAPER_NATMAN = {"baseA": ("to_manmade", 0), "baseB": ("to_natural", 0), "BnA": ("to_manmade", None), "AnB": ("to_natural", None)}


# ---------------------------------------------------------------------------- collecting


def collect(folders: list[Path]) -> list[dict]:
    """Every run record under `folders`; a failed run is a record with status "failed" and its error."""
    records = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise ConfigError(f"report folder {folder} does not exist: give folders that hold runs, e.g. outputs/runs")
        for path in sorted([*folder.rglob("result.json"), *folder.rglob("failed.json")]):
            if path.name == "failed.json" and (path.parent / "result.json").exists():
                continue  # failed once, completed on a retry
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                raise ConfigError(f"{path} is not a readable JSON result ({err}): delete it to have the run redone, then report again") from err
            record.setdefault("run_dir", str(path.parent))
            records.append(record)
    if not records:
        raise ConfigError(f"no runs (result.json or failed.json) under {', '.join(map(str, folders))}: run the study first")
    for record in records:
        if record.get("status") == "failed" and "dataset" not in record:
            record.update(_study_of_failed(Path(record["run_dir"])))
    return records


def _study_of_failed(run_dir: Path) -> dict:
    """A failed run has no result record: read its study from the Hydra config it ran with."""
    config = run_dir / ".hydra" / "config.yaml"
    if not config.exists():
        return {key: STUDY_DEFAULTS.get(key, "unknown") for key in STUDY_KEYS}
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(config)
    return {
        "dataset": cfg.data.name, "split": split_label(OmegaConf.to_container(cfg.split)), "model": cfg.model.name,
        "recipe": cfg.recipe.name, "target_per_class": cfg.data.get("target_per_class"),
        "split_seed": cfg.split.seed, "seed": cfg.seed,
    }


def study_of(record: dict) -> tuple:
    return tuple(record.get(key, STUDY_DEFAULTS.get(key, "unknown")) for key in STUDY_KEYS)


def study_order(key: tuple) -> tuple:
    """Studies by name, the images-per-class of a family ascending and "all" (None) last."""
    *what, per_class = key
    return tuple(map(str, what)), math.inf if per_class is None else per_class


def study_name(key: tuple) -> str:
    *what, per_class = key
    return "-".join(map(str, what)) + ("" if per_class is None else f"-n{per_class}")


# ---------------------------------------------------------------------------- statistics


def summarise(records: list[dict]) -> list[dict]:
    """Mean, std and count of final val top-1 per (study, series, k), completed runs only."""
    values = defaultdict(list)
    for r in records:
        if r.get("status") == "completed":
            values[(*study_of(r), r["series"], r["k"])].append(r["val_top1"])
    rows, n = [], len(STUDY_KEYS)
    for key in sorted(values, key=lambda key: (study_order(key[:n]), key[n + 1], key[n])):
        v = values[key]
        rows.append({
            **dict(zip(STUDY_KEYS, key[:n])), "series": key[n], "k": key[n + 1],
            "mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "n": len(v),
        })
    return rows


class Study:
    """The summary rows of one study, indexed by series and k."""

    def __init__(self, key: tuple, summary: list[dict]):
        self.key = key
        self.rows = [row for row in summary if tuple(row[k] for k in STUDY_KEYS) == key]
        self.cells = {(row["series"], row["k"]): row for row in self.rows}
        self.mean = {point: row["mean"] for point, row in self.cells.items()}

    @property
    def name(self) -> str:
        return study_name(self.key)

    def series(self, name: str) -> dict[int, float]:
        return {k: mean for (series, k), mean in self.mean.items() if series == name}

    def base(self, half: str) -> float | None:
        return self.mean.get((f"base{half}", 0))


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
            "n_k": len(over_base),
        })
    return rows


def findings(study: Study, natman: Study | None) -> list[tuple[str, str, str]]:
    """The paper's qualitative findings, each (finding, holds / does not hold / not evaluable, numbers)."""
    base = study.base("B")
    anb, bnb, anb_plus = study.series("AnB"), study.series("BnB"), study.series("AnB+")
    out = []

    def verdict(ok: bool) -> str:
        return "holds" if ok else "does not hold"

    def pp(x: float) -> str:
        return f"{100 * x:+.1f} pp"

    if base is not None and {1, 2} <= anb.keys():
        gap = statistics.fmean([anb[1], anb[2]]) - base
        out.append(("Layers 1-2 transfer well (frozen AnB at k=1,2 within 1 pp of base B or above)",
                    verdict(gap >= -TOLERANCE), f"mean AnB(1,2) - base B = {pp(gap)}"))
    else:
        out.append(("Layers 1-2 transfer well", "not evaluable", "needs base B and AnB at k=1,2"))
    if {1, 7} <= anb.keys():
        drop = anb[7] - anb[1]
        out.append(("Frozen AnB drops with k (AnB at k=7 more than 1 pp below k=1)",
                    verdict(drop < -TOLERANCE), f"AnB(7) - AnB(1) = {pp(drop)}"))
    else:
        out.append(("Frozen AnB drops with k", "not evaluable", "needs AnB at k=1 and k=7"))
    middle = {k: bnb[k] for k in range(3, 7) if k in bnb}
    if middle and {1, 2, 7} <= bnb.keys():
        low_k = min(middle, key=middle.get)
        ends = min(statistics.fmean([bnb[1], bnb[2]]), bnb[7])
        out.append(("BnB dips in the middle (some k in 3-6 more than 1 pp below both k=1,2 and k=7)",
                    verdict(middle[low_k] < ends - TOLERANCE), f"BnB({low_k}) - min(BnB(1,2), BnB(7)) = {pp(middle[low_k] - ends)}"))
    else:
        out.append(("BnB dips in the middle", "not evaluable", "needs BnB at k=1..7"))
    if base is not None and anb_plus:
        gap = statistics.fmean(anb_plus.values()) - base
        out.append(("AnB+ at or above base (mean over k within 1 pp of base B or above)",
                    verdict(gap >= -TOLERANCE), f"mean AnB+ - base B = {pp(gap)}"))
    else:
        out.append(("AnB+ at or above base", "not evaluable", "needs base B and AnB+"))
    if natman is not None and base is not None and anb:
        random_drop = statistics.fmean(anb.values()) - base
        directions = [
            statistics.fmean(natman.series(series).values()) - natman.base(target)
            for series, target in (("AnB", "B"), ("BnA", "A"))
            if natman.series(series) and natman.base(target) is not None
        ]
        if directions:
            natman_drop = statistics.fmean(directions)
            out.append(("The dissimilar split drops more (natman transfer more than 1 pp further below its base than random AnB)",
                        verdict(natman_drop < random_drop - TOLERANCE),
                        f"natman mean transfer - base = {pp(natman_drop)}; random AnB - base B = {pp(random_drop)}"))
            return out
    out.append(("The dissimilar split drops more", "not evaluable",
                "needs the natman grid of the same data, model and recipe in the same report"))
    return out


def paper_numbers() -> dict[tuple[str, str, int], float]:
    text = (resources.files("transfer_lab.data") / "paper_results.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {(r["experiment"], r["series"], int(r["n"])): float(r["top1"]) for r in rows}


def paper_value(split: str, series: str, k: int, paper: dict) -> float | None:
    if split == "random":
        return paper.get(("random", "baseB" if series == "baseB" else series, k))
    if split == "natman":
        for prefix, (direction, n) in PAPER_NATMAN.items():
            if series == prefix:
                return paper.get(("natman", direction, k if n is None else n))
    if split == "all":  # the random-filters control: the normal network is k=0
        return paper.get(("random_filters", "full_1000_classes" if series.startswith("base") else "random_frozen", k))
    return None


# ---------------------------------------------------------------------------- figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=120)
    fig.savefig(path.with_suffix(".pdf"))
    _pyplot().close(fig)


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> None:
    """Label a one-panel figure, add its legend and save it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, path)


def _dots(ax, xs, ys, label) -> None:
    """One dot per run, in the style of the line it belongs to."""
    color, marker, filled = STYLE[label]
    ax.scatter(xs, ys, s=18, marker=marker, edgecolors=color, facecolors=color if filled else "white", zorder=3)


def _scatter_runs(ax, records, series, label, relative_to=None):
    points = [(r["k"], r["val_top1"]) for r in records if r.get("series") == series and r.get("status") == "completed"]
    if not points:
        return
    offset = {"BnB": -0.15, "BnB+": -0.05, "AnB": 0.05, "AnB+": 0.15}.get(series, 0.0)
    _dots(ax, [k + offset for k, _ in points], [y - (relative_to or 0.0) for _, y in points], label)


def _mean_line(ax, means: dict[int, float], label, start=None, relative_to=None):
    color, marker, filled = STYLE[label]
    ks = sorted(means)
    xs = ([0] if start is not None else []) + ks
    ys = ([start] if start is not None else []) + [means[k] for k in ks]
    ys = [y - (relative_to or 0.0) for y in ys]
    ax.plot(xs, ys, color=color, linestyle="-" if filled else "--", marker=marker,
            markerfacecolor=color if filled else "white", label=label, zorder=2)


def transfer_figure(study: Study, records: list[dict], path: Path) -> None:
    plt = _pyplot()
    base = study.base("B")
    runs = [r for r in records if study_of(r) == study.key]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 8), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for panel, relative in ((top, None), (bottom, base)):
        if relative is None and base is not None:
            panel.axhline(base, color="gray", linewidth=1, linestyle=":", label="base B")
            base_runs = [r["val_top1"] for r in runs if r.get("series") == "baseB" and r.get("status") == "completed"]
            panel.scatter([0] * len(base_runs), base_runs, s=18, color="gray", zorder=3)
        if relative is not None:
            panel.axhline(0.0, color="gray", linewidth=1, linestyle=":")
        for series in RANDOM_SERIES:
            means = study.series(series)
            if means:
                _mean_line(panel, means, series, relative_to=relative)
                _scatter_runs(panel, runs, series, series, relative_to=relative)
    top.set_ylabel("top-1 accuracy (target half B)")
    top.set_title(f"Transfer vs layers copied ({study.name})")
    top.legend(loc="lower left", fontsize=8)
    bottom.set_ylabel("top-1 minus base B")
    bottom.set_xlabel("layers copied k (0 = base network)")
    bottom.set_xticks(range(8))
    _save(fig, path)


def natman_figure(study: Study, records: list[dict], path: Path) -> None:
    plt = _pyplot()
    runs = [r for r in records if study_of(r) == study.key]
    fig, ax = plt.subplots(figsize=(7, 5))
    for series, target, label in (("AnB", "B", "AnB (man-made -> natural)"), ("BnA", "A", "BnA (natural -> man-made)")):
        means = study.series(series)
        if means:
            _mean_line(ax, means, label, start=study.base(target))
            _scatter_runs(ax, runs, series, label)
    ax.set_xticks(range(8))
    _finish(fig, ax, path, "layers copied k (0 = base network of the target half)", "top-1 accuracy on the target half",
            f"Natural vs man-made, frozen transfer ({study.name})")


def random_filters_figure(study: Study, records: list[dict], path: Path) -> None:
    """Paper Figure 3's control: top-1 vs k random frozen layers, the normal network at k=0."""
    plt = _pyplot()
    label = "random filters, frozen"
    runs = [r for r in records if study_of(r) == study.key]
    fig, ax = plt.subplots(figsize=(7, 5))
    normal = study.base("A")
    if normal is not None:
        ax.axhline(normal, color="gray", linewidth=1, linestyle=":", label="normal network (k=0)")
    _mean_line(ax, study.series("randomA"), label, start=normal)
    for series in ("baseA", "randomA"):
        _scatter_runs(ax, runs, series, label)
    if study.key[0] == "imagenet" and study.key[-1] is None:
        paper = paper_numbers()
        ax.plot(range(8), [paper_value("all", "randomA" if k else "baseA", k, paper) for k in range(8)],
                color="black", linewidth=1, linestyle="--", label="paper (ImageNet, 1000 classes)")
    ax.set_xticks(range(8))
    _finish(fig, ax, path, "random frozen layers k (0 = normal network, all layers trained)",
            "top-1 accuracy (all classes)", f"Random filters ({study.name})")


# ---------------------------------------------------------------------------- scarce targets


@dataclass
class ScarcityPoint:
    """One treatment at one number of training images per class (its best k for transfers)."""

    per_class: int | None  # data.target_per_class; None = all images
    x: float | None  # images per class on the x axis: what the runs had (mean per class of the target)
    k: int | None  # the best k of a transfer treatment (highest mean); None for scratch
    mean: float
    std: float
    n: int
    values: list[float]  # one per run


def scarcity_families(keys: list[tuple]) -> dict[tuple, list[tuple]]:
    """Studies that differ only in images per class, grouped; only groups with a scarce study."""
    families = defaultdict(list)
    for key in sorted(keys, key=study_order):
        families[key[:-1]].append(key)
    return {family: members for family, members in families.items() if any(m[-1] is not None for m in members)}


def scarcity_points(members: list[Study], records: list[dict]) -> dict[str, list[ScarcityPoint]]:
    """Scratch (base on the target), frozen and fine-tuned transfer into it: one point per study of the family."""
    keys = {study.key for study in members}
    runs = [r for r in records if r.get("status") == "completed" and study_of(r) in keys]
    targets = Counter(r.get("target") for r in runs if r.get("target_per_class") is not None)
    target = targets.most_common(1)[0][0] if targets else "B"
    source = "A" if target == "B" else "B"
    treatments = {"scratch": f"base{target}", "frozen, best k": f"{source}n{target}", "fine-tuned, best k": f"{source}n{target}+"}
    points = {label: [] for label in treatments}
    for study in members:
        own = [r for r in runs if study_of(r) == study.key]
        per_class = study.key[-1]
        # What the runs trained on: N, unless N exceeds what classes have (or N is "all").
        sizes = [r["n_train_images"] / r["n_classes"] for r in own if r.get("target") == target and r.get("n_classes")]
        x = statistics.fmean(sizes) if sizes else per_class
        for label, series in treatments.items():
            means = study.series(series)
            if not means:
                continue
            k = max(means, key=means.get)
            cell = study.cells[(series, k)]
            values = [r["val_top1"] for r in own if r["series"] == series and r["k"] == k]
            points[label].append(ScarcityPoint(per_class, x, k or None, cell["mean"], cell["std"], cell["n"], values))
    return points


def scarcity_figure(points: dict[str, list[ScarcityPoint]], title: str, path: Path) -> None:
    """Target top-1 vs images per class (log axis): mean ± std, one dot per run, the best k written beside."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    for label, series_points in points.items():
        drawn = [p for p in series_points if p.x is not None]
        if not drawn:
            continue
        color, _, filled = STYLE[label]
        _mean_line(ax, {p.x: p.mean for p in drawn}, label)
        ax.errorbar([p.x for p in drawn], [p.mean for p in drawn], yerr=[p.std for p in drawn], fmt="none",
                    ecolor=color, capsize=3, zorder=2)
        for p in drawn:
            _dots(ax, [p.x] * len(p.values), p.values, label)
            if p.k is not None:
                ax.annotate(f"k={p.k}", (p.x, p.mean), textcoords="offset points", xytext=(5, 6 if filled else -12),
                            fontsize=7, color=color)
    ticks = sorted({(p.x, p.per_class) for pts in points.values() for p in pts if p.x is not None}, key=lambda t: t[0])
    ax.set_xscale("log")
    ax.set_xticks([x for x, _ in ticks], [f"all\n({x:.0f})" if n is None else str(n) for x, n in ticks])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    _finish(fig, ax, path, "training images per class of the target (log)", "top-1 accuracy on the target",
            f"Scarce targets ({title})")


def scarcity_markdown(family: tuple, points: dict[str, list[ScarcityPoint]], figure: str) -> list[str]:
    title = "-".join(map(str, family))
    labels = list(points)
    # The paper's reduced-data runs (1000 classes, N images per class, 200k iterations) match scratch on all classes.
    reduced = paper_numbers() if family[0] == "imagenet" and family[1] == "all" else {}
    lines = [f"## Scarce targets: {title}", "",
             "Top-1 on the target's complete validation set against its training images per class "
             "(data.target_per_class; every N trains for as many steps as the full data). Transfers at the k "
             "whose mean is best at that N. Mean ± std (n runs).", "",
             "| images per class | " + " | ".join(labels) + " | fine-tuned - scratch |", "|---" * (len(labels) + 2) + "|"]
    per_class = sorted({p.per_class for pts in points.values() for p in pts}, key=lambda n: math.inf if n is None else n)
    for n in per_class:
        at_n = {label: next((p for p in points[label] if p.per_class == n), None) for label in labels}
        cells = []
        for label, p in at_n.items():
            text = "" if p is None else f"{p.mean:.4f} ± {p.std:.4f} ({p.n})" + ("" if p.k is None else f", k={p.k}")
            if p is not None and label == "scratch" and (value := reduced.get(("reduced", "images_per_class", n))) is not None:
                text += f" [paper {value:.4f}]"
            cells.append(text)
        scratch, tuned = at_n["scratch"], at_n["fine-tuned, best k"]
        gain = _pp(tuned.mean - scratch.mean) if scratch and tuned else ""
        lines.append(f"| {'all' if n is None else n} | " + " | ".join(cells) + f" | {gain} |")
    lines.append("")
    if reduced:
        lines += ["Bracketed: the paper's reduced-data runs (1000 classes, 200k iterations; 1 run each).", ""]
    lines += [f"![scarce targets {title}]({figure}.png)", ""]
    return lines


# ---------------------------------------------------------------------------- writing


def _fmt(x) -> str:
    return "" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def write_csv(path: Path, rows: list[dict], first: list[str]) -> None:
    columns = [c for c in first if any(c in r for r in rows)]
    columns += sorted({key for r in rows for key in r} - set(columns))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({key: json.dumps(v) if isinstance(v, (list, dict)) else v for key, v in r.items()})


def study_markdown(study: Study, records: list[dict], natman: Study | None, figure: str | None) -> list[str]:
    dataset, split = study.key[0], study.key[1]
    runs = [r for r in records if study_of(r) == study.key]
    done = [r for r in runs if r.get("status") == "completed"]
    lines = [f"## {study.name}", "", f"{len(done)} completed runs, {len(runs) - len(done)} failed. "
             "Top-1 = final validation top-1 on the target half, mean ± std (n runs).", ""]
    # The paper's numbers are full-data numbers: shown beside full-data studies only.
    paper = paper_numbers() if dataset == "imagenet" and study.key[-1] is None else None
    series_names = sorted({row["series"] for row in study.rows}, key=lambda s: (not s.startswith("base"), s))
    ks = sorted({row["k"] for row in study.rows})
    header = "| series | " + " | ".join(f"k={k}" for k in ks) + " |"
    lines += [header, "|---" * (len(ks) + 1) + "|"]
    for series in series_names:
        row = [series]
        for k in ks:
            cell = study.cells.get((series, k))
            text = f"{cell['mean']:.4f} ± {cell['std']:.4f} ({cell['n']})" if cell else ""
            if cell and paper is not None and (value := paper_value(split, series, k, paper)) is not None:
                text += f" [paper {value:.4f}]"
            row.append(text)
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if paper is not None:
        lines += ["Bracketed: the paper's top-1 for the same point (mean of its 10 best validations).", ""]
    if figure:
        lines += [f"![{study.name}]({figure}.png)", ""]
    if split == "random":
        lines += ["### Fine-tuned transfer boosts (paper Table 1 style)", "",
                  "| layers | AnB+ - base B | AnB+ - BnB+ |", "|---|---|---|"]
        for b in boosts(study):
            lines.append(f"| {b['layers']} | {_pp(b['over_base'])} | {_pp(b['over_selffer'])} |")
        lines += ["", "### The paper's findings, checked on these numbers", "",
                  "| finding | verdict | numbers |", "|---|---|---|"]
        lines += [f"| {f} | {v} | {n} |" for f, v, n in findings(study, natman)]
        lines.append("")
    failed = [r for r in runs if r.get("status") == "failed"]
    if failed:
        lines += ["### Failed runs", "", "| run | error |", "|---|---|"]
        lines += [f"| {r.get('series', '?')} k={r.get('k', '?')} ({r['run_dir']}) | {r.get('error', '')} |" for r in failed]
        lines.append("")
    return lines


def _pp(x) -> str:
    return "n/a" if x is None else f"{100 * x:+.2f} pp"


def write_report(folders: list[Path], out: Path) -> Path:
    """Write the report of every run under `folders` into `out`; returns the report.md path."""
    records = collect(folders)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(records)
    write_csv(out / "results.csv", records, FIRST_COLUMNS)
    write_csv(out / "summary.csv", summary, [*STUDY_KEYS, "series", "k", "mean", "std", "n"])

    keys = sorted({study_of(r) for r in records}, key=study_order)
    studies = {key: Study(key, summary) for key in keys}
    figure_names = _figure_names(keys)
    lines = ["# Transfer study report", "", f"Runs from: {_describe(folders)}.", ""]
    if len({key[0] for key in keys}) > 1 or len(keys) > 1:
        lines += [f"{len(keys)} studies (dataset-split-model-recipe[-n<images per class>]), reported separately, "
                  "never averaged together.", ""]
    if any(key[0] == "animalfashion" for key in keys):
        lines += ["Data: AnimalFashion-20 (silhouettes vs clothing), a far easier and more dissimilar gap than "
                  "ImageNet's natural vs man-made: findings here say how the method behaves, not what ImageNet does.", ""]
    families = scarcity_families(keys)
    for family, members in families.items():
        figure = "scarcity" if len(families) == 1 else f"scarcity-{'-'.join(map(str, family))}"
        points = scarcity_points([studies[key] for key in members], records)
        scarcity_figure(points, "-".join(map(str, family)), out / figure)
        lines += scarcity_markdown(family, points, figure)
    for key in keys:
        study = studies[key]
        natman = next((studies[k] for k in keys if k[0] == key[0] and k[1] == "natman" and k[2:] == key[2:]), None)
        figure = figure_names.get(key)
        if figure:
            FIGURES[key[1]][1](study, records, out / figure)
        lines += study_markdown(study, records, natman, figure)
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _describe(folders: list[Path]) -> str:
    if len(folders) <= 3:
        return ", ".join(map(str, folders))
    return f"{len(folders)} run folders under {os.path.commonpath([str(Path(f).absolute()) for f in folders])}"


# The figure of each kind of split: its file name and how it is drawn.
FIGURES = {"random": ("transfer", transfer_figure), "natman": ("natman", natman_figure),
           "all": ("random_filters", random_filters_figure)}


def _figure_names(keys: list[tuple]) -> dict[tuple, str]:
    """transfer / natman / random_filters, with the study's name appended when several studies would share one."""
    names = {}
    for kind, (base, _) in FIGURES.items():
        of_kind = [key for key in keys if key[1] == kind]
        for key in of_kind:
            names[key] = base if len(of_kind) == 1 else f"{base}-{study_name(key)}"
    return names


def log_to_wandb(out: Path, project: str, group: str | None) -> None:
    """An analysis run holding the summary table and the figures."""
    import wandb

    with open(out / "summary.csv") as f:
        rows = list(csv.reader(f))
    run = wandb.init(project=project, group=group, job_type="analysis", name=f"report-{out.name}", dir=str(out))
    try:
        run.log({"summary": wandb.Table(columns=rows[0], data=rows[1:])})
        for figure in sorted(out.glob("*.png")):
            run.log({figure.stem: wandb.Image(str(figure))})
        run.save(str(out / "report.md"), base_path=str(out), policy="now")
    finally:
        run.finish()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m transfer_lab.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="folders holding runs (searched recursively)")
    parser.add_argument("--out", type=Path, default=None, help="report folder (default: <first folder>/../reports/report)")
    parser.add_argument("--wandb", metavar="PROJECT", default=None, help="also log an analysis run to this W&B project")
    parser.add_argument("--group", default=None, help="W&B group of the analysis run")
    args = parser.parse_args(argv)
    out = args.out or args.folders[0].absolute().parent / "reports" / "report"
    try:
        path = write_report(args.folders, out)
    except ConfigError as err:
        print(f"transfer_lab.report: error: {err}", file=sys.stderr)
        sys.exit(2)
    if args.wandb:
        log_to_wandb(out, args.wandb, args.group)
    print(f"report: {path}")


if __name__ == "__main__":
    main()
